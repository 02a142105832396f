// platform.h — the few operating-system services the engine and the CPU plugins need,
// behind one interface: posix.cpp (Linux, macOS) or windows.cpp, which CMake picks.
// Nothing here throws or calls llm4all::fail: failures come back as a return value and a
// reason text, so the plugins (which do not link the core) can use this layer too.
// Paths are UTF-8 everywhere; windows.cpp converts them to the wide API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace llm4all::platform {

// Characters that end a directory name in a path, and the separator of a list of
// directories in an environment variable (LLM4ALL_BACKEND_PATH).
#if defined(_WIN32)
constexpr const char *k_dir_separators = "/\\";
constexpr char k_path_list_separator = ';';   // ':' is part of "C:\..."
#else
constexpr const char *k_dir_separators = "/";
constexpr char k_path_list_separator = ':';
#endif

// ---- shared libraries ---------------------------------------------------------
// The plugin file names: CMake's prefix and suffix for a loadable module, passed in by
// CMakeLists.txt (libllm4all-cpu-avx2.so; llm4all-cpu-avx2.dll with clang-cl).
#ifndef LLM4ALL_PLUGIN_PREFIX
#define LLM4ALL_PLUGIN_PREFIX "lib"
#endif
#ifndef LLM4ALL_PLUGIN_SUFFIX
#define LLM4ALL_PLUGIN_SUFFIX ".so"
#endif

// Loads a shared library with its symbols kept to itself; nullptr and *error on failure.
void *library_open(const std::string &path, std::string *error);
void *library_symbol(void *library, const char *name);
void library_close(void *library);
// The file of the shared library (or executable) that holds `address`; "" if unknown.
std::string library_path_of(const void *address);

// ---- files --------------------------------------------------------------------
// The names in a directory ("." and ".." left out); false when it cannot be read.
bool list_directory(const std::string &dir, std::vector<std::string> *names);

// A regular file opened for reading, whole: mapped read-only or read into a buffer.
class InputFile {
public:
    InputFile() = default;
    ~InputFile();
    InputFile(const InputFile &) = delete;
    InputFile &operator=(const InputFile &) = delete;

    // false, with reason() "cannot open: ...", "cannot stat: ..." or "not a regular file".
    bool open(const std::string &path);
    uint64_t size() const { return size_; }
    // The whole file mapped read-only (copy-on-write private); nullptr and reason()
    // "mmap failed: ..." on failure. Stays mapped after this object is gone: unmap_file.
    const uint8_t *map();
    // Reads size() bytes into dst; false with reason() "read failed: ..." or
    // "file shrank while being read".
    bool read_all(uint8_t *dst);
    const std::string &reason() const { return reason_; }

private:
    intptr_t handle_ = -1;   // a file descriptor, or a HANDLE
    uint64_t size_ = 0;
    std::string reason_;
};
void unmap_file(const void *base, uint64_t size);
// Advice that a range of a mapped file is read a few pages here and there (an embedding
// table read a row per token): no read-ahead and no mapping of cached neighbours around a
// read page, and no 2 MiB mappings. Linux still maps a large folio of the page cache whole
// (a freshly written file can be cached so): reclaimable cache, not memory the run needs.
// Advice only: nothing changes where the system has none or refuses it.
void advise_sparse_reads(const void *addr, uint64_t bytes);

// Creates `path`, which must not exist yet, for writing in binary mode; nullptr with
// errno set on failure.
std::FILE *create_new_file(const std::string &path);
// Flushes a written file to the disk (fsync); false with errno set on failure.
bool sync_file(std::FILE *f);
// Renames from over to (replacing it); false with errno set on failure.
bool replace_file(const std::string &from, const std::string &to);
bool remove_file(const std::string &path);
// True when both names exist and reach the same file (links, other spellings).
bool same_file(const std::string &a, const std::string &b);
int process_id();

// ---- memory -------------------------------------------------------------------
// This machine's physical memory, and the part of it free right now (not counting
// reclaimable caches on Linux: sysconf's AVPHYS pages); 0 when the system does not say.
uint64_t physical_memory();
uint64_t free_physical_memory();
// The memory a new allocation can get without pushing others out: MemAvailable and the
// cgroup limit on Linux, free + inactive + purgeable pages on macOS, the available
// physical memory on Windows. *source names the figure; 0 when the system does not say.
uint64_t available_memory(std::string *source);
size_t page_size();
// alignment must be a power of two, at least sizeof(void *); free with free_aligned.
void *alloc_aligned(size_t alignment, size_t bytes);
void free_aligned(void *p);

// ---- time ---------------------------------------------------------------------
bool local_time(std::time_t t, std::tm *out);

} // namespace llm4all::platform
