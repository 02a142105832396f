// score.cpp — llm4all_backend_score() and llm4all_backend_refusal() of the CPU
// plugin. Compiled without the variant's ISA flags: the core calls these before
// anything else, so they must run (and say 0, and why) on a machine that lacks
// the variant's instructions. LLM4ALL_CPU_NEEDS lists the features the variant
// was compiled for (the same list CMake turned into -m<feature> flags).
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(_WIN32)
#include "cpu_features.h"
#endif

#include "llm4all/backend.h"

#ifndef LLM4ALL_CPU_VARIANT
#error "LLM4ALL_CPU_VARIANT must name the build variant (generic, avx2, ...)"
#endif
#ifndef LLM4ALL_CPU_SCORE
#error "LLM4ALL_CPU_SCORE must give the variant's rank"
#endif
#ifndef LLM4ALL_CPU_NEEDS
#error "LLM4ALL_CPU_NEEDS must list the CPU features the variant was built for"
#endif

namespace {

// Register state the operating system must save on context switches before a
// program may use the registers; the CPU having the instructions is not enough.
enum State { STATE_NONE, STATE_YMM, STATE_ZMM };

struct Feature {
    const char *name;     // as in CMake and __builtin_cpu_supports
    const char *display;  // as users know it
    State state;
    bool (*present)();
};

#if defined(__x86_64__) || defined(__i386__)
#if defined(_WIN32)
// clang-cl links without compiler-rt's __cpu_model, which __builtin_cpu_supports reads:
// Windows reads CPUID itself (cpu_features.h, checked against the builtin on Linux).
#define LLM4ALL_FEATURE(name, display, state) \
    { name, display, state, [] { return llm4all::cpu::cpuid_has(name); } }
#else
// __builtin_cpu_supports needs a literal name, hence one small function per feature.
#define LLM4ALL_FEATURE(name, display, state) \
    { name, display, state, [] { return __builtin_cpu_supports(name) != 0; } }
#endif
const Feature k_features[] = {
    LLM4ALL_FEATURE("sse3", "SSE3", STATE_NONE),
    LLM4ALL_FEATURE("ssse3", "SSSE3", STATE_NONE),
    LLM4ALL_FEATURE("sse4.1", "SSE4.1", STATE_NONE),
    LLM4ALL_FEATURE("sse4.2", "SSE4.2", STATE_NONE),
    LLM4ALL_FEATURE("popcnt", "POPCNT", STATE_NONE),
    LLM4ALL_FEATURE("avx", "AVX", STATE_YMM),
    LLM4ALL_FEATURE("avx2", "AVX2", STATE_YMM),
    LLM4ALL_FEATURE("fma", "FMA", STATE_YMM),
    LLM4ALL_FEATURE("f16c", "F16C", STATE_YMM),
    LLM4ALL_FEATURE("bmi", "BMI1", STATE_NONE),
    LLM4ALL_FEATURE("bmi2", "BMI2", STATE_NONE),
    LLM4ALL_FEATURE("avx512f", "AVX-512F", STATE_ZMM),
    LLM4ALL_FEATURE("avx512bw", "AVX-512BW", STATE_ZMM),
    LLM4ALL_FEATURE("avx512dq", "AVX-512DQ", STATE_ZMM),
    LLM4ALL_FEATURE("avx512vl", "AVX-512VL", STATE_ZMM),
    LLM4ALL_FEATURE("avx512vnni", "AVX-512 VNNI", STATE_ZMM),
};
#undef LLM4ALL_FEATURE

// Which register state the OS has enabled (XCR0). Recent GCC and Clang check this
// inside __builtin_cpu_supports too, but older compilers did not, and a wrong
// answer here means SIGILL, so it is checked again.
State os_state() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return STATE_NONE; // no OSXSAVE: no xgetbv
    unsigned lo = 0, hi = 0;
    // xgetbv(0), spelled as bytes so no -mxsave is needed; OSXSAVE guarantees it exists.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return STATE_NONE;                 // SSE + AVX (YMM upper halves)
    if ((lo & 0xe0) != 0xe0) return STATE_YMM;                // opmask + ZMM upper halves + ZMM16-31
    return STATE_ZMM;
}
#else
const Feature k_features[] = {{"", "", STATE_NONE, nullptr}};
State os_state() { return STATE_NONE; }
#endif

