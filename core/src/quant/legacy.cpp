// legacy.cpp — the original 32-value block types: Q4_0 and Q5_0 (symmetric,
// scale only), Q4_1 and Q5_1 (scale and min), Q8_0. A single pass per block,
// reproducing llama.cpp's reference quantizers exactly (including its
// truncating float -> int8 conversions).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/quantizers.h"
#include "quant/scale_search.h"

namespace llm4all::quant {
namespace {

// llama.cpp converts with a plain C cast to a narrow integer, which x86 compilers
// do through a truncating 32-bit conversion that gives INT32_MIN for NaN and out
// of range values (only NaN/inf inputs get there). Spelled out, so we get the
// same bytes on every target and no undefined behaviour.
inline int32_t trunc_i32(float v) { return v > -2147483904.f && v < 2147483648.f ? int32_t(v) : INT32_MIN; }
inline int8_t trunc_i8(float v) { return int8_t(trunc_i32(v)); }

// Symmetric codes in [0, 2*half): the largest-magnitude value maps to code 0
// (so its sign decides the scale's sign). Returns the scale.
float symmetric_codes(const float *x, int half, uint8_t *q) {
    const float max = largest_magnitude(QK, x);
    const float d = max / -half;
    const float id = d ? 1.0f / d : 0.0f;
    const float bias = half + 0.5f;
    for (int j = 0; j < QK; ++j) q[j] = uint8_t(std::min<int>(2 * half - 1, trunc_i8(x[j] * id + bias)));
    return d;
}

// Codes in [0, levels) over [min, max]. Q4_1 clamps through int8 like Q4_0;
// Q5_1 stores the truncated value unclamped (llama.cpp does; it never exceeds 31).
void affine_codes(const float *x, int levels, bool clamp, uint8_t *q, float &d, float &min) {
    min = FLT_MAX;
    float max = -FLT_MAX;
    for (int j = 0; j < QK; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    d = (max - min) / (levels - 1);
    const float id = d ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; ++j) {
        const float v = (x[j] - min) * id + 0.5f;
        q[j] = clamp ? uint8_t(std::min<int>(levels - 1, trunc_i8(v))) : uint8_t(trunc_i32(v));
    }
}

// Low nibbles: value j in the low half of byte j, value j+16 in the high half.
void pack_nibbles(const uint8_t *q, uint8_t *qs) {
    for (int j = 0; j < QK / 2; ++j) qs[j] = uint8_t((q[j] & 0x0f) | (q[j + QK / 2] & 0x0f) << 4);
}

// Fifth bits: bit j of the little-endian 32-bit word is bit 4 of value j.
void pack_fifth_bits(const uint8_t *q, uint8_t *qh) {
    uint32_t bits = 0;
    for (int j = 0; j < QK; ++j) bits |= uint32_t((q[j] >> 4) & 1) << j;
    for (int b = 0; b < 4; ++b) qh[b] = uint8_t(bits >> (8 * b));
}

// Q4_0/Q5_0 (scale only) and Q4_1/Q5_1 (scale and min); the 5-bit types add
// the fifth bits of their codes in qh.
template <typename Block, int Half>
void symmetric_type(const float *x, void *y, int64_t n) {
    auto *out = static_cast<Block *>(y);
    uint8_t q[QK];
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
        out[i].d = f32_to_half(symmetric_codes(x, Half, q));
        pack_nibbles(q, out[i].qs);
        if constexpr (Half == 16) pack_fifth_bits(q, out[i].qh);
    }
}

template <typename Block, int Levels>
void affine_type(const float *x, void *y, int64_t n) {
    auto *out = static_cast<Block *>(y);
    uint8_t q[QK];
    float d, min;
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
        affine_codes(x, Levels, Levels == 16, q, d, min);
        out[i].d = f32_to_half(d);
        out[i].m = f32_to_half(min);
        pack_nibbles(q, out[i].qs);
        if constexpr (Levels == 32) pack_fifth_bits(q, out[i].qh);
    }
}

} // namespace

void quantize_q4_0(const float *x, void *y, int64_t n) { symmetric_type<BlockQ4_0, 8>(x, y, n); }
void quantize_q5_0(const float *x, void *y, int64_t n) { symmetric_type<BlockQ5_0, 16>(x, y, n); }
void quantize_q4_1(const float *x, void *y, int64_t n) { affine_type<BlockQ4_1, 16>(x, y, n); }
void quantize_q5_1(const float *x, void *y, int64_t n) { affine_type<BlockQ5_1, 32>(x, y, n); }

void quantize_q8_0(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockQ8_0 *>(y);
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
        float amax = 0;
        // Written as llama.cpp's MAX macro so a NaN propagates the same way.
        for (int j = 0; j < QK; ++j) amax = amax > std::fabs(x[j]) ? amax : std::fabs(x[j]);
        const float d = amax / 127;
        const float id = d ? 1.0f / d : 0.0f;
        out[i].d = f32_to_half(d);
        for (int j = 0; j < QK; ++j) out[i].qs[j] = trunc_i8(std::round(x[j] * id));
    }
}

} // namespace llm4all::quant
