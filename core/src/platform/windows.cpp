// windows.cpp — platform.h on Windows: LoadLibraryExW, file mappings, GlobalMemoryStatusEx.
// Every path crosses the API as UTF-16 (the *W functions), so any file name a user can
// type works, whatever the system's ANSI code page.
#include "platform.h"

#ifndef NOMINMAX
#define NOMINMAX   // keep std::min/std::max usable
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <fcntl.h>
#include <io.h>
#include <malloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace llm4all::platform {

namespace {

std::wstring widen(const std::string &s) {
    if (s.empty()) return std::wstring();
    const int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), int(s.size()), nullptr, 0);
    std::wstring w(size_t(n > 0 ? n : 0), L'\0');
    if (n > 0) MultiByteToWideChar(CP_UTF8, 0, s.data(), int(s.size()), &w[0], n);
    return w;
}

std::string narrow(const wchar_t *w, size_t len) {
    if (!len) return std::string();
    const int n = WideCharToMultiByte(CP_UTF8, 0, w, int(len), nullptr, 0, nullptr, nullptr);
    std::string s(size_t(n > 0 ? n : 0), '\0');
    if (n > 0) WideCharToMultiByte(CP_UTF8, 0, w, int(len), &s[0], n, nullptr, nullptr);
    return s;
}

// The system's text for an error code, as UTF-8 without the trailing line break.
std::string error_text(DWORD code) {
    wchar_t *buf = nullptr;
    const DWORD n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                                       FORMAT_MESSAGE_IGNORE_INSERTS,
                                   nullptr, code, 0, reinterpret_cast<wchar_t *>(&buf), 0, nullptr);
    std::string text = n && buf ? narrow(buf, n) : std::string();
    if (buf) LocalFree(buf);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '.'))
        text.pop_back();
    return (text.empty() ? std::string("error") : text) + " (Windows error " + std::to_string(code) + ")";
}

// errno for the callers that report with strerror (the GGUF writer).
void set_errno(DWORD code) {
    switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND: errno = ENOENT; break;
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS: errno = EEXIST; break;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL: errno = ENOSPC; break;
    default: errno = EACCES; break;
    }
}

} // namespace

void *library_open(const std::string &path, std::string *error) {
    // LOAD_WITH_ALTERED_SEARCH_PATH: a plugin's own dependencies are looked up in its
    // folder first (a plugin wheel's folder), as RPATH=$ORIGIN does for ELF. No
    // "missing DLL" dialog box may stop a process that merely probes plugins.
    DWORD old_mode = 0;
    SetThreadErrorMode(SEM_FAILCRITICALERRORS | SEM_NOOPENFILEERRORBOX, &old_mode);
    // The flag needs an absolute path (a relative one is undefined behaviour to the loader).
    std::wstring wpath = widen(path);
    std::wstring full(MAX_PATH, L'\0');
    DWORD n = GetFullPathNameW(wpath.c_str(), DWORD(full.size()), &full[0], nullptr);
    if (n >= full.size()) {
        full.resize(n + 1);
        n = GetFullPathNameW(wpath.c_str(), DWORD(full.size()), &full[0], nullptr);
    }
    if (n > 0 && n < full.size()) wpath.assign(full.data(), n);
    HMODULE h = LoadLibraryExW(wpath.c_str(), nullptr, LOAD_WITH_ALTERED_SEARCH_PATH);
    const DWORD code = GetLastError();
    SetThreadErrorMode(old_mode, nullptr);
    if (!h && error) *error = path + ": " + error_text(code);
    return reinterpret_cast<void *>(h);
}

void *library_symbol(void *library, const char *name) {
    return reinterpret_cast<void *>(GetProcAddress(static_cast<HMODULE>(library), name));
}

void library_close(void *library) { FreeLibrary(static_cast<HMODULE>(library)); }

std::string library_path_of(const void *address) {
    HMODULE module = nullptr;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            static_cast<LPCWSTR>(address), &module))
        return "";
    std::wstring buf(MAX_PATH, L'\0');
    for (;;) {
        const DWORD n = GetModuleFileNameW(module, &buf[0], DWORD(buf.size()));
        if (n == 0) return "";
        if (n < buf.size()) return narrow(buf.data(), n);
        buf.resize(buf.size() * 2);   // truncated: long paths (\\?\...) are longer than MAX_PATH
    }
}

bool list_directory(const std::string &dir, std::vector<std::string> *names) {
    WIN32_FIND_DATAW fd;
    HANDLE h = FindFirstFileW(widen(dir + "\\*").c_str(), &fd);
    if (h == INVALID_HANDLE_VALUE) return false;
    do {
        const std::string name = narrow(fd.cFileName, wcslen(fd.cFileName));
        if (name != "." && name != "..") names->push_back(name);
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return true;
}

InputFile::~InputFile() {
    if (handle_ != -1) CloseHandle(reinterpret_cast<HANDLE>(handle_));
}

bool InputFile::open(const std::string &path) {
    const std::wstring wpath = widen(path);
    // Others may read, write, rename or delete the file meanwhile, as on POSIX.
    HANDLE h = CreateFileW(wpath.c_str(), GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                           nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        const DWORD code = GetLastError();
        const DWORD attrs = GetFileAttributesW(wpath.c_str());
        if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY))
            reason_ = "not a regular file";
        else if (code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND)
            // The words POSIX gives, so one message (and one check of it) serves every system.
            reason_ = std::string("cannot open: ") + std::strerror(ENOENT) + " (Windows error " + std::to_string(code) + ")";
        else
            reason_ = "cannot open: " + error_text(code);
        return false;
    }
    handle_ = reinterpret_cast<intptr_t>(h);
    if (GetFileType(h) != FILE_TYPE_DISK) {
        reason_ = "not a regular file";
        return false;
    }
    LARGE_INTEGER size;
    if (!GetFileSizeEx(h, &size)) {
        reason_ = "cannot stat: " + error_text(GetLastError());
        return false;
    }
    size_ = static_cast<uint64_t>(size.QuadPart);
    return true;
}

