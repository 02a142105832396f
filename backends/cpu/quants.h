// quants.h — block layouts of the quantized tensor types, exact fp16/bf16
// conversions, dequantization of whole rows, and the activation quantizers
// (Q8_0, Q8_1, Q8_K, F16, BF16) that mul_mat feeds its dot products with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#ifdef __F16C__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

constexpr int QK = 32; // elements per block of every quant type but the K ones and IQ4_XS

// Weight blocks, byte-for-byte as GGUF stores them. fp16 fields are raw bits.
struct BlockQ4_0 { uint16_t d; uint8_t qs[QK / 2]; };                 // x = d * (q - 8)
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[QK / 2]; };              // x = d * q + m
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; };  // x = d * (q - 16)
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[QK]; };                       // x = d * q
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
                  sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34,
              "block layouts must match GGUF");

// K-quant "super-blocks" of 256 values: sub-blocks of 16 or 32 values with small
// integer scales (and mins) under one fp16 scale. Layouts as GGUF stores them.
constexpr int QK_K = 256;
struct BlockQ2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };           // x = d*s*q - dmin*m
struct BlockQ3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; }; // x = d*(s-32)*(q-4*!h)
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };           // x = d*s*q - dmin*m
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };  // x = d*s*(q-32)
// Non-linear 4-bit types: the nibble indexes a fixed table of 16 levels.
struct BlockIQ4_NL { uint16_t d; uint8_t qs[QK / 2]; };                                  // x = d*kv[q]
struct BlockIQ4_XS { uint16_t d, scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
                  sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockIQ4_NL) == 18 &&
                  sizeof(BlockIQ4_XS) == 136,
              "K-quant and IQ4 block layouts must match GGUF");

// The 16 levels of IQ4_NL / IQ4_XS (GGUF's kvalues_iq4nl).
alignas(16) inline constexpr int8_t IQ4_LEVELS[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                      1,    13,   25,  38,  53,  69,  89,  113};

// The 6-bit scale j and min j (j < 8) of a Q4_K/Q5_K super-block's 12 packed bytes.
inline void k_scale_min(const uint8_t *s, int j, int &sc, int &m) {
    if (j < 4) {
        sc = s[j] & 63;
        m = s[j + 4] & 63;
    } else {
        sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}
// The signed 6-bit scale k (k < 16) of a Q3_K super-block's 12 packed bytes.
inline int q3_k_scale(const uint8_t *s, int k) {
    const int lo = (s[k % 8] >> (4 * (k / 8))) & 0x0f, hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (lo | hi << 4) - 32;
}
// The signed 6-bit scale k (k < 8) of an IQ4_XS super-block.
inline int iq4_xs_scale(const BlockIQ4_XS &b, int k) {
    const int lo = (b.scales_l[k / 2] >> (4 * (k % 2))) & 0x0f, hi = (b.scales_h >> (2 * k)) & 3;
    return (lo | hi << 4) - 32;
}

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
