// test_sampler.cpp — statistical checks of the sampling chain on hand-made
// logits: over many seeded draws the empirical distribution after top-k,
// top-p, min-p, temperature and repeat penalty matches the exact distribution
// computed independently here, and filtered-out tokens never appear.
// test-sources: core/src/sampler.cpp
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "error.h"
#include "sampler.h"

#include "check.h"

using llm4all::Sampler;

namespace {



llm4all_sampler_options base_options() {
    llm4all_sampler_options o{};
    o.size = sizeof o;
    o.temp = 1.0f;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.min_p = 0.0f;
    o.repeat_penalty = 1.0f;
    o.repeat_last_n = 64;
    o.seed = 1234;
    return o;
}

// Ranks are deliberately not in id order so a sampler that confuses ranks
// with ids shows up. All values distinct: no ties to argue about.
const std::vector<float> kLogits = {0.5f, 2.0f, -1.0f, 1.5f, -3.0f, 1.0f, 0.0f, -0.5f, 1.75f, -2.0f};

// The exact distribution the sampling chain should draw from, written from the
// definitions rather than from the sampler's code: penalties on the raw logits;
// top-k keeps the k highest; top-p keeps a token when the probability mass
// (temperature 1, over the top-k survivors) of the tokens ranked above it is
// still below p; min-p keeps tokens whose probability is at least min_p times
// the highest; the survivors are drawn with weights exp(logit / temp).
std::vector<double> expected(std::vector<float> logits, const llm4all_sampler_options &o,
                             const std::vector<int32_t> &penalised) {
    const size_t n = logits.size();
    for (int32_t t : penalised) {
        float &l = logits[t];
        l = l > 0 ? l / o.repeat_penalty : l * o.repeat_penalty;
    }
    // rank[i]: how many tokens have a higher logit than token i.
    std::vector<size_t> rank(n, 0);
    for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < n; ++j)
            if (logits[j] > logits[i]) ++rank[i];
    std::vector<bool> kept(n, true);
    if (o.top_k > 0)
        for (size_t i = 0; i < n; ++i) kept[i] = rank[i] < size_t(o.top_k);
    double z = 0.0;
    for (size_t i = 0; i < n; ++i)
        if (kept[i]) z += std::exp(double(logits[i]));
    std::vector<double> p1(n, 0.0);
    for (size_t i = 0; i < n; ++i)
        if (kept[i]) p1[i] = std::exp(double(logits[i])) / z;
    if (o.top_p < 1.0f) {
        std::vector<bool> k2 = kept;
        for (size_t i = 0; i < n; ++i) {
            if (!kept[i]) continue;
            double above = 0.0;
            for (size_t j = 0; j < n; ++j)
                if (kept[j] && rank[j] < rank[i]) above += p1[j];
            k2[i] = above < o.top_p;
        }
        kept = k2;
    }
    if (o.min_p > 0.0f) {
        double pmax = 0.0;
        for (size_t i = 0; i < n; ++i)
            if (kept[i]) pmax = std::max(pmax, p1[i]);
        for (size_t i = 0; i < n; ++i)
            if (kept[i]) kept[i] = p1[i] >= o.min_p * pmax;
    }
    std::vector<double> q(n, 0.0);
    double zt = 0.0;
    for (size_t i = 0; i < n; ++i)
        if (kept[i]) zt += q[i] = std::exp(double(logits[i]) / o.temp);
    for (double &v : q) v /= zt;
    return q;
}

