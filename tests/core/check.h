// check.h — the small harness the C++ tests share: count checks, print each
// failure, and end with the "N passed, M failed" line that test runners read;
// and where the shared test data lies.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#if defined(_WIN32)
// The POSIX environment calls the tests use, for the Windows build (tools/windows_check.sh):
// _putenv_s with an empty value removes the variable.
inline int setenv(const char *name, const char *value, int overwrite) {
    if (!overwrite && std::getenv(name)) return 0;
    return _putenv_s(name, value);
}
inline int unsetenv(const char *name) { return _putenv_s(name, ""); }
#endif

inline int g_pass = 0, g_fail = 0;

inline void check(bool ok, const std::string &what) {
    if (ok) {
        ++g_pass;
    } else {
        ++g_fail;
        std::printf("FAIL: %s\n", what.c_str());
    }
}

// A file of the shared test data ($LLM4ALL_TESTDATA, else ../shared/testdata), or ""
// after printing a SKIP line when it is not there.
inline std::string testdata_file(const std::string &name) {
    const char *td = std::getenv("LLM4ALL_TESTDATA");
    const std::string path = std::string(td ? td : "../shared/testdata") + "/" + name;
    if (access(path.c_str(), R_OK) != 0) {
        std::printf("SKIP: %s not found (set LLM4ALL_TESTDATA)\n", path.c_str());
        return "";
    }
    return path;
}
