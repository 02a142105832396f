// kquants.cpp — the K-quant super-blocks (256 values): Q2_K, Q3_K (16-value
// sub-blocks with 4/6-bit scales), Q4_K, Q5_K (32-value sub-blocks with 6-bit
// scales and mins) and Q6_K. Each sub-block's scale comes from a search in
// scale_search.cpp; the scales are then quantized against the super-block's
// fp16 scale and every value is re-coded with the scale it will really be read
// with, exactly as llama.cpp's reference quantizers do.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/quantizers.h"
#include "quant/scale_search.h"

namespace llm4all::quant {
namespace {

int clamp_int(int v, int lo, int hi) { return std::max(lo, std::min(hi, v)); }

// 2-bit codes, four values 32 apart per byte, in runs of 128 values (Q2_K, Q3_K).
void pack_crumbs(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = uint8_t(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

// Q4_K and Q5_K share everything but the code width and search settings: eight
// 32-value sub-blocks, each with an affine fit whose scale and min are then
// quantized to 6 bits against the largest ones (stored as d and dmin). Writes
// the packed scales and d/dmin, and the final codes L[0..256) in [0, nmax].
template <typename Block>
void affine_super_block(const float *x, int nmax, float rmin, int nstep, Block &b, uint8_t *L) {
    float scales[QK_K / 32], mins[QK_K / 32], weights[QK_K];
    for (int j = 0; j < QK_K / 32; ++j) {
        const float *xs = x + 32 * j;
        // Weights favour large values, floored by the sub-block's RMS.
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[32 * j + l] = av_x + std::fabs(xs[l]);
    }
    search_affine(QK_K / 32, 32, nmax, x, weights, L, scales, mins, rmin, 0.1f, nstep, false);
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        // The 8-bit truncation before the clamp is llama.cpp's; kept for identity.
        const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
        const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
        if (j < 4) { // low 6 bits in bytes 0-3 (scales) and 4-7 (mins)
            b.scales[j] = ls;
            b.scales[j + 4] = lm;
        } else { // low nibbles in bytes 8-11, top two bits in bits 6-7 of bytes 0-7
            b.scales[j + 4] = uint8_t((ls & 0xf) | (lm & 0xf) << 4);
            b.scales[j - 4] |= uint8_t((ls >> 4) << 6);
            b.scales[j] |= uint8_t((lm >> 4) << 6);
        }
    }
    b.d = f32_to_half(max_scale / 63.f);
    b.dmin = f32_to_half(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        int sc, m;
        k_scale_min(b.scales, j, sc, m);
        const float d = half_to_f32(b.d) * sc;
        if (!d) continue; // keep the search's codes
        const float dm = half_to_f32(b.dmin) * m;
        for (int l = 0; l < 32; ++l) L[32 * j + l] = uint8_t(clamp_int(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
    }
}

} // namespace

void quantize_q2_k(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockQ2_K *>(y);
    uint8_t L[QK_K];
    float scales[QK_K / 16], mins[QK_K / 16], weights[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        BlockQ2_K &b = out[i];
        for (int l = 0; l < QK_K; ++l) weights[l] = std::fabs(x[l]);
        search_affine(QK_K / 16, 16, 3, x, weights, L, scales, mins, -0.5f, 0.1f, 15, true);
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        // 4-bit scale codes in the low nibbles, 4-bit min codes in the high ones.
        std::memset(b.scales, 0, sizeof b.scales);
        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) b.scales[j] = uint8_t(nearest_int(iscale * scales[j]));
        }
        b.d = f32_to_half(max_scale > 0 ? max_scale / 15.f : 0.f);
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int j = 0; j < QK_K / 16; ++j) b.scales[j] |= uint8_t(uint32_t(nearest_int(iscale * mins[j])) << 4);
        }
        b.dmin = f32_to_half(max_min > 0 ? max_min / 15.f : 0.f);
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = half_to_f32(b.d) * (b.scales[j] & 0xf);
            if (!d) continue;
            const float dm = half_to_f32(b.dmin) * (b.scales[j] >> 4);
            for (int l = 0; l < 16; ++l) L[16 * j + l] = uint8_t(clamp_int(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
        }
        pack_crumbs(L, b.qs);
    }
}

void quantize_q3_k(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockQ3_K *>(y);
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        BlockQ3_K &b = out[i];
        for (int j = 0; j < QK_K / 16; ++j) scales[j] = search_symmetric_refine(16, 4, x + 16 * j, L + 16 * j);
        const float max_scale = largest_magnitude(QK_K / 16, scales);
        // Signed 6-bit scale codes: low nibbles in bytes 0-7, top two bits in 8-11.
        std::memset(b.scales, 0, sizeof b.scales);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                const int8_t raw = int8_t(nearest_int(iscale * scales[j])); // llama.cpp narrows first
                const int l = clamp_int(raw, -32, 31) + 32;
                b.scales[j % 8] |= uint8_t((l & 0xf) << (4 * (j / 8)));
                b.scales[8 + j % 4] |= uint8_t((l >> 4) << (2 * (j / 4)));
            }
            b.d = f32_to_half(1 / iscale);
        } else {
            b.d = f32_to_half(0.f);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = half_to_f32(b.d) * q3_k_scale(b.scales, j);
            if (!d) continue;
            for (int l = 0; l < 16; ++l) L[16 * j + l] = int8_t(clamp_int(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
        }
        // Bit 2 of code j goes to bit j/32 of hmask[j%32]; the low two bits are packed.
        std::memset(b.hmask, 0, sizeof b.hmask);
        for (int j = 0; j < QK_K; ++j) {
            if (L[j] > 3) {
                b.hmask[j % 32] |= uint8_t(1 << (j / 32));
                L[j] = int8_t(L[j] - 4);
            }
        }
        pack_crumbs(reinterpret_cast<const uint8_t *>(L), b.qs);
    }
}

