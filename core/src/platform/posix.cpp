// posix.cpp — platform.h on Linux and macOS: dlopen, mmap, sysconf, /proc and the
// cgroup files (Linux), Mach's VM statistics (macOS).
#include "platform.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#if defined(__APPLE__)
#include <mach/mach.h>
#endif

namespace llm4all::platform {

void *library_open(const std::string &path, std::string *error) {
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle && error) {
        const char *why = dlerror();
        *error = why ? why : "unknown dlopen error";
    }
    return handle;
}

void *library_symbol(void *library, const char *name) { return dlsym(library, name); }

void library_close(void *library) { dlclose(library); }

std::string library_path_of(const void *address) {
    Dl_info info{};
    if (!dladdr(address, &info) || !info.dli_fname) return "";
    return info.dli_fname;
}

bool list_directory(const std::string &dir, std::vector<std::string> *names) {
    DIR *d = opendir(dir.c_str());
    if (!d) return false;
    while (dirent *e = readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") names->push_back(name);
    }
    closedir(d);
    return true;
}

InputFile::~InputFile() {
    if (handle_ >= 0) ::close(static_cast<int>(handle_));
}

bool InputFile::open(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        reason_ = std::string("cannot open: ") + std::strerror(errno);
        return false;
    }
    handle_ = fd;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        reason_ = std::string("cannot stat: ") + std::strerror(errno);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        reason_ = "not a regular file";
        return false;
    }
    size_ = static_cast<uint64_t>(st.st_size);
    return true;
}

const uint8_t *InputFile::map() {
    void *m = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, static_cast<int>(handle_), 0);
    if (m == MAP_FAILED) {
        reason_ = std::string("mmap failed: ") + std::strerror(errno);
        return nullptr;
    }
    return static_cast<const uint8_t *>(m);
}

bool InputFile::read_all(uint8_t *dst) {
    size_t done = 0;
    const size_t n = static_cast<size_t>(size_);
    while (done < n) {
        ssize_t r = ::read(static_cast<int>(handle_), dst + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            reason_ = std::string("read failed: ") + std::strerror(errno);
            return false;
        }
        if (r == 0) {
            reason_ = "file shrank while being read";
            return false;
        }
        done += static_cast<size_t>(r);
    }
    return true;
}

void unmap_file(const void *base, uint64_t size) { ::munmap(const_cast<void *>(base), static_cast<size_t>(size)); }

void advise_sparse_reads(const void *addr, uint64_t bytes) {
    const uintptr_t page = page_size();
    const uintptr_t begin = reinterpret_cast<uintptr_t>(addr) & ~(page - 1);
    void *const start = reinterpret_cast<void *>(begin);
    const size_t len = (reinterpret_cast<uintptr_t>(addr) + bytes + page - 1) / page * page - begin;
    ::madvise(start, len, MADV_RANDOM);   // no read-ahead, no fault-around
#ifdef MADV_NOHUGEPAGE
    ::madvise(start, len, MADV_NOHUGEPAGE);   // no PMD mapping of cached 2 MiB folios
#endif
}

std::FILE *create_new_file(const std::string &path) {
    // O_EXCL never reuses someone's file.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return nullptr;
    std::FILE *f = ::fdopen(fd, "wb");
    if (!f) {
        const int e = errno;
        ::close(fd);
        ::unlink(path.c_str());
        errno = e;
    }
    return f;
}

bool sync_file(std::FILE *f) { return ::fsync(::fileno(f)) == 0; }

bool replace_file(const std::string &from, const std::string &to) { return std::rename(from.c_str(), to.c_str()) == 0; }

bool remove_file(const std::string &path) { return ::unlink(path.c_str()) == 0; }

