// options.h — reading callers' option structs and arguments in the api/ shims:
// size-checked copies over defaults (so callers built against an older, shorter
// struct keep working) and argument checks shared by several entry points.
#pragma once

#include <cstring>
#include <string>

#include "error.h"
#include "llm4all/llm4all.h"
#include "unicode.h"

namespace llm4all {

template <class T>
T read_options(const T *given, void (*init)(T *), const char *what) {
    T o;
    init(&o);
    if (given) {
        if (given->size < sizeof(uint32_t) * 2 || given->size > sizeof(T))
            fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string(what) + ".size is wrong: call " + what + "_init()");
        std::memcpy(&o, given, given->size);
    }
    return o;
}

inline llm4all_generate_options read_generate_options(const llm4all_generate_options *given) {
    llm4all_generate_options o = read_options(given, llm4all_generate_options_init, "llm4all_generate_options");
    if (o.sampling.size != sizeof(llm4all_sampler_options))
        fail(LLM4ALL_ERR_INVALID_ARGUMENT,
             "llm4all_generate_options.sampling.size is wrong: call llm4all_generate_options_init()");
    return o;
}

inline void validate_utf8_arg(const char *s, const char *what) {
    const std::string_view v(s);
    const size_t bad = utf8_find_invalid(v);
    if (bad != std::string_view::npos)
        fail(LLM4ALL_ERR_BAD_UTF8, std::string(what) + " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
}

} // namespace llm4all