// Draws `draws` tokens and compares the counts with the expected probabilities:
// never a token of probability 0, a chi-square statistic well inside what
// chance allows (the seed is fixed, so this is deterministic, but the bound is
// loose enough that any correct sampler passes for any seed), and every
// frequency within 0.015 of its probability.
void check_distribution(const std::string &name, const llm4all_sampler_options &o,
                        const std::vector<int32_t> &accepted = {}, const std::vector<int32_t> &penalised = {}) {
    const int draws = 20000;
    const std::vector<double> q = expected(kLogits, o, penalised);
    Sampler s(o);
    for (int32_t t : accepted) s.accept(t);
    std::vector<int> count(kLogits.size(), 0);
    bool in_range = true;
    for (int d = 0; d < draws; ++d) {
        const int32_t t = s.sample(kLogits.data(), int32_t(kLogits.size()));
        if (t < 0 || t >= int32_t(kLogits.size())) {
            in_range = false;
            break;
        }
        ++count[t];
    }
    check(in_range, name + ": token id out of range");
    double chi2 = 0.0, max_dev = 0.0;
    int dof = -1, forbidden = 0;
    for (size_t i = 0; i < q.size(); ++i) {
        const double f = double(count[i]) / draws;
        max_dev = std::max(max_dev, std::fabs(f - q[i]));
        if (q[i] == 0.0) {
            forbidden += count[i];
            continue;
        }
        ++dof;
        const double e = q[i] * draws;
        chi2 += (count[i] - e) * (count[i] - e) / e;
    }
    check(forbidden == 0, name + ": " + std::to_string(forbidden) + " draws of filtered-out tokens");
    // Mean dof, sd sqrt(2 dof): mean + 6 sd + 10 is far beyond any honest chance.
    const double bound = dof + 6.0 * std::sqrt(2.0 * std::max(dof, 1)) + 10.0;
    check(chi2 < bound, name + ": chi-square " + std::to_string(chi2) + " >= " + std::to_string(bound));
    check(max_dev < 0.015, name + ": frequency off by " + std::to_string(max_dev));
}

int argmax(const std::vector<float> &v) { return int(std::max_element(v.begin(), v.end()) - v.begin()); }

bool throws_invalid(const llm4all_sampler_options &o) {
    try {
        Sampler s(o);
    } catch (const llm4all::Error &e) {
        return e.status() == LLM4ALL_ERR_INVALID_ARGUMENT;
    }
    return false;
}

} // namespace

