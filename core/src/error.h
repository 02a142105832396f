// error.h — how failures travel inside the engine.
// C++ code throws llm4all::Error carrying a status code and a message for
// humans; the api/ shims turn it into a status + thread-local last error.
#pragma once

#include <stdexcept>
#include <string>

#include "llm4all/llm4all.h"

namespace llm4all {

class Error : public std::runtime_error {
public:
    Error(llm4all_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}
    llm4all_status status() const { return status_; }

private:
    llm4all_status status_;
};

[[noreturn]] inline void fail(llm4all_status status, const std::string &message) {
    throw Error(status, message);
}

// Sets the thread-local last error (used by the api shims).
void set_last_error(const std::string &message);

// Logs through the host's callback (see llm4all_set_log_callback).
void log_message(int32_t level, const std::string &message);

} // namespace llm4all
