// generate.h — text in, streamed text out: tokenize the prompt, evaluate it
// with prefix reuse, sample tokens, and hand complete UTF-8 pieces to a callback.
#pragma once

#include <string>

#include "llm4all/llm4all.h"
#include "session.h"

namespace llm4all {

// Fills result (if not null) and returns the whole generated text.
std::string generate(Session &session, const std::string &prompt, const llm4all_generate_options &options,
                     llm4all_on_token on_token, void *user, llm4all_generate_result *result);

// Length of the longest prefix of s[0..n) that does not end inside a UTF-8
// character (an invalid byte counts as complete so it cannot stall the stream).
size_t utf8_complete_prefix(const char *s, size_t n);

} // namespace llm4all