int main() {
    const int32_t n = int32_t(kLogits.size());

    // ---- distributions -----------------------------------------------------
    {
        llm4all_sampler_options o = base_options();
        check_distribution("temp 1", o);
        o.temp = 0.5f;
        o.top_k = 4;
        check_distribution("temp 0.5 top_k 4", o);
        o = base_options();
        o.temp = 1.5f;
        o.top_p = 0.8f;
        check_distribution("temp 1.5 top_p 0.8", o);
        o = base_options();
        o.min_p = 0.2f;
        check_distribution("min_p 0.2", o);
        o = base_options();
        o.temp = 0.8f;
        o.top_k = 6;
        o.top_p = 0.9f;
        o.min_p = 0.05f;
        check_distribution("top_k 6 top_p 0.9 min_p 0.05 temp 0.8", o);
        o = base_options();
        o.top_k = 100;  // larger than the vocabulary: no filtering
        o.temp = 2.0f;
        check_distribution("top_k > n_vocab, temp 2", o);
    }

    // ---- repeat penalty (llama.cpp rule: positive logits divided, negative multiplied)
    {
        llm4all_sampler_options o = base_options();
        o.repeat_penalty = 1.5f;
        // Tokens 1 (2.0 -> 1.333) and 7 (-0.5 -> -0.75), accepted twice: counted once.
        check_distribution("repeat_penalty 1.5", o, {1, 7, 1}, {1, 7});
        // A window of 2 forgets the oldest: only 3 and 7 are penalised.
        o.repeat_last_n = 2;
        check_distribution("repeat_penalty window", o, {1, 3, 7}, {3, 7});
        // Greedy: penalising the argmax (2.0 -> 1.333) hands it to token 8 (1.75).
        o = base_options();
        o.temp = 0.0f;
        o.repeat_penalty = 1.5f;
        Sampler s(o);
        check(s.sample(kLogits.data(), n) == 1, "greedy without history picks token 1");
        s.accept(1);
        check(s.sample(kLogits.data(), n) == 8, "greedy with token 1 penalised picks token 8");
        // A negative logit multiplied: with all but one token negative, the penalty
        // pushes a penalised negative token further down, never up.
        const std::vector<float> neg = {-1.0f, -1.2f, -5.0f};
        Sampler s2(o);
        s2.accept(0);  // -1.0 * 1.5 = -1.5 < -1.2
        check(s2.sample(neg.data(), 3) == 1, "negative logit is multiplied by the penalty");
        // repeat_last_n 0: no history at all.
        o.repeat_last_n = 0;
        Sampler s3(o);
        s3.accept(1);
        check(s3.sample(kLogits.data(), n) == 1, "repeat_last_n 0 disables the penalty");
    }

    // ---- greedy equivalents -------------------------------------------------
    {
        const int best = argmax(kLogits);
        llm4all_sampler_options o = base_options();
        o.temp = 0.0f;
        o.top_k = 3;
        o.top_p = 0.5f;
        Sampler g(o);
        bool ok = true;
        for (int i = 0; i < 50; ++i) ok = ok && g.sample(kLogits.data(), n) == best;
        check(ok, "temp 0 is argmax");
        o = base_options();
        o.temp = 5.0f;
        o.top_k = 1;
        Sampler k1(o);
        ok = true;
        for (int i = 0; i < 500; ++i) ok = ok && k1.sample(kLogits.data(), n) == best;
        check(ok, "top_k 1 is argmax at temp 5");
        o = base_options();
        o.temp = 5.0f;
        o.min_p = 1.0f;
        Sampler m1(o);
        ok = true;
        for (int i = 0; i < 500; ++i) ok = ok && m1.sample(kLogits.data(), n) == best;
        check(ok, "min_p 1 is argmax at temp 5");
        o = base_options();
        o.temp = 5.0f;
        o.top_p = 0.0f;
        Sampler p0(o);
        ok = true;
        for (int i = 0; i < 500; ++i) ok = ok && p0.sample(kLogits.data(), n) == best;
        check(ok, "top_p 0 is argmax at temp 5");
        // Ties in greedy go to the lowest id, so results do not depend on sort order.
        const std::vector<float> tie = {0.0f, 3.0f, 1.0f, 3.0f};
        llm4all_sampler_options og = base_options();
        og.temp = 0.0f;
        Sampler tg(og);
        check(tg.sample(tie.data(), 4) == 1, "greedy tie goes to the lowest id");
    }

    // ---- seeds ----------------------------------------------------------------
    {
        auto run = [&](uint64_t seed) {
            llm4all_sampler_options o = base_options();
            o.seed = seed;
            o.temp = 1.0f;
            Sampler s(o);
            std::vector<int32_t> out;
            for (int i = 0; i < 64; ++i) out.push_back(s.sample(kLogits.data(), n));
            return out;
        };
        check(run(7) == run(7), "same seed gives the same draws");
        check(run(7) != run(8), "different seeds give different draws");
    }

    // ---- option validation ------------------------------------------------------
    {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        llm4all_sampler_options o = base_options();
        o.temp = nan;
        check(throws_invalid(o), "NaN temperature rejected");
        o = base_options();
        o.top_p = inf;
        check(throws_invalid(o), "infinite top_p rejected");
        o = base_options();
        o.min_p = nan;
        check(throws_invalid(o), "NaN min_p rejected");
        o = base_options();
        o.repeat_penalty = 0.0f;
        check(throws_invalid(o), "repeat_penalty 0 rejected");
        o = base_options();
        o.repeat_last_n = -1;
        check(throws_invalid(o), "negative repeat_last_n rejected");
        check(!throws_invalid(base_options()), "defaults accepted");
    }

    // ---- log_softmax_at ------------------------------------------------------------
    {
        double z = 0.0;
        for (float l : kLogits) z += std::exp(double(l));
        double worst = 0.0;
        for (int32_t t = 0; t < n; ++t)
            worst = std::max(worst, std::fabs(double(llm4all::log_softmax_at(kLogits.data(), n, t)) -
                                              (double(kLogits[t]) - std::log(z))));
        check(worst < 1e-6, "log_softmax_at matches log(softmax)");
        // Large logits must not overflow.
        const std::vector<float> big = {1000.0f, 999.0f};
        const float lp = llm4all::log_softmax_at(big.data(), 2, 1);
        check(std::isfinite(lp) && std::fabs(lp - float(-1.0 - std::log1p(std::exp(-1.0)))) < 1e-5,
              "log_softmax_at is stable for large logits");
    }

    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
