// iq4.cpp — IQ4_NL (32-value blocks, one fp16 scale) and IQ4_XS (256-value
// super-blocks, 6-bit sub-block scales): every value becomes the index of the
// nearest of 16 fixed non-linear levels. Reproduces what llama.cpp's file
// quantizer does without an importance matrix (its 7-step scale search, not the
// search-free variant behind quantize_row_iq4_nl_ref).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/quantizers.h"
#include "quant/scale_search.h"

namespace llm4all::quant {
namespace {

constexpr int SCALE_STEPS = 7; // scales tried on each side of max / level[0]

// For each integer f in [-127, 112], the last level k <= 14 with level[k] <= f.
// The levels are integers, so for a real v in that range level[k] <= v exactly
// when level[k] <= floor(v): a table replaces llama.cpp's binary search.
struct LevelBelow {
    uint8_t k[240];
    constexpr LevelBelow() : k() {
        for (int f = -127; f <= 112; ++f) {
            int lo = 0;
            while (lo < 14 && IQ4_LEVELS[lo + 1] <= f) ++lo;
            k[f + 127] = uint8_t(lo);
        }
    }
};
constexpr LevelBelow LEVEL_BELOW;

// Index of the level nearest v, the same index llama.cpp's search returns for
// every float (ties and NaN included: a NaN ends on the last level).
inline int nearest_level(float v) {
    const int8_t *lv = IQ4_LEVELS;
    if (v <= lv[0]) return 0;
    if (!(v < lv[15])) return 15;
    int f = int(v); // truncation; step down for negative non-integers to get floor
    f -= f > v;
    const int lo = LEVEL_BELOW.k[f + 127];
    return v - lv[lo] < lv[lo + 1] - v ? lo : lo + 1;
}

// The best scale for one 32-value sub-block, weighted by x^2, with codes in L.
// Tries the scale that maps the largest-magnitude value to the end level and
// 2 * SCALE_STEPS + 1 neighbours, each refit by weighted least squares.
float sub_block_scale(const float *x, uint8_t *L) {
    float amax;
    const float max = largest_magnitude(32, x, &amax);
    if (amax < GROUP_EPS) return 0; // L is rewritten by the caller in this case
    auto fit = [&](float id, float &sumqx, float &sumq2, uint8_t *codes) {
        sumqx = sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const int l = nearest_level(id * x[j]);
            if (codes) codes[j] = uint8_t(l);
            const float q = IQ4_LEVELS[l], w = x[j] * x[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
    };
    float sumqx, sumq2;
    fit(1 / (-max / IQ4_LEVELS[0]), sumqx, sumq2, L);
    float d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int step = -SCALE_STEPS; step <= SCALE_STEPS; ++step) {
        fit((step + IQ4_LEVELS[0]) / max, sumqx, sumq2, nullptr);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

// Codes of n values under scale d (index 0 when d is 0).
void code_values(const float *x, int n, float d, uint8_t *L) {
    const float id = d ? 1 / d : 0.f;
    for (int j = 0; j < n; ++j) L[j] = uint8_t(nearest_level(id * x[j]));
}

// Nibble packing per 32 values: value j low, value j+16 high (as Q4_0).
void pack_codes(const uint8_t *L, int n, uint8_t *qs) {
    for (int b = 0; b < n / 32; ++b)
        for (int j = 0; j < 16; ++j) qs[16 * b + j] = uint8_t(L[32 * b + j] | L[32 * b + 16 + j] << 4);
}

} // namespace

void quantize_iq4_nl(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockIQ4_NL *>(y);
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
        const float d = sub_block_scale(x, L);
        out[i].d = f32_to_half(d);
        code_values(x, QK, d, L); // recoded with the unrounded scale, as llama.cpp does
        pack_codes(L, QK, out[i].qs);
    }
}

void quantize_iq4_xs(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockIQ4_XS *>(y);
    uint8_t L[QK_K];
    float scales[QK_K / 32];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        BlockIQ4_XS &b = out[i];
        for (int s = 0; s < QK_K / 32; ++s) scales[s] = sub_block_scale(x + 32 * s, L + 32 * s);
        const float max_scale = largest_magnitude(QK_K / 32, scales);
        // Signed 6-bit sub-block scales against d = -max/32 (note: -0 when all are
        // zero, which llama.cpp stores as fp16 0x8000); codes recomputed with them.
        const float d = -max_scale / 32;
        b.d = f32_to_half(d);
        const float id = d ? 1 / d : 0.f;
        b.scales_h = 0;
        std::memset(b.scales_l, 0, sizeof b.scales_l);
        for (int s = 0; s < QK_K / 32; ++s) {
            const int l = std::max(-32, std::min(31, nearest_int(id * scales[s])));
            code_values(x + 32 * s, 32, d * l, L + 32 * s);
            b.scales_l[s / 2] |= uint8_t(((l + 32) & 0xf) << (4 * (s % 2)));
            b.scales_h |= uint16_t(((l + 32) >> 4) << (2 * s));
        }
        pack_codes(L, QK_K, b.qs);
    }
}

} // namespace llm4all::quant
