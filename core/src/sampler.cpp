// sampler.cpp — the sampling chain. Order follows common practice (llama.cpp,
// GPT4All): penalties on raw logits, then top-k, top-p and min-p on the
// softmax at temperature 1, then temperature and the seeded draw. Masked
// (-inf) logits drop out before any of it.
#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "error.h"

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define LLM4ALL_SAMPLER_SSE2 1
#else
#define LLM4ALL_SAMPLER_SSE2 0
#endif

namespace llm4all {

namespace {
// best = the largest of x[0..n); true if any is NaN or +inf (best is then meaningless).
bool max_or_bad(const float *x, int32_t n, float &best) {
    int32_t i = 0;
    bool bad = false;
    float mx = -INFINITY;
#if LLM4ALL_SAMPLER_SSE2
    const __m128 inf = _mm_set1_ps(INFINITY);
    __m128 m0 = _mm_set1_ps(-INFINITY), m1 = m0, b0 = _mm_setzero_ps(), b1 = b0;
    for (; i + 8 <= n; i += 8) {
        const __m128 a = _mm_loadu_ps(x + i), c = _mm_loadu_ps(x + i + 4);
        b0 = _mm_or_ps(b0, _mm_cmpnlt_ps(a, inf));   // !(a < inf): NaN or +inf
        b1 = _mm_or_ps(b1, _mm_cmpnlt_ps(c, inf));
        m0 = _mm_max_ps(m0, a);
        m1 = _mm_max_ps(m1, c);
    }
    bad = _mm_movemask_ps(_mm_or_ps(b0, b1)) != 0;
    float lanes[4];
    _mm_storeu_ps(lanes, _mm_max_ps(m0, m1));
    for (float v : lanes) mx = v > mx ? v : mx;
#endif
    for (; i < n; ++i) {
        bad |= !(x[i] < INFINITY);
        mx = x[i] > mx ? x[i] : mx;
    }
    best = mx;
    return bad;
}

// The first i with x[i] == v (+0 == -0), or -1.
int32_t first_equal(const float *x, int32_t n, float v) {
    int32_t i = 0;
#if LLM4ALL_SAMPLER_SSE2
    const __m128 vv = _mm_set1_ps(v);
    for (; i + 8 <= n; i += 8) {
        const int hit = _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i), vv)) |
                        _mm_movemask_ps(_mm_cmpeq_ps(_mm_loadu_ps(x + i + 4), vv)) << 4;
        if (hit) {
            int k = 0;
            while (!(hit >> k & 1)) ++k;
            return i + k;
        }
    }
#endif
    for (; i < n; ++i)
        if (x[i] == v) return i;
    return -1;
}

uint64_t seed_of(uint64_t seed) {
    if (seed != LLM4ALL_SEED_RANDOM) return seed;
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
}
} // namespace

Sampler::Sampler(const llm4all_sampler_options &options) : opt_(options), rng_(seed_of(options.seed)) {
    if (!std::isfinite(opt_.temp) || !std::isfinite(opt_.top_p) || !std::isfinite(opt_.min_p) ||
        !std::isfinite(opt_.repeat_penalty) || opt_.repeat_penalty <= 0.0f || opt_.repeat_last_n < 0 ||
        !std::isfinite(opt_.presence_penalty) || !std::isfinite(opt_.frequency_penalty))
        fail(LLM4ALL_ERR_INVALID_ARGUMENT,
             "sampling options out of range: temperature/top_p/min_p/presence_penalty/frequency_penalty must be "
             "finite numbers, repeat_penalty > 0 and repeat_last_n >= 0");
}

void Sampler::accept(int32_t token) {
    if (opt_.repeat_last_n <= 0) return;
    recent_.push_back(token);
    ++counts_[token];
    while (recent_.size() > size_t(opt_.repeat_last_n)) {
        auto it = counts_.find(recent_.front());
        if (--it->second == 0) counts_.erase(it);
        recent_.pop_front();
    }
}