bool same_file(const std::string &a, const std::string &b) {
    struct stat sa {}, sb {};
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int process_id() { return static_cast<int>(::getpid()); }

uint64_t physical_memory() {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
}

uint64_t free_physical_memory() {
#if defined(_SC_AVPHYS_PAGES)
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
#else
    return 0;
#endif
}

size_t page_size() {
    const long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? size_t(page) : 4096;
}

void *alloc_aligned(size_t alignment, size_t bytes) {
    void *p = nullptr;
    if (posix_memalign(&p, alignment, bytes ? bytes : 1) != 0) return nullptr;
    return p;
}

void free_aligned(void *p) { std::free(p); }

bool local_time(std::time_t t, std::tm *out) { return localtime_r(&t, out) != nullptr; }

#if !defined(__APPLE__)
namespace {

// A "key value" line's value from a /proc- or cgroup-style file; -1 when absent.
int64_t file_value(const std::string &path, const std::string &key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (key.empty()) return std::strtoll(line.c_str(), nullptr, 10);
        if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() &&
            (line[key.size()] == ' ' || line[key.size()] == ':'))
            return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
    }
    return -1;
}

int64_t file_number(const std::string &path) {
    std::ifstream in(path);
    std::string word;
    if (!(in >> word) || word == "max") return -1;
    return std::strtoll(word.c_str(), nullptr, 10);
}

// The room left under this process's cgroup memory limit (v2 or v1), counting the
// cgroup's file cache as reclaimable; -1 when there is no limit.
int64_t cgroup_room() {
    std::vector<std::string> dirs;
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        const size_t a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (controllers.empty()) dirs.push_back("/sys/fs/cgroup" + path);
        else if (controllers.find("memory") != std::string::npos) dirs.push_back("/sys/fs/cgroup/memory" + path);
    }
    dirs.push_back("/sys/fs/cgroup");          // inside a container's namespace
    dirs.push_back("/sys/fs/cgroup/memory");
    int64_t best = -1;
    for (const std::string &d : dirs) {
        int64_t limit = file_number(d + "/memory.max"), used = file_number(d + "/memory.current");
        int64_t cache = file_value(d + "/memory.stat", "file");
        if (limit < 0) {   // cgroup v1
            limit = file_number(d + "/memory.limit_in_bytes");
            used = file_number(d + "/memory.usage_in_bytes");
            const int64_t a = file_value(d + "/memory.stat", "total_active_file"),
                          i = file_value(d + "/memory.stat", "total_inactive_file");
            cache = a >= 0 && i >= 0 ? a + i : -1;
        }
        if (limit <= 0 || limit >= (int64_t(1) << 60) || used < 0) continue;   // no limit there
        const int64_t room = std::max<int64_t>(0, limit - used + std::max<int64_t>(cache, 0));
        if (best < 0 || room < best) best = room;
    }
    return best;
}

} // namespace
#endif

uint64_t available_memory(std::string *source) {
    std::string dummy;
    std::string &src = source ? *source : dummy;
#if defined(__APPLE__)
    // Free, inactive and purgeable pages: what the system gives a new allocation
    // without swapping out what others use.
    vm_statistics64_data_t vm{};
    mach_msg_type_number_t count = HOST_VM_INFO64_COUNT;
    vm_size_t page = 0;
    if (host_page_size(mach_host_self(), &page) != KERN_SUCCESS ||
        host_statistics64(mach_host_self(), HOST_VM_INFO64, reinterpret_cast<host_info64_t>(&vm), &count) != KERN_SUCCESS)
        return 0;
    src = "free + inactive + purgeable pages";
    return (uint64_t(vm.free_count) + vm.inactive_count + vm.purgeable_count) * uint64_t(page);
#else
    int64_t avail = file_value("/proc/meminfo", "MemAvailable");
    if (avail >= 0) {
        avail *= 1024;
        src = "MemAvailable";
    } else {
        const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages <= 0 || page <= 0) return 0;
        avail = int64_t(pages) * page;
        src = "free memory";
    }
    const int64_t room = cgroup_room();
    if (room >= 0 && room < avail) {
        src = "cgroup memory limit";
        return uint64_t(room);
    }
    return uint64_t(avail);
#endif
}

} // namespace llm4all::platform
