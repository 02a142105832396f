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
constexpr int GROUPS = 4, MAX_N = 32;

// Four lanes of float / int32 (one SSE2 / NEON register; GCC and Clang vector
// extensions: element-wise IEEE operations, so each lane computes exactly what
// the scalar code would).
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));

struct AffineSettings {
    int n, nmax;
    float rmin, rdelta;
    int nstep;
    bool use_mad;
};

inline I4 as_int(F4 v) { return (I4)v; } // same-size vector casts keep the bits
inline F4 as_float(I4 v) { return (F4)v; }
inline I4 nearest_int4(F4 v) { return (as_int(v + 12582912.f) & 0x007fffff) - 0x00400000; }
inline F4 to_float(I4 v) { return __builtin_convertvector(v, F4); }
inline F4 pick(I4 mask, F4 a, F4 b) { return as_float((mask & as_int(a)) | (~mask & as_int(b))); }

void affine_lanes(const AffineSettings &c, const float *x, const float *weights, uint8_t *L, float *scales,
                  float *mins) {
    const int n = c.n;
    F4 xt[MAX_N] = {}, wt[MAX_N] = {};
    F4 best_codes[MAX_N], trial[MAX_N]; // codes held as floats (exact small integers)
    for (int g = 0; g < GROUPS; ++g)
        for (int i = 0; i < n; ++i) {
            xt[i][g] = x[g * n + i];
            wt[i][g] = weights[g * n + i];
        }
    F4 min = xt[0], max = xt[0], sum_w = wt[0], sum_x = sum_w * xt[0];
    for (int i = 1; i < n; ++i) {
        min = pick(xt[i] < min, xt[i], min);
        max = pick(xt[i] > max, xt[i], max);
        sum_w += wt[i];
        sum_x += wt[i] * xt[i];
    }
    const F4 zero = {}, nmax = zero + float(c.nmax);
    min = pick(min > zero, zero, min);
    const I4 flat = max == min; // all values equal (min capped at 0): codes 0, scale 0
    const F4 flat_min = min;
    // Codes for one iscale per lane, from each lane's current min. nearest_int's
    // result always lies within +-2^22, so clamping it as a float is exact (and
    // SSE2 has float min/max but no 32-bit integer ones).
    auto code_all = [&](F4 iscale, F4 *codes) {
        for (int i = 0; i < n; ++i) {
            const F4 l = to_float(nearest_int4(iscale * (xt[i] - min)));
            codes[i] = pick(l > nmax, nmax, pick(l < zero, zero, l));
        }
    };
    // Weighted error of value = s * code + m per lane (|e| or e^2).
    auto error_all = [&](F4 s, F4 m, const F4 *codes) {
        F4 err = {};
        for (int i = 0; i < n; ++i) {
            F4 diff = s * codes[i] + m - xt[i];
            diff = c.use_mad ? as_float(as_int(diff) & 0x7fffffff) : diff * diff;
            err += wt[i] * diff;
        }
        return err;
    };
    F4 iscale = nmax / (max - min);
    F4 scale = 1 / iscale;
    code_all(iscale, best_codes);
    F4 best = error_all(scale, min, best_codes);
    for (int step = 0; step <= c.nstep; ++step) {
        iscale = (c.rmin + c.rdelta * step + nmax) / (max - min);
        code_all(iscale, trial);
        F4 sum_l = {}, sum_l2 = {}, sum_xl = {};
        for (int i = 0; i < n; ++i) {
            const F4 w = wt[i], l = trial[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * xt[i];
        }
        // Closed-form least-squares scale and offset; a positive offset is not
        // representable, so such a trial refits the scale alone with offset 0.
        const F4 det = sum_w * sum_l2 - sum_l * sum_l;
        F4 t_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        F4 t_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        const I4 positive = t_min > zero;
        t_min = pick(positive, zero, t_min);
        t_scale = pick(positive, sum_xl / sum_l2, t_scale);
        const F4 err = error_all(t_scale, t_min, trial);
        const I4 take = (det > zero) & (err < best);
        bool any = false;
        for (int g = 0; g < GROUPS; ++g) any |= take[g] != 0;
        if (!any) continue;
        best = pick(take, err, best);
        scale = pick(take, t_scale, scale);
        min = pick(take, t_min, min);
        for (int i = 0; i < n; ++i) best_codes[i] = pick(take, trial[i], best_codes[i]);
    }
    for (int g = 0; g < GROUPS; ++g) {
        mins[g] = -(flat[g] ? flat_min[g] : min[g]);
        scales[g] = flat[g] ? 0.f : scale[g];
        for (int i = 0; i < n; ++i) L[g * n + i] = flat[g] ? 0 : uint8_t(best_codes[i][g]);
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
