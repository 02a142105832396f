// cpu_features.h — x86 CPU features read straight from CPUID, by the names GCC's and
// Clang's __builtin_cpu_supports use. Windows builds need it: clang-cl compiles
// __builtin_cpu_supports, but the run-time data behind it (__cpu_model, in compiler-rt)
// is not linked by an MSVC-style link. Like __builtin_cpu_supports, a feature whose
// registers the OS has not enabled (XCR0) reads as absent.
#pragma once

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <cpuid.h>

#include <cstring>

namespace llm4all::cpu {

struct CpuidBits {
    unsigned ecx1 = 0, edx1 = 0, ebx7 = 0, ecx7 = 0;
    unsigned xcr0 = 0;
};

inline CpuidBits read_cpuid() {
    CpuidBits r;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return r;
    r.ecx1 = c;
    r.edx1 = d;
    if (__get_cpuid_max(0, nullptr) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        r.ebx7 = b;
        r.ecx7 = c;
    }
    if (r.ecx1 & (1u << 27)) {   // OSXSAVE: xgetbv exists
        unsigned lo = 0, hi = 0;
        // xgetbv(0), spelled as bytes so no -mxsave is needed.
        __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
        r.xcr0 = lo;
    }
    return r;
}

// name: sse3 ssse3 sse4.1 sse4.2 popcnt avx avx2 fma f16c bmi bmi2 avx512f avx512bw
// avx512dq avx512vl avx512vnni; any other name is false.
inline bool cpuid_has(const char *name) {
    static const CpuidBits bits = read_cpuid();
    const bool ymm = (bits.xcr0 & 0x6) == 0x6, zmm = ymm && (bits.xcr0 & 0xe0) == 0xe0;
    struct Bit {
        const char *name;
        const unsigned *reg;
        unsigned bit;
        int state;   // 0 none, 1 YMM, 2 ZMM
    };
    const Bit table[] = {
        {"sse3", &bits.ecx1, 0, 0},       {"ssse3", &bits.ecx1, 9, 0},      {"sse4.1", &bits.ecx1, 19, 0},
        {"sse4.2", &bits.ecx1, 20, 0},    {"popcnt", &bits.ecx1, 23, 0},    {"avx", &bits.ecx1, 28, 1},
        {"fma", &bits.ecx1, 12, 1},       {"f16c", &bits.ecx1, 29, 1},      {"avx2", &bits.ebx7, 5, 1},
        {"bmi", &bits.ebx7, 3, 0},        {"bmi2", &bits.ebx7, 8, 0},       {"avx512f", &bits.ebx7, 16, 2},
        {"avx512dq", &bits.ebx7, 17, 2},  {"avx512bw", &bits.ebx7, 30, 2},  {"avx512vl", &bits.ebx7, 31, 2},
        {"avx512vnni", &bits.ecx7, 11, 2},
    };
    for (const Bit &b : table) {
        if (std::strcmp(b.name, name) != 0) continue;
        if ((b.state == 1 && !ymm) || (b.state == 2 && !zmm)) return false;
        return (*b.reg >> b.bit) & 1u;
    }
    return false;
}

} // namespace llm4all::cpu
#endif
