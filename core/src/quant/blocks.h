// blocks.h — byte layouts of GGUF's quantized block types and accessors for
// their packed scales. Shared by the quantizers in the core (which write these
// blocks) and the CPU backend (which reads them), so the layout lives once.
#pragma once

#include <cstdint>

namespace llm4all {

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

} // namespace llm4all