const uint8_t *InputFile::map() {
    HANDLE h = reinterpret_cast<HANDLE>(handle_);
    HANDLE mapping = CreateFileMappingW(h, nullptr, PAGE_READONLY, 0, 0, nullptr);
    if (!mapping) {
        reason_ = "mmap failed: " + error_text(GetLastError());
        return nullptr;
    }
    void *view = MapViewOfFile(mapping, FILE_MAP_READ, 0, 0, 0);
    const DWORD code = GetLastError();
    CloseHandle(mapping);   // the view keeps the mapping alive until UnmapViewOfFile
    if (!view) {
        reason_ = "mmap failed: " + error_text(code);
        return nullptr;
    }
    return static_cast<const uint8_t *>(view);
}

bool InputFile::read_all(uint8_t *dst) {
    HANDLE h = reinterpret_cast<HANDLE>(handle_);
    uint64_t done = 0;
    while (done < size_) {
        const DWORD want = DWORD(std::min<uint64_t>(size_ - done, 1u << 30));
        DWORD got = 0;
        if (!ReadFile(h, dst + done, want, &got, nullptr)) {
            reason_ = "read failed: " + error_text(GetLastError());
            return false;
        }
        if (got == 0) {
            reason_ = "file shrank while being read";
            return false;
        }
        done += got;
    }
    return true;
}

void unmap_file(const void *base, uint64_t) { UnmapViewOfFile(base); }

void advise_sparse_reads(const void *, uint64_t) {}   // file views are mapped by small pages

std::FILE *create_new_file(const std::string &path) {
    // _O_EXCL never reuses someone's file; _O_NOINHERIT is O_CLOEXEC's counterpart.
    const int fd = _wopen(widen(path).c_str(), _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
                          _S_IREAD | _S_IWRITE);
    if (fd < 0) return nullptr;
    std::FILE *f = _fdopen(fd, "wb");
    if (!f) {
        const int e = errno;
        _close(fd);
        _wunlink(widen(path).c_str());
        errno = e;
    }
    return f;
}

bool sync_file(std::FILE *f) { return _commit(_fileno(f)) == 0; }

bool replace_file(const std::string &from, const std::string &to) {
    // rename() on Windows refuses an existing destination; POSIX replaces it atomically.
    if (MoveFileExW(widen(from).c_str(), widen(to).c_str(), MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return true;
    set_errno(GetLastError());
    return false;
}

bool remove_file(const std::string &path) { return _wunlink(widen(path).c_str()) == 0; }

bool same_file(const std::string &a, const std::string &b) {
    // st_ino is always 0 on Windows: the volume serial number and file index identify a file.
    auto id = [](const std::string &p, BY_HANDLE_FILE_INFORMATION *info) {
        HANDLE h = CreateFileW(widen(p).c_str(), 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
                               OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
        if (h == INVALID_HANDLE_VALUE) return false;
        const bool ok = GetFileInformationByHandle(h, info) != 0;
        CloseHandle(h);
        return ok;
    };
    BY_HANDLE_FILE_INFORMATION ia{}, ib{};
    if (!id(a, &ia) || !id(b, &ib)) return false;
    return ia.dwVolumeSerialNumber == ib.dwVolumeSerialNumber && ia.nFileIndexHigh == ib.nFileIndexHigh &&
           ia.nFileIndexLow == ib.nFileIndexLow;
}

int process_id() { return static_cast<int>(GetCurrentProcessId()); }

namespace {
bool memory_status(MEMORYSTATUSEX *st) {
    st->dwLength = sizeof *st;
    return GlobalMemoryStatusEx(st) != 0;
}
} // namespace

uint64_t physical_memory() {
    MEMORYSTATUSEX st{};
    return memory_status(&st) ? st.ullTotalPhys : 0;
}

uint64_t free_physical_memory() {
    MEMORYSTATUSEX st{};
    return memory_status(&st) ? st.ullAvailPhys : 0;
}

uint64_t available_memory(std::string *source) {
    // ullAvailPhys counts the standby list (file cache the system drops on demand), like
    // Linux's MemAvailable. A job object's memory limit is not consulted.
    MEMORYSTATUSEX st{};
    if (!memory_status(&st)) return 0;
    if (source) *source = "available physical memory";
    return st.ullAvailPhys;
}

size_t page_size() {
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize ? size_t(si.dwPageSize) : 4096;
}

void *alloc_aligned(size_t alignment, size_t bytes) { return _aligned_malloc(bytes ? bytes : 1, alignment); }

void free_aligned(void *p) { _aligned_free(p); }

bool local_time(std::time_t t, std::tm *out) { return localtime_s(out, &t) == 0; }

} // namespace llm4all::platform
