// generate.h — tokens in, streamed text out: evaluate a prompt with prefix reuse,
// sample tokens, and hand complete UTF-8 pieces to a callback, holding back text
// that may turn out to be a stop string. Raw completion and chat both use it.
#pragma once

#include <string>
#include <vector>

#include "llm4all/llm4all.h"
#include "session.h"

namespace llm4all {

struct Generation {
    std::string text;          // generated text, without a stop string
    int32_t n_prompt = 0;      // prompt tokens
    int32_t n_decoded = 0;     // prompt tokens decoded (the rest came from the cache)
    int32_t n_generated = 0;
    int32_t stop = LLM4ALL_STOP_MAX_TOKENS;
    double prompt_ms = 0, generate_ms = 0;
};

// Generates after prompt_tokens (options.add_special/parse_special are not used).
Generation generate_tokens(Session &session, const std::vector<int32_t> &prompt_tokens,
                           const llm4all_generate_options &options, llm4all_on_token on_token, void *user);

// Tokenizes prompt by the options, then generate_tokens; fills result (if not null).
std::string generate(Session &session, const std::string &prompt, const llm4all_generate_options &options,
                     llm4all_on_token on_token, void *user, llm4all_generate_result *result);

// Length of the longest prefix of s[0..n) that does not end inside a UTF-8
// character (an invalid byte counts as complete so it cannot stall the stream).
size_t utf8_complete_prefix(const char *s, size_t n);

// s with invalid UTF-8 (and NUL bytes) replaced by U+FFFD.
std::string sanitize_utf8(const std::string &s);

} // namespace llm4all