void quantize_q4_k(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockQ4_K *>(y);
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        affine_super_block(x, 15, -1.f, 20, out[i], L);
        for (int j = 0; j < QK_K; j += 64)
            for (int l = 0; l < 32; ++l) out[i].qs[j / 2 + l] = uint8_t(L[j + l] | L[j + l + 32] << 4);
    }
}

void quantize_q5_k(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockQ5_K *>(y);
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        BlockQ5_K &b = out[i];
        affine_super_block(x, 31, -0.5f, 15, b, L);
        // Low nibbles as in Q4_K; the fifth bit of value 64k+l (l < 32) is bit 2k
        // of qh[l], of value 64k+32+l bit 2k+1.
        std::memset(b.qh, 0, sizeof b.qh);
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[j + l], hi = L[j + l + 32];
                b.qh[l] |= uint8_t((lo >> 4) << (j / 32) | (hi >> 4) << (j / 32 + 1));
                b.qs[j / 2 + l] = uint8_t((lo & 0xf) | (hi & 0xf) << 4);
            }
        }
    }
}

void quantize_q6_k(const float *x, void *y, int64_t n) {
    auto *out = static_cast<BlockQ6_K *>(y);
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        BlockQ6_K &b = out[i];
        for (int j = 0; j < QK_K / 16; ++j) scales[j] = search_symmetric(16, 32, x + 16 * j, L + 16 * j);
        float max_abs_scale;
        const float max_scale = largest_magnitude(QK_K / 16, scales, &max_abs_scale);
        if (max_abs_scale < GROUP_EPS) { // an all-zero super-block
            std::memset(&b, 0, sizeof b);
            continue;
        }
        const float iscale = -128.f / max_scale;
        b.d = f32_to_half(1 / iscale);
        for (int j = 0; j < QK_K / 16; ++j) b.scales[j] = int8_t(std::min(127, nearest_int(iscale * scales[j])));
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = half_to_f32(b.d) * b.scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; ++l) L[16 * j + l] = int8_t(clamp_int(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }
        // Per 128 values: low nibbles of values l and l+64 share ql[l], of l+32 and
        // l+96 share ql[l+32]; the four top-bit pairs of l, l+32, l+64, l+96 fill qh[l].
        for (int j = 0; j < QK_K; j += 128) {
            uint8_t *ql = b.ql + j / 2, *qh = b.qh + j / 4;
            for (int l = 0; l < 32; ++l) {
                const int q0 = L[j + l], q1 = L[j + l + 32], q2 = L[j + l + 64], q3 = L[j + l + 96];
                ql[l] = uint8_t((q0 & 0xf) | (q2 & 0xf) << 4);
                ql[l + 32] = uint8_t((q1 & 0xf) | (q3 & 0xf) << 4);
                qh[l] = uint8_t(q0 >> 4 | (q1 >> 4) << 2 | (q2 >> 4) << 4 | (q3 >> 4) << 6);
            }
        }
    }
}

} // namespace llm4all::quant
