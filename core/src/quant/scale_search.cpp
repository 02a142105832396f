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
    // Weighted least squares: sum w x l and sum w l^2 with w = x^2 for one iscale.
    auto fit = [&](float iscale, float &sumlx, float &suml2) {
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
    };
    auto assign = [&](float iscale) {
        for (int i = 0; i < n; ++i) L[i] = int8_t(nmax + clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1));
    };
    float iscale = -nmax / max, sumlx, suml2;
    assign(iscale);
    fit(iscale, sumlx, suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        fit(iscale, sumlx, suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            assign(iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
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

float search_affine(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *min_out,
                    float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::memset(L, 0, size_t(n));
        *min_out = -min;
        return 0.f;
    }
    auto error_of = [&](float scale, float offset, const uint8_t *codes) {
        float err = 0;
        for (int i = 0; i < n; ++i) {
            float diff = scale * codes[i] + offset - x[i];
            diff = use_mad ? std::fabs(diff) : diff * diff;
            err += weights[i] * diff;
        }
        return err;
    };
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; ++i) L[i] = uint8_t(clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax));
    float best_error = error_of(scale, min, L);
    uint8_t trial[256];
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            trial[i] = uint8_t(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        // Closed-form least-squares scale and offset for these codes; a positive
        // offset is not representable, so refit the scale alone with offset 0.
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (!(det > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        const float err = error_of(this_scale, this_min, trial);
        if (err < best_error) {
            std::memcpy(L, trial, size_t(n));
            best_error = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *min_out = -min;
    return scale;
}

} // namespace llm4all::quant
