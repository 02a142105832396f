// score.cpp — llm4all_backend_score() of the CPU plugin. Compiled with the
// baseline x86-64 flags in every variant: the core calls it before anything
// else, so it must run (and say 0) on a machine that lacks the variant's ISA.
#include <cstdint>

#include "llm4all/backend.h"

#ifndef LLM4ALL_CPU_VARIANT
#error "LLM4ALL_CPU_VARIANT must name the build variant (generic, avx2, ...)"
#endif

#define LLM4ALL_STR2(x) #x
#define LLM4ALL_STR(x) LLM4ALL_STR2(x)

extern "C" __attribute__((visibility("default"))) int32_t llm4all_backend_score(void) {
#if LLM4ALL_CPU_LEVEL == 0
    return 1; // generic C++: runs anywhere
#elif LLM4ALL_CPU_LEVEL == 2
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
        __builtin_cpu_supports("bmi2"))
        return 10;
#endif
    return 0;
#else
#error "unknown LLM4ALL_CPU_LEVEL"
#endif
}
