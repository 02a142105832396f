// sampler.h — picks the next token from logits: repeat, frequency and presence
// penalties, top-k, top-p, min-p, temperature, then a seeded draw (or greedy
// argmax). One per sequence (generate makes one per call; the C ABI hands them
// out for callers' own decode loops); the same seed and inputs give the same tokens.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <unordered_map>
#include <vector>

#include "llm4all/llm4all.h"

namespace llm4all {

class Sampler {
public:
    explicit Sampler(const llm4all_sampler_options &options);  // throws on bad values
    // Remembers a token for the penalty window (the last repeat_last_n tokens).
    void accept(int32_t token);
    // Logits of -inf are never chosen (constrained decoding masks that way); throws
    // INVALID_ARGUMENT when every logit is -inf or any is NaN or +inf.
    int32_t sample(const float *logits, int32_t n_vocab);

private:
    llm4all_sampler_options opt_;
    std::mt19937_64 rng_;
    std::deque<int32_t> recent_;
    std::unordered_map<int32_t, int32_t> counts_;   // occurrences of each token in recent_
    std::vector<std::pair<float, int32_t>> cand_;   // (logit or prob, token)
    std::vector<float> work_;                       // penalized logits
    std::vector<double> p_, w_;                     // probabilities, weights: reused, no per-token allocation
};

// log softmax(row)[token], computed stably in double.
float log_softmax_at(const float *row, int32_t n, int32_t token);

} // namespace llm4all