// Small bounded string builder: this file avoids the C++ library's allocation so
// it stays trivially safe to call from any thread at any time.
struct Text {
    char buf[512];
    size_t n = 0;
    Text() { buf[0] = 0; }
    void add(const char *s, size_t len = size_t(-1)) {
        for (size_t i = 0; i < len && s[i] && n + 1 < sizeof buf; ++i) buf[n++] = s[i];
        buf[n] = 0;
    }
};

// Is `name` in the space/comma separated list `list`?
bool listed(const char *list, const char *name, size_t len) {
    if (!list) return false;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') ++p;
        const char *start = p;
        while (*p && *p != ' ' && *p != ',') ++p;
        if (size_t(p - start) == len && std::strncmp(start, name, len) == 0) return true;
    }
    return false;
}

// True when this machine can run the variant; otherwise `why` says what is missing.
bool evaluate(Text *why) {
    const char *needs = LLM4ALL_CPU_NEEDS;
    // Tests (and users checking the fallback) can pretend features are missing.
    const char *hidden = std::getenv("LLM4ALL_CPU_HIDE");
    Text all, lacking;
    State need_state = STATE_NONE;
    bool ok = true, any_hidden = false;
    for (const char *p = needs; *p;) {
        while (*p == ' ') ++p;
        const char *start = p;
        while (*p && *p != ' ') ++p;
        const size_t len = size_t(p - start);
        if (!len) continue;
        const Feature *f = nullptr;
        for (const Feature &k : k_features)
            if (k.present && std::strlen(k.name) == len && std::strncmp(k.name, start, len) == 0) f = &k;
        if (!f) { // a feature this file cannot check (or any feature off x86): never guess yes
            ok = false;
            lacking.add(lacking.n ? ", " : "");
            lacking.add(start, len);
            all.add(all.n ? ", " : "");
            all.add(start, len);
            continue;
        }
        all.add(all.n ? ", " : "");
        all.add(f->display);
        if (f->state > need_state) need_state = f->state;
        const bool hide = listed(hidden, f->name, len);
        if (hide || !f->present()) {
            ok = false;
            any_hidden |= hide;
            lacking.add(lacking.n ? ", " : "");
            lacking.add(f->display);
        }
    }
    const State have_state = need_state == STATE_NONE ? STATE_NONE : os_state();
    const bool state_ok = have_state >= need_state;
    if (ok && state_ok) return true;
    if (why) {
        why->add("needs ");
        why->add(all.buf);
        if (!ok) {
            why->add("; this CPU lacks ");
            why->add(lacking.buf);
            if (any_hidden) why->add(" (hidden by LLM4ALL_CPU_HIDE)");
        } else {
            why->add(need_state == STATE_ZMM ? "; the operating system has not enabled the AVX-512 registers (XCR0)"
                                             : "; the operating system has not enabled the AVX registers (XCR0)");
        }
    }
    return false;
}

} // namespace

extern "C" LLM4ALL_BACKEND_EXPORT int32_t llm4all_backend_score(void) {
#if (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
    __builtin_cpu_init();
#endif
    return evaluate(nullptr) ? LLM4ALL_CPU_SCORE : 0;
}

extern "C" LLM4ALL_BACKEND_EXPORT const char *llm4all_backend_refusal(void) {
    // Per thread, so concurrent callers never see each other's half-written text.
    static thread_local Text why;
    why = Text();
#if (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
    __builtin_cpu_init();
#endif
    return evaluate(&why) ? "" : why.buf;
}
