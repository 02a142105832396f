// test_gguf_fuzz.cpp — bounded mutation fuzzing of the GGUF reader through the
// C ABI: truncations at every offset of the header region and random byte and
// field corruptions of a small valid file and of stories260K. Any status is
// fine; a crash, a sanitizer report or invalid JSON is not. Runs in < 20 s.
// Env: LLM4ALL_FUZZ_SECONDS (default 10), LLM4ALL_FUZZ_SEED (default 1234).
// test-fixtures: bad_gguf

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "json_check.h"
#include "llm4all/llm4all.h"

namespace {

int g_pass = 0, g_fail = 0;
using Clock = std::chrono::steady_clock;

void check(bool ok, const std::string &what) {
    if (ok) ++g_pass;
    else if (++g_fail <= 20) std::printf("FAIL: %s\n", what.c_str());
}

bool read_all(const std::string &path, std::vector<uint8_t> &out) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    uint8_t buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    std::fclose(f);
    return true;
}

bool write_all(int fd, const uint8_t *p, size_t n) {
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) return false;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

// One describe (and, when it succeeds, one tensor read) of the temp file.
llm4all_status probe(const std::string &path, const char *tensor, const std::string &what) {
    char *json = nullptr;
    llm4all_status st = llm4all_gguf_describe(path.c_str(), 8, &json);
    if (st == LLM4ALL_OK) {
        check(json && json_check::valid(json), what + ": describe JSON is valid");
        float *vals = nullptr;
        uint64_t n = 0;
        if (llm4all_gguf_read_tensor_f32(path.c_str(), tensor, &vals, &n) == LLM4ALL_OK) llm4all_free(vals);
    } else {
        check(!json && llm4all_last_error()[0] != '\0', what + ": error has a message");
    }
    llm4all_free(json);
    return st;
}

struct Fuzzer {
    std::string tmp;
    int fd = -1;
    std::mt19937_64 rng;
    Clock::time_point deadline;

    bool out_of_time() const { return Clock::now() > deadline; }

    // Every prefix of the first `region` bytes (then every `stride`-th up to the end).
    void truncations(const std::vector<uint8_t> &base, size_t region, size_t stride, const char *tensor,
                     const std::string &name) {
        size_t done = 0;
        for (size_t n = 0; n < base.size() && !out_of_time(); n += n < region ? 1 : stride) {
            if (!write_all(fd, base.data(), n)) { check(false, "cannot write " + tmp); return; }
            llm4all_status st = probe(tmp, tensor, name + " truncated at " + std::to_string(n));
            check(st < 0, name + " truncated at " + std::to_string(n) + " must be refused");
            ++done;
        }
        std::printf("%s: %zu truncations\n", name.c_str(), done);
    }

