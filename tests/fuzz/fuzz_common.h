// fuzz_common.h — what the fuzz targets share: the test data directory, a fuzz
// input as a file (GGUF readers take paths), and swallowing the engine's own errors
// (llm4all::Error is the expected outcome of bad input; anything else is a finding).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "error.h"

namespace fuzz {

// $LLM4ALL_TESTDATA, else ../shared/testdata beside the repository.
inline std::string testdata() {
    if (const char *e = std::getenv("LLM4ALL_TESTDATA")) return e;
    return std::string(LLM4ALL_FUZZ_ROOT) + "/../shared/testdata";
}

// The bytes as an anonymous in-memory file, reachable by path (/proc/self/fd/N).
class MemFile {
public:
    MemFile(const uint8_t *data, size_t size) {
        fd_ = memfd_create("fuzz", 0);
        if (fd_ < 0) std::abort();
        size_t done = 0;
        while (done < size) {
            ssize_t n = write(fd_, data + done, size - done);
            if (n <= 0) std::abort();
            done += size_t(n);
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemFile() { close(fd_); }
    const std::string &path() const { return path_; }

private:
    int fd_ = -1;
    std::string path_;
};

// Runs f; an llm4all::Error (the engine refusing bad input) is fine.
template <class F> void expect_clean(F &&f) {
    try {
        f();
    } catch (const llm4all::Error &) {
    }
}

} // namespace fuzz
