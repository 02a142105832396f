// quants.h — the quantized types as the CPU backend sees them (block layouts
// come from the core's quant/blocks.h), exact fp16/bf16
// conversions, dequantization of whole rows, and the activation quantizers
// (Q8_0, Q8_1, Q8_K, F16, BF16) that mul_mat feeds its dot products with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/blocks.h"

#ifdef __F16C__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

// Weight block layouts (BlockQ4_0 .. BlockIQ4_XS, QK, QK_K) come from the core.

// Activation blocks (our own, in memory only). Scales are kept as float, but
// already rounded through fp16 exactly as llama.cpp stores them, so the dot
// products see the same numbers llama.cpp's do.
struct ActQ8_0 { float d; int8_t qs[QK]; };
struct ActQ8_1 { float d, s; int8_t qs[QK]; }; // s = d * sum(qs)
// llama.cpp's block_q8_K: a float scale (not rounded through fp16) and the sums
// of every 16 quants, which the K-quant dots multiply with the weights' mins.
struct ActQ8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

// Exact IEEE half -> single (every half is representable; NaN payloads kept,
// though the hardware path quiets signalling NaNs).
inline float fp16_to_f32(uint16_t h) {
#ifdef __F16C__
    return _cvtsh_ss(h);
#endif
    uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { // subnormal: normalise the mantissa
        int e = -1;
        do { man <<= 1; ++e; } while (!(man & 0x400));
        bits = sign | uint32_t(112 - e) << 23 | ((man & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Single -> half, round to nearest even (what F16C and llama.cpp do).
inline uint16_t f32_to_fp16(float f) {
#ifdef __F16C__
    return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
#endif
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return uint16_t(sign | 0x7e00 | ((ax >> 13) & 0x3ff)); // NaN, kept quiet
    if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00);                      // overflow -> inf
    if (ax < 0x38800000u) { // result is subnormal or zero
        if (ax < 0x33000000u) return uint16_t(sign);  // below half the smallest subnormal
        uint32_t e = ax >> 23, man = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; // 14..24
        uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) ++q;
        return uint16_t(sign | q);
    }
    uint32_t q = ((ax >> 13) - (112u << 10)), rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) ++q; // carry into the exponent is correct
    return uint16_t(sign | q);
}

inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even, NaN forced quiet (as the gguf package and llama.cpp do).
inline uint16_t f32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 64);
    return uint16_t((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

// Activations of 8 tokens interleaved for the prompt-batch tile kernels
// (dot.cpp tile_dot): per 4 consecutive values one dword per token, so a
// broadcast dword of weights times one vector yields 8 tokens' partial sums
// with no horizontal reduction. One struct per activation block.
constexpr int TILE_TOK = 8;
struct GroupQ8_0 {
    int8_t qs[QK / 4][TILE_TOK][4];
    float d[TILE_TOK];
    int32_t sum[TILE_TOK]; // sum of the token's 32 quants: offsets of unsigned weights subtract off * sum
};
// Q8_1 for the Q4_1/Q5_1 tiles: their weights are unsigned already, so no sum of
// quants is needed, only each token's s = d * sum (the min's partner).
struct GroupQ8_1 {
    int8_t qs[QK / 4][TILE_TOK][4];
    float d[TILE_TOK];
    float s[TILE_TOK];
};
struct GroupQ8_K {
    int8_t qs[QK_K / 4][TILE_TOK][4];
    float d[TILE_TOK];
    int16_t bsums[QK_K / 32][TILE_TOK][2]; // bsums 2m and 2m+1 of each token side by side, for one madd
};
// Interleaves tokens [0, n_tok) (n_tok <= TILE_TOK; missing tokens are zero) of
// Q8_0 / Q8_K / Q8_1 activation rows act_stride bytes apart, n values each, into dst.
void pack_group_q8_0(const uint8_t *act, size_t act_stride, int n_tok, int64_t n, GroupQ8_0 *dst);
void pack_group_q8_K(const uint8_t *act, size_t act_stride, int n_tok, int64_t n, GroupQ8_K *dst);
void pack_group_q8_1(const uint8_t *act, size_t act_stride, int n_tok, int64_t n, GroupQ8_1 *dst);

// Whether dequantize_row / mul_mat / get_rows handle this type.
bool type_supported(int32_t type);
// Elements per block (1 for F32/F16/BF16, 32 or 256 for the quantized types).
int64_t type_block_size(int32_t type);
// Bytes of one row of n elements (n a multiple of the block size), 0 if unknown.
size_t type_row_bytes(int32_t type, int64_t n);

// y[0..n) = dequant(row); bit-identical to gguf.quants.dequantize.
void dequantize_row(int32_t type, const void *row, float *y, int64_t n);

// Activation rows for the dot products (n a multiple of 32 for the Q8 forms).
void quantize_row_q8_0(const float *x, ActQ8_0 *y, int64_t n);
void quantize_row_q8_1(const float *x, ActQ8_1 *y, int64_t n);
void quantize_row_q8_K(const float *x, ActQ8_K *y, int64_t n); // n a multiple of 256
void convert_row_f16(const float *x, uint16_t *y, int64_t n);
void convert_row_bf16(const float *x, uint16_t *y, int64_t n);

} // namespace llm4all::cpu
