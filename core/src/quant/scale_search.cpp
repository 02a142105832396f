// scale_search.cpp — the K-quants' sub-block scale searches (see scale_search.h).
// The float expressions keep llama.cpp's evaluation order exactly: the files we
// write are compared byte for byte with its quantizer, so a reassociated sum or a
// fused multiply-add would show up as a different code somewhere.
#include "quant/scale_search.h"

#include <algorithm>
#include <cmath>

namespace llm4all::quant {
namespace {

int clamp_int(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

// The signed largest-magnitude value, or 0 with L cleared for an all-zero group.
float group_max(int n, const float *x, int8_t *L) {
    float amax;
    const float max = largest_magnitude(n, x, &amax);
    if (amax < GROUP_EPS) {
        std::memset(L, 0, size_t(n));
        return 0;
    }
    return max;
}

} // namespace

float search_symmetric(int n, int nmax, const float *x, int8_t *L) {
    const float max = group_max(n, x, L);
    if (max == 0) return 0.f;
    // Trial 0 is iscale = -nmax/max, trials 1..18 are -(nmax + 0.1 k)/max for
    // k = -9..9 without 0. All are fitted in one pass over x, each trial with its
    // own sums in llama.cpp's order (so the lanes vectorize, the results do not change).
    constexpr int TRIALS = 20; // 19 used, padded for the vector lanes
    float iscale[TRIALS], sumlx[TRIALS] = {}, suml2[TRIALS] = {};
    for (int t = 0; t < TRIALS; ++t) {
        const int k = t <= 9 ? t - 10 : t - 9;
        iscale[t] = t == 0 ? -nmax / max : -(nmax + 0.1f * k) / max;
    }
    for (int i = 0; i < n; ++i) {
        const float xi = x[i], w = xi * xi;
        for (int t = 0; t < TRIALS; ++t) {
            const int l = clamp_int(nearest_int(iscale[t] * xi), -nmax, nmax - 1);
            sumlx[t] += w * xi * l;
            suml2[t] += w * l * l;
        }
    }
    int chosen = 0;
    float scale = suml2[0] ? sumlx[0] / suml2[0] : 0.0f;
    float best = scale * sumlx[0];
    for (int t = 1; t <= 18; ++t) {
        if (suml2[t] > 0 && sumlx[t] * sumlx[t] > best * suml2[t]) {
            chosen = t;
            scale = sumlx[t] / suml2[t];
            best = scale * sumlx[t];
        }
    }
    for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + clamp_int(nearest_int(iscale[chosen] * x[i]), -nmax, nmax - 1));
    return scale;
}

float search_symmetric_refine(int n, int nmax, const float *x, int8_t *L) {
    const float max = group_max(n, x, L);
    if (max == 0) return 0.f;
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = int8_t(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    // Move one code at a time to its best value given all the others; keep the
    // move only if it improves the fitted error (sumlx^2 / suml2 grows).
    for (int sweep = 0; sweep < 5; ++sweep) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            const int l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (l == L[i]) continue;
            slx += w * x[i] * l;
            sl2 += w * l * l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = int8_t(l);
                sumlx = slx;
                suml2 = sl2;
                ++changed;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

namespace {

// search_affine for GROUPS groups at once, one per lane: every lane performs
// exactly the scalar search's operations on its own group (transposed so the
// lane loops vectorize), and a trial that wins in one lane is blended into that
// lane only. Each group's trials still depend on its earlier winners (a winning
// trial moves the min the next trials start from), which is why the lanes run
// across groups rather than across trials.
constexpr int GROUPS = 8, MAX_N = 32;

struct AffineSettings {
    int n, nmax;
    float rmin, rdelta;
    int nstep;
    bool use_mad;
};

void affine_lanes(const AffineSettings &c, const float *x, const float *weights, uint8_t *L, float *scales,
                  float *mins) {
    const int n = c.n;
    float xt[MAX_N][GROUPS], wt[MAX_N][GROUPS];
    uint8_t best_codes[MAX_N][GROUPS], trial[MAX_N][GROUPS];
    for (int g = 0; g < GROUPS; ++g)
        for (int i = 0; i < n; ++i) {
            xt[i][g] = x[g * n + i];
            wt[i][g] = weights[g * n + i];
        }
    float min[GROUPS], max[GROUPS], sum_w[GROUPS], sum_x[GROUPS], scale[GROUPS], best[GROUPS];
    for (int g = 0; g < GROUPS; ++g) {
        min[g] = max[g] = xt[0][g];
        sum_w[g] = wt[0][g];
        sum_x[g] = sum_w[g] * xt[0][g];
    }
    for (int i = 1; i < n; ++i)
        for (int g = 0; g < GROUPS; ++g) {
            min[g] = xt[i][g] < min[g] ? xt[i][g] : min[g];
            max[g] = xt[i][g] > max[g] ? xt[i][g] : max[g];
            sum_w[g] += wt[i][g];
            sum_x[g] += wt[i][g] * xt[i][g];
        }
    // Codes for one iscale per lane, from each lane's current min.
    auto code_all = [&](const float *iscale, uint8_t (*codes)[GROUPS]) {
        for (int i = 0; i < n; ++i)
            for (int g = 0; g < GROUPS; ++g)
                codes[i][g] = uint8_t(clamp_int(nearest_int(iscale[g] * (xt[i][g] - min[g])), 0, c.nmax));
    };
    // Weighted error of value = s * code + m per lane (|e| or e^2).
    auto error_all = [&](const float *s, const float *m, uint8_t (*codes)[GROUPS], float *err) {
        for (int g = 0; g < GROUPS; ++g) err[g] = 0;
        for (int i = 0; i < n; ++i)
            for (int g = 0; g < GROUPS; ++g) {
                float diff = s[g] * codes[i][g] + m[g] - xt[i][g];
                diff = c.use_mad ? std::fabs(diff) : diff * diff;
                err[g] += wt[i][g] * diff;
            }
    };
    float iscale[GROUPS], flat_min[GROUPS];
    bool flat[GROUPS]; // all values equal (after the min is capped at 0): codes 0, scale 0
    for (int g = 0; g < GROUPS; ++g) {
        if (min[g] > 0) min[g] = 0;
        flat[g] = max[g] == min[g];
        flat_min[g] = min[g];
        iscale[g] = c.nmax / (max[g] - min[g]);
        scale[g] = 1 / iscale[g];
    }
    code_all(iscale, best_codes);
    error_all(scale, min, best_codes, best);
    for (int step = 0; step <= c.nstep; ++step) {
        float sum_l[GROUPS] = {}, sum_l2[GROUPS] = {}, sum_xl[GROUPS] = {};
        for (int g = 0; g < GROUPS; ++g) iscale[g] = (c.rmin + c.rdelta * step + c.nmax) / (max[g] - min[g]);
        code_all(iscale, trial);
        for (int i = 0; i < n; ++i)
            for (int g = 0; g < GROUPS; ++g) {
                const float w = wt[i][g];
                const int l = trial[i][g];
                sum_l[g] += w * l;
                sum_l2[g] += w * l * l;
                sum_xl[g] += w * l * xt[i][g];
            }
        // Closed-form least-squares scale and offset; a positive offset is not
        // representable, so such a trial refits the scale alone with offset 0.
        float t_scale[GROUPS], t_min[GROUPS], err[GROUPS];
        bool fit[GROUPS];
        for (int g = 0; g < GROUPS; ++g) {
            const float det = sum_w[g] * sum_l2[g] - sum_l[g] * sum_l[g];
            fit[g] = det > 0;
            t_scale[g] = (sum_w[g] * sum_xl[g] - sum_x[g] * sum_l[g]) / det;
            t_min[g] = (sum_l2[g] * sum_x[g] - sum_l[g] * sum_xl[g]) / det;
            if (t_min[g] > 0) {
                t_min[g] = 0;
                t_scale[g] = sum_xl[g] / sum_l2[g];
            }
        }
        error_all(t_scale, t_min, trial, err);
        bool take[GROUPS], any = false;
        for (int g = 0; g < GROUPS; ++g) {
            take[g] = fit[g] && err[g] < best[g];
            any |= take[g];
            if (!take[g]) continue;
            best[g] = err[g];
            scale[g] = t_scale[g];
            min[g] = t_min[g];
        }
        if (!any) continue;
        for (int i = 0; i < n; ++i)
            for (int g = 0; g < GROUPS; ++g) best_codes[i][g] = take[g] ? trial[i][g] : best_codes[i][g];
    }
    for (int g = 0; g < GROUPS; ++g) {
        mins[g] = -(flat[g] ? flat_min[g] : min[g]);
        scales[g] = flat[g] ? 0.f : scale[g];
        for (int i = 0; i < n; ++i) L[g * n + i] = flat[g] ? 0 : best_codes[i][g];
    }
}

} // namespace

void search_affine(int groups, int n, int nmax, const float *x, const float *weights, uint8_t *L, float *scales,
                   float *mins, float rmin, float rdelta, int nstep, bool use_mad) {
    const AffineSettings c{n, nmax, rmin, rdelta, nstep, use_mad};
    for (int g = 0; g < groups; g += GROUPS)
        affine_lanes(c, x + g * n, weights + g * n, L + g * n, scales + g, mins + g);
}

} // namespace llm4all::quant
