// llm4all_raii.hpp — small C++ RAII helpers over the public C ABI (llm4all.h):
// owning pointers for models, sessions, samplers and returned buffers, and a check() that
// turns a status code into a C++ exception carrying llm4all_last_error().
// Header-only; used by the Python module and usable by any C++ host.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "llm4all/llm4all.h"

namespace llm4all_raii {

struct FreeBuffer {
    void operator()(void *p) const { llm4all_free(p); }
};
// A buffer the library returned through an out-parameter.
template <class T> using Buffer = std::unique_ptr<T, FreeBuffer>;

struct FreeModel {
    void operator()(llm4all_model *m) const { llm4all_model_free(m); }
};
using ModelPtr = std::unique_ptr<llm4all_model, FreeModel>;

struct FreeSession {
    void operator()(llm4all_session *s) const { llm4all_session_free(s); }
};
using SessionPtr = std::unique_ptr<llm4all_session, FreeSession>;

struct FreeSampler {
    void operator()(llm4all_sampler *s) const { llm4all_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llm4all_sampler, FreeSampler>;

// A failed C call: the status code and the thread-local message, captured at
// once because the next llm4all call on this thread overwrites it.
class StatusError : public std::runtime_error {
public:
    StatusError(llm4all_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    llm4all_status status() const { return status_; }
    const char *status_name() const { return llm4all_status_name(status_); }

private:
    llm4all_status status_;
};

inline void check(llm4all_status status) {
    if (status != LLM4ALL_OK) throw StatusError(status, llm4all_last_error());
}

// Takes ownership of a NUL-terminated string the library returned.
inline std::string take_string(char *p) {
    Buffer<char> owned(p);
    return p ? std::string(p) : std::string();
}

inline std::string take_string(char *p, size_t len) {
    Buffer<char> owned(p);
    return p ? std::string(p, len) : std::string();
}

} // namespace llm4all_raii