float log_softmax_at(const float *row, int32_t n, int32_t token) {
    float mx = row[0];
    for (int32_t i = 1; i < n; ++i) mx = std::max(mx, row[i]);
    double sum = 0.0;
    for (int32_t i = 0; i < n; ++i) sum += std::exp(double(row[i]) - mx);
    return static_cast<float>(double(row[token]) - mx - std::log(sum));
}

int32_t Sampler::sample(const float *logits, int32_t n_vocab) {
    if (n_vocab < 1 || !logits) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "sample needs logits and n_vocab >= 1");
    // llama.cpp's penalties: divide a positive logit by repeat_penalty (multiply a
    // negative one), then subtract count * frequency + presence for every token
    // seen in the window. A masked logit stays -inf.
    const float *l = logits;
    if (opt_.repeat_penalty != 1.0f || opt_.frequency_penalty != 0.0f || opt_.presence_penalty != 0.0f) {
        work_.assign(logits, logits + n_vocab);
        for (const auto &[t, count] : counts_) {
            if (t < 0 || t >= n_vocab) continue;
            float &x = work_[t];
            x = x > 0 ? x / opt_.repeat_penalty : x * opt_.repeat_penalty;
            x -= float(count) * opt_.frequency_penalty + opt_.presence_penalty;
        }
        l = work_.data();
    }
    // The greedy pick is the first of equal maxima: one vector pass finds the maximum
    // and any NaN or +inf (the penalties, finite, keep both as they were), a second
    // the first logit equal to it (+0 == -0, as a one-pass "x > best" kept the first
    // of those too). A branch per logit cost ~40 us on a 49k vocabulary.
    float best = -INFINITY;
    const bool bad = max_or_bad(l, n_vocab, best);
    const int32_t pick = !bad && best > -INFINITY ? first_equal(l, n_vocab, best) : -1;
    if (bad)
        for (int32_t i = 0; i < n_vocab; ++i)
            if (std::isnan(logits[i]) || logits[i] == INFINITY)
                fail(LLM4ALL_ERR_INVALID_ARGUMENT, "logit " + std::to_string(i) + " is " +
                                                       (std::isnan(logits[i]) ? "NaN" : "+inf") +
                                                       ": logits must be finite numbers or -inf (masked)");
    if (pick < 0) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "every logit is -inf: no token is allowed");
    if (opt_.temp <= 0.0f) return pick;

    cand_.resize(n_vocab);
    for (int32_t i = 0; i < n_vocab; ++i) cand_[i] = {l[i], i};
    auto by_logit = [](const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t n = cand_.size();
    if (opt_.top_k > 0 && size_t(opt_.top_k) < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + opt_.top_k, cand_.end(), by_logit);
        n = opt_.top_k;
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    // Masked tokens sort last and never survive (the first is unmasked, checked above).
    while (n > 1 && cand_[n - 1].first == -INFINITY) --n;
    cand_.resize(n);

    // Probabilities at temperature 1 decide which tokens survive top-p / min-p.
    const float mx = cand_[0].first;
    p_.resize(n);
    double *p = p_.data();
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(double(cand_[i].first) - mx);
    size_t keep = n;
    if (opt_.top_p < 1.0f) {
        double cum = 0.0;
        for (size_t i = 0; i < n; ++i) {
            cum += p[i] / sum;
            if (cum >= opt_.top_p) { keep = i + 1; break; }
        }
    }
    if (opt_.min_p > 0.0f) {
        const double floor = opt_.min_p * p[0];
        size_t k = 1;
        while (k < keep && p[k] >= floor) ++k;
        keep = k;
    }

    // Temperature, then a draw from the survivors.
    double total = 0.0;
    w_.resize(keep);
    double *w = w_.data();
    for (size_t i = 0; i < keep; ++i) total += w[i] = std::exp((double(cand_[i].first) - mx) / opt_.temp);
    // Our own mapping of the raw 64-bit draw to [0, total): std's distributions
    // differ between standard libraries, and a seed must mean the same everywhere.
    double r = double(rng_() >> 11) * (1.0 / 9007199254740992.0) * total, acc = 0.0;
    for (size_t i = 0; i < keep; ++i) {
        acc += w[i];
        if (r < acc) return cand_[i].second;
    }
    return cand_[keep - 1].second;
}

} // namespace llm4all
