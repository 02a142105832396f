// shim.h — the one try/catch that every extern "C" body goes through, so no
// exception ever crosses the ABI: errors become a status + last error.
#pragma once

#include <new>

#include "error.h"

namespace llm4all {

template <class F>
llm4all_status guarded(F &&body) noexcept {
    try {
        body();
        return LLM4ALL_OK;
    } catch (const Error &e) {
        set_last_error(e.what());
        return e.status();
    } catch (const std::bad_alloc &) {
        set_last_error("out of memory");
        return LLM4ALL_ERR_OUT_OF_MEMORY;
    } catch (const std::exception &e) {
        set_last_error(std::string("internal error: ") + e.what());
        return LLM4ALL_ERR_INTERNAL;
    } catch (...) {
        set_last_error("internal error: unknown exception");
        return LLM4ALL_ERR_INTERNAL;
    }
}

#define LLM4ALL_REQUIRE(cond, what)                                                    \
    do {                                                                               \
        if (!(cond)) ::llm4all::fail(LLM4ALL_ERR_INVALID_ARGUMENT, (what));            \
    } while (0)

} // namespace llm4all

#include <cstdlib>
#include <cstring>
#include <string>

namespace llm4all {
// malloc'd copy for returning through the ABI (freed by llm4all_free).
inline char *dup_string(const std::string &s) {
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (!p) throw std::bad_alloc();
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    return p;
}
} // namespace llm4all
