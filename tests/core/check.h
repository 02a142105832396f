// check.h — the small harness the C++ tests share: count checks, print each
// failure, and end with the "N passed, M failed" line that test runners read.
#pragma once

#include <cstdio>
#include <string>

inline int g_pass = 0, g_fail = 0;

inline void check(bool ok, const std::string &what) {
    if (ok) {
        ++g_pass;
    } else {
        ++g_fail;
        std::printf("FAIL: %s\n", what.c_str());
    }
}