    // Random corruptions, each undone after its probe so the file stays the base.
    void mutations(const std::vector<uint8_t> &base, size_t region, size_t max_iter, const char *tensor,
                   const std::string &name) {
        if (!write_all(fd, base.data(), base.size())) { check(false, "cannot write " + tmp); return; }
        static const uint64_t interesting[] = {0, 1, 2, 3, 4, 5, 7, 8, 12, 13, 31, 32, 33, 0x7F, 0x80, 0xFF,
                                               0xFFFF, 0x7FFFFFFF, 0x80000000ull, 0xFFFFFFFFull, 1ull << 32,
                                               1ull << 40, 1ull << 62, 0x7FFFFFFFFFFFFFFFull,
                                               0x8000000000000000ull, ~0ull};
        size_t iter = 0, ok = 0;
        for (; iter < max_iter && !out_of_time(); ++iter) {
            const size_t span = rng() % 4 == 0 ? base.size() : std::min(region, base.size());
            size_t pos = rng() % span;
            uint8_t patch[8];
            size_t len;
            switch (rng() % 4) {
            case 0:   // one random byte
                len = 1;
                patch[0] = static_cast<uint8_t>(rng());
                break;
            case 1:   // flip one bit
                len = 1;
                patch[0] = static_cast<uint8_t>(base[pos] ^ (1u << (rng() % 8)));
                break;
            case 2: { // an interesting 32-bit value (counts, types, n_dims)
                uint32_t v = static_cast<uint32_t>(interesting[rng() % (sizeof interesting / sizeof *interesting)]);
                len = 4;
                std::memcpy(patch, &v, 4);
                break;
            }
            default: { // an interesting 64-bit value (lengths, dims, offsets)
                uint64_t v = interesting[rng() % (sizeof interesting / sizeof *interesting)];
                len = 8;
                std::memcpy(patch, &v, 8);
                break;
            }
            }
            len = std::min(len, base.size() - pos);
            if (pwrite(fd, patch, len, static_cast<off_t>(pos)) != static_cast<ssize_t>(len)) {
                check(false, "cannot patch " + tmp);
                return;
            }
            if (probe(tmp, tensor, name + " mutation " + std::to_string(iter) + " at " + std::to_string(pos)) ==
                LLM4ALL_OK)
                ++ok;
            if (pwrite(fd, base.data() + pos, len, static_cast<off_t>(pos)) != static_cast<ssize_t>(len)) {
                check(false, "cannot restore " + tmp);
                return;
            }
        }
        std::printf("%s: %zu mutations (%zu still valid)\n", name.c_str(), iter, ok);
    }
};

} // namespace

int main() {
    llm4all_set_log_callback(nullptr, nullptr);
    double seconds = 10;
    uint64_t seed = 1234;
    if (const char *e = std::getenv("LLM4ALL_FUZZ_SECONDS")) seconds = std::atof(e);
    if (const char *e = std::getenv("LLM4ALL_FUZZ_SEED")) seed = std::strtoull(e, nullptr, 10);

    std::vector<uint8_t> small, stories;
    const char *bad_dir = std::getenv("LLM4ALL_BAD_GGUF_DIR");
    const char *testdata = std::getenv("LLM4ALL_TESTDATA");
    if (!bad_dir || !read_all(std::string(bad_dir) + "/valid.gguf", small))
        std::printf("SKIP small base: no valid.gguf (set LLM4ALL_BAD_GGUF_DIR to the bad_gguf.py output)\n");
    if (!testdata || !read_all(std::string(testdata) + "/models/stories260K.gguf", stories))
        std::printf("SKIP stories260K base: not found (set LLM4ALL_TESTDATA)\n");

    const char *tmpdir = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmpdir ? tmpdir : "/tmp") + "/llm4all_fuzz_XXXXXX";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    int fd = mkstemp(name.data());
    if (fd < 0) {
        std::printf("FAIL: cannot create a temp file %s\n", tmpl.c_str());
        return 1;
    }
    Fuzzer fz;
    fz.tmp = name.data();
    fz.fd = fd;
    fz.rng.seed(seed);
    std::printf("seed %llu, budget %.0f s\n", static_cast<unsigned long long>(seed), seconds);

    // The budget is shared out so every phase runs even on a slow (sanitized) build.
    auto phase = [&](double share) {
        fz.deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * share * 1000));
    };
    if (!small.empty()) {
        phase(0.15);
        fz.truncations(small, small.size(), 1, "b.weight", "valid.gguf");
        phase(0.25);
        fz.mutations(small, small.size(), 50000, "b.weight", "valid.gguf");
    }
    if (!stories.empty()) {
        // The metadata and tensor infos of stories260K take its first ~14 KB.
        const size_t header = std::min<size_t>(16384, stories.size());
        phase(0.3);
        fz.truncations(stories, 4096, std::max<size_t>(61, stories.size() / 400), "output_norm.weight", "stories260K.gguf");
        phase(0.3);
        fz.mutations(stories, header, 50000, "output_norm.weight", "stories260K.gguf");
    }
    close(fd);
    unlink(fz.tmp.c_str());
    std::printf("test_gguf_fuzz: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
