// error.cpp — thread-local last error and the host-settable log sink.
#include "error.h"

#include <cstdio>
#include <mutex>

namespace llm4all {

namespace {
thread_local std::string t_last_error = "no error";

void default_log(int32_t level, const char *message, void *) {
    if (level >= LLM4ALL_LOG_WARN) std::fprintf(stderr, "llm4all: %s\n", message);
}

llm4all_log_fn g_log_fn = default_log;
void *g_log_user = nullptr;
} // namespace

void set_last_error(const std::string &message) { t_last_error = message; }
const char *last_error_cstr() { return t_last_error.c_str(); }

void set_log_callback(llm4all_log_fn fn, void *user) {
    g_log_fn = fn;
    g_log_user = user;
}

void log_message(int32_t level, const std::string &message) {
    if (g_log_fn) g_log_fn(level, message.c_str(), g_log_user);
}

} // namespace llm4all
