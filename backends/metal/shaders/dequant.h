// dequant.h — the one place where the Metal kernels know GGUF's weight block layouts
// (byte for byte as core/src/quant/blocks.h; the same functions as
// vulkan/shaders/dequant.glsl): dequant4() unpacks four consecutive values of a block,
// dq_row4() four values of a row of any type. Included by mul_mat_vec.metal,
// mul_mat_mm.metal and get_rows.metal; the includer defines one TYPE_<T>=1.
//
// Metal has no global buffers, so where the GLSL reads DQ_WORDS every function here
// takes the weight buffer `w` as its first argument. Weights are read as 32-bit words
// with byte arithmetic, as in the GLSL: blocks are 18, 22, 34, 110, 210... bytes long,
// so fields sit at any byte offset; every fp16 field sits at an even offset (every
// block size is even), so a 16-bit read never straddles two words; quant bytes may,
// and dq_u32 joins two words.
//
// Arithmetic follows the CPU reference's dequantize_row (backends/cpu/quants.cpp):
// K types scale by the float product d*s first, then subtract d_min*m.
#ifndef LLM4ALL_METAL_DEQUANT_H
#define LLM4ALL_METAL_DEQUANT_H

#include "common.h"

#define DQ_W device const uint *w

// 4 bytes starting at byte b, any alignment, little-endian.
inline uint dq_u32(DQ_W, uint b) {
    const uint i = b >> 2u, s = (b & 3u) * 8u;
    // The second word only when the bytes straddle it: after an aligned read it may
    // lie past the end of the buffer.
    const uint lo = w[i];
    if (s == 0u) return lo;
    return (lo >> s) | (w[i + 1u] << (32u - s));
}
inline uint dq_u8(DQ_W, uint b) { return (w[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
// 16 bits at an even byte offset.
inline uint dq_u16(DQ_W, uint b) { return (w[b >> 2u] >> ((b & 2u) * 8u)) & 0xffffu; }
inline float dq_f16(DQ_W, uint b) { return float(as_type<half>(ushort(dq_u16(w, b)))); }
// 16 bytes starting at byte b, any alignment: the quants of a 16-value chunk in 4 or
// 5 word loads (a quad at a time takes 4 to 8).
inline uint4 dq_u128(DQ_W, uint b) {
    const uint i = b >> 2u, s = (b & 3u) * 8u;
    const uint4 v = uint4(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
    if (s == 0u) return v;
    return (v >> s) | (uint4(v.y, v.z, v.w, w[i + 4u]) << (32u - s));
}
// The four bytes of u as unsigned / sign-extended values.
inline float4 dq_bytes(uint u) { return float4(as_type<uchar4>(u)); }
inline float4 dq_sbytes(uint u) { return float4(as_type<char4>(u)); }
// Bits 0..3 of h spread to bit 4 of each byte: the fifth bit of 4 Q5 quants.
inline uint dq_high4(uint h) { return ((h & 1u) << 4u) | ((h & 2u) << 11u) | ((h & 4u) << 18u) | ((h & 8u) << 25u); }

#if defined(TYPE_IQ4_NL) || defined(TYPE_IQ4_XS)
// GGUF's kvalues_iq4nl.
constant float DQ_IQ4[16] = {-127.0f, -104.0f, -83.0f, -65.0f, -49.0f, -35.0f, -22.0f, -10.0f,
                             1.0f,    13.0f,   25.0f,  38.0f,  53.0f,  69.0f,  89.0f,  113.0f};
inline float4 dq_iq4(uint u) { // four nibbles, one per byte's low bits
    return float4(DQ_IQ4[u & 0xfu], DQ_IQ4[(u >> 8u) & 0xfu], DQ_IQ4[(u >> 16u) & 0xfu], DQ_IQ4[(u >> 24u) & 0xfu]);
}
#endif

// ---- per type: DQ_QK values per block of DQ_BYTES bytes ------------------------
// Values of a block come in scale groups of DQ_G (16 or 32; 4 for float types) that
// share one scale (and min): dq_scale(w, bb, j) gives the group's factors for value j
// of the block at byte bb, dq_quad(w, bb, j, s) values j..j+3 (j a multiple of 4) from
// them, so a kernel walking a whole group unpacks its scales once. Quantized types
// also have dq_chunk(w, bb, j0, s, v): values j0..j0+15 (j0 a multiple of 16, inside
// one group) into v[0..3] from one 16-byte read per array of quants.
// dequant4(w, bb, q) = values 4q..4q+3, for kernels that take one quad at a time.

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
#define DQ_FLOAT 1
#define DQ_QK 4u // a "block" is 4 values, so rows of any length end mid-block (dq_row4 checks)
#define DQ_G 4u
inline float2 dq_scale(DQ_W, uint bb, uint j) { return float2(1.0f); }
#if defined(TYPE_F32)
#define DQ_ELEM 4u
inline float dq_one(DQ_W, uint b) { return as_type<float>(dq_u32(w, b)); }
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint b = bb + 4u * j;
    return float4(as_type<float>(dq_u32(w, b)), as_type<float>(dq_u32(w, b + 4u)), as_type<float>(dq_u32(w, b + 8u)),
                  as_type<float>(dq_u32(w, b + 12u)));
}
#elif defined(TYPE_F16)
#define DQ_ELEM 2u
inline float dq_one(DQ_W, uint b) { return dq_f16(w, b); }
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint b = bb + 2u * j;
    return float4(float2(as_type<half2>(dq_u32(w, b))), float2(as_type<half2>(dq_u32(w, b + 4u))));
}
#else
#define DQ_ELEM 2u
inline float dq_one(DQ_W, uint b) { return as_type<float>(dq_u16(w, b) << 16u); }
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint b = bb + 2u * j, u0 = dq_u32(w, b), u1 = dq_u32(w, b + 4u);
    return float4(as_type<float>(u0 << 16u), as_type<float>(u0 & 0xffff0000u), as_type<float>(u1 << 16u),
                  as_type<float>(u1 & 0xffff0000u));
}
#endif
#define DQ_BYTES (4u * DQ_ELEM)

#elif defined(TYPE_Q4_0) || defined(TYPE_IQ4_NL)
// { fp16 d; u8 qs[16] }: value j < 16 is the low nibble of qs[j], value 16 + j its high nibble.
#define DQ_QK 32u
#define DQ_BYTES 18u
#define DQ_G 32u
inline float2 dq_scale(DQ_W, uint bb, uint j) { return float2(dq_f16(w, bb), 0.0f); }
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint u = (dq_u32(w, bb + 2u + (j & 15u)) >> (j >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
#if defined(TYPE_Q4_0)
    return s.x * (dq_bytes(u) - 8.0f);
#else
    return s.x * dq_iq4(u);
#endif
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint4 u = (dq_u128(w, bb + 2u) >> (j0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    for (uint c = 0u; c < 4u; ++c)
#if defined(TYPE_Q4_0)
        v[c] = s.x * (dq_bytes(u[c]) - 8.0f);
#else
        v[c] = s.x * dq_iq4(u[c]);
#endif
}

#elif defined(TYPE_Q4_1)
// { fp16 d, m; u8 qs[16] }: x = d*q + m.
#define DQ_QK 32u
#define DQ_BYTES 20u
#define DQ_G 32u
inline float2 dq_scale(DQ_W, uint bb, uint j) { return float2(dq_f16(w, bb), dq_f16(w, bb + 2u)); }
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint u = (dq_u32(w, bb + 4u + (j & 15u)) >> (j >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    return s.x * dq_bytes(u) + s.y;
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint4 u = (dq_u128(w, bb + 4u) >> (j0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * dq_bytes(u[c]) + s.y;
}

#elif defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
// Q5_0 { fp16 d; u8 qh[4]; u8 qs[16] }, Q5_1 { fp16 d, m; u8 qh[4]; u8 qs[16] }:
// nibbles as Q4_0, bit j of qh is value j's fifth bit.
#define DQ_QK 32u
#define DQ_G 32u
#if defined(TYPE_Q5_0)
#define DQ_BYTES 22u
#define DQ_QH 2u
inline float2 dq_scale(DQ_W, uint bb, uint j) { return float2(dq_f16(w, bb), 0.0f); }
#else
#define DQ_BYTES 24u
#define DQ_QH 4u
inline float2 dq_scale(DQ_W, uint bb, uint j) { return float2(dq_f16(w, bb), dq_f16(w, bb + 2u)); }
#endif
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    uint u = (dq_u32(w, bb + DQ_QH + 4u + (j & 15u)) >> (j >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    u |= dq_high4(dq_u32(w, bb + DQ_QH) >> j);
#if defined(TYPE_Q5_0)
    return s.x * (dq_bytes(u) - 16.0f);
#else
    return s.x * dq_bytes(u) + s.y;
#endif
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint4 u = (dq_u128(w, bb + DQ_QH + 4u) >> (j0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    const uint h = dq_u32(w, bb + DQ_QH) >> j0;
    for (uint c = 0u; c < 4u; ++c) {
        const float4 q = dq_bytes(u[c] | dq_high4(h >> (4u * c)));
#if defined(TYPE_Q5_0)
        v[c] = s.x * (q - 16.0f);
#else
        v[c] = s.x * q + s.y;
#endif
    }
}

#elif defined(TYPE_Q8_0)
// { fp16 d; i8 qs[32] }
#define DQ_QK 32u
#define DQ_BYTES 34u
#define DQ_G 32u
inline float2 dq_scale(DQ_W, uint bb, uint j) { return float2(dq_f16(w, bb), 0.0f); }
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) { return dq_sbytes(dq_u32(w, bb + 2u + j)) * s.x; }
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint4 u = dq_u128(w, bb + 2u + j0);
    for (uint c = 0u; c < 4u; ++c) v[c] = dq_sbytes(u[c]) * s.x;
}

#elif defined(TYPE_Q2_K)
// { u8 scales[16]; u8 qs[64]; fp16 d, dmin }: value 128g + 32s + l is bits 2s..2s+1
// of qs[32g + l]; sub-block k of 16 values has scale scales[k] & 15, min scales[k] >> 4.
#define DQ_QK 256u
#define DQ_BYTES 84u
#define DQ_G 16u
inline float2 dq_scale(DQ_W, uint bb, uint j) {
    const uint sc = dq_u8(w, bb + (j >> 4u));
    return float2(dq_f16(w, bb + 80u) * float(sc & 15u), dq_f16(w, bb + 82u) * float(sc >> 4u));
}
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint u = (dq_u32(w, bb + 16u + 32u * (j >> 7u) + (j & 31u)) >> (2u * ((j >> 5u) & 3u))) & 0x03030303u;
    return s.x * dq_bytes(u) - s.y;
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint4 u = (dq_u128(w, bb + 16u + 32u * (j0 >> 7u) + (j0 & 31u)) >> (2u * ((j0 >> 5u) & 3u))) & 0x03030303u;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * dq_bytes(u[c]) - s.y;
}

#elif defined(TYPE_Q3_K)
// { u8 hmask[32]; u8 qs[64]; u8 scales[12]; fp16 d }: low 2 bits as Q2_K; bit b of
// hmask[l] is value 32b + l's high bit, clear = subtract 4; 6-bit signed scales.
#define DQ_QK 256u
#define DQ_BYTES 110u
#define DQ_G 16u
inline float2 dq_scale(DQ_W, uint bb, uint j) {
    const uint k = j >> 4u;
    const uint slo = (dq_u8(w, bb + 96u + (k & 7u)) >> (4u * (k >> 3u))) & 15u;
    const uint shi = (dq_u8(w, bb + 104u + (k & 3u)) >> (2u * (k >> 2u))) & 3u;
    return float2(dq_f16(w, bb + 108u) * float(int(slo | (shi << 4u)) - 32), 0.0f);
}
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint l = j & 31u;
    const uint lo = (dq_u32(w, bb + 32u + 32u * (j >> 7u) + l) >> (2u * ((j >> 5u) & 3u))) & 0x03030303u;
    const uint hi = (dq_u32(w, bb + l) >> (j >> 5u)) & 0x01010101u;
    return s.x * (dq_bytes(lo) - 4.0f * (1.0f - dq_bytes(hi)));
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint l0 = j0 & 31u;
    const uint4 lo = (dq_u128(w, bb + 32u + 32u * (j0 >> 7u) + l0) >> (2u * ((j0 >> 5u) & 3u))) & 0x03030303u;
    const uint4 hi = (dq_u128(w, bb + l0) >> (j0 >> 5u)) & 0x01010101u;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * (dq_bytes(lo[c]) - 4.0f * (1.0f - dq_bytes(hi[c])));
}

#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// Q4_K { fp16 d, dmin; u8 scales[12]; u8 qs[128] }, Q5_K adds u8 qh[32] before qs:
// value 64g + l is the low nibble of qs[32g + l], 64g + 32 + l its high nibble; the
// fifth bit of value 32c + l is bit c of qh[l]; 6-bit scale/min per 32 values.
#define DQ_QK 256u
#define DQ_G 32u
#if defined(TYPE_Q4_K)
#define DQ_BYTES 144u
#define DQ_QS 16u
#else
#define DQ_BYTES 176u
#define DQ_QS 48u
#endif
inline float2 dq_scale(DQ_W, uint bb, uint j) {
    const uint c = j >> 5u;
    uint sc, m;
    if (c < 4u) {
        sc = dq_u8(w, bb + 4u + c) & 63u;
        m = dq_u8(w, bb + 8u + c) & 63u;
    } else {
        const uint a = dq_u8(w, bb + 8u + c), lo = dq_u8(w, bb + c), hi = dq_u8(w, bb + 4u + c);
        sc = (a & 15u) | ((lo >> 6u) << 4u);
        m = (a >> 4u) | ((hi >> 6u) << 4u);
    }
    return float2(dq_f16(w, bb) * float(sc), dq_f16(w, bb + 2u) * float(m));
}
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint c = j >> 5u, l = j & 31u;
    uint u = (dq_u32(w, bb + DQ_QS + 32u * (c >> 1u) + l) >> (4u * (c & 1u))) & 0x0f0f0f0fu;
#if defined(TYPE_Q5_K)
    u |= ((dq_u32(w, bb + 16u + l) >> c) & 0x01010101u) << 4u;
#endif
    return s.x * dq_bytes(u) - s.y;
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint c = j0 >> 5u, l0 = j0 & 31u;
    uint4 u = (dq_u128(w, bb + DQ_QS + 32u * (c >> 1u) + l0) >> (4u * (c & 1u))) & 0x0f0f0f0fu;
#if defined(TYPE_Q5_K)
    u |= ((dq_u128(w, bb + 16u + l0) >> c) & 0x01010101u) << 4u;
#endif
    for (uint k = 0u; k < 4u; ++k) v[k] = s.x * dq_bytes(u[k]) - s.y;
}

#elif defined(TYPE_Q6_K)
// { u8 ql[128]; u8 qh[64]; i8 scales[16]; fp16 d }: value 128g + 64s + l (l < 64) has
// its low nibble in ql[64g + l] >> 4s; value 128g + 32t + l (l < 32) its two high
// bits in qh[32g + l] >> 2t; x = d * scale * (q - 32).
#define DQ_QK 256u
#define DQ_BYTES 210u
#define DQ_G 16u
inline float2 dq_scale(DQ_W, uint bb, uint j) {
    return float2(dq_f16(w, bb + 208u) * float(as_type<char>(uchar(dq_u8(w, bb + 192u + (j >> 4u))))), 0.0f);
}
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint g = j >> 7u, r = j & 127u;
    const uint lo = (dq_u32(w, bb + 64u * g + (r & 63u)) >> (4u * (r >> 6u))) & 0x0f0f0f0fu;
    const uint hi = (dq_u32(w, bb + 128u + 32u * g + (r & 31u)) >> (2u * (r >> 5u))) & 0x03030303u;
    return s.x * (dq_bytes(lo | (hi << 4u)) - 32.0f);
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint g = j0 >> 7u, r = j0 & 127u;
    const uint4 lo = (dq_u128(w, bb + 64u * g + (r & 63u)) >> (4u * (r >> 6u))) & 0x0f0f0f0fu;
    const uint4 hi = (dq_u128(w, bb + 128u + 32u * g + (r & 31u)) >> (2u * (r >> 5u))) & 0x03030303u;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * (dq_bytes(lo[c] | (hi[c] << 4u)) - 32.0f);
}

#elif defined(TYPE_IQ4_XS)
// { fp16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }: eight IQ4_NL-like sub-blocks
// of 32 (16 bytes of nibbles each) with 6-bit signed scales.
#define DQ_QK 256u
#define DQ_BYTES 136u
#define DQ_G 32u
inline float2 dq_scale(DQ_W, uint bb, uint j) {
    const uint k = j >> 5u;
    const uint slo = (dq_u8(w, bb + 4u + (k >> 1u)) >> (4u * (k & 1u))) & 15u;
    const uint shi = (dq_u16(w, bb + 2u) >> (2u * k)) & 3u;
    return float2(dq_f16(w, bb) * float(int(slo | (shi << 4u)) - 32), 0.0f);
}
inline float4 dq_quad(DQ_W, uint bb, uint j, float2 s) {
    const uint k = j >> 5u, l = j & 31u;
    const uint u = (dq_u32(w, bb + 8u + 16u * k + (l & 15u)) >> (l >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    return s.x * dq_iq4(u);
}
inline void dq_chunk(DQ_W, uint bb, uint j0, float2 s, thread float4 *v) {
    const uint k = j0 >> 5u, l0 = j0 & 31u;
    const uint4 u = (dq_u128(w, bb + 8u + 16u * k) >> (l0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * dq_iq4(u[c]);
}

#else
#error "dequant.h: no TYPE_<T> defined"
#endif

inline float4 dequant4(DQ_W, uint bb, uint q) { return dq_quad(w, bb, 4u * q, dq_scale(w, bb, 4u * q)); }

// Values e..e+3 (e a multiple of 4) of the row starting at byte rb, n values long.
// Quantized rows hold whole blocks (n is a multiple of DQ_QK); float rows may end
// mid-quad, so their last quad is read value by value, zeros past the end.
inline float4 dq_row4(DQ_W, uint rb, uint e, uint n) {
#if defined(DQ_FLOAT)
    if (e + 4u > n) {
        float4 v = float4(0.0f);
        for (uint i = 0u; i < 4u; ++i)
            if (e + i < n) v[i] = dq_one(w, rb + (e + i) * DQ_ELEM);
        return v;
    }
#endif
    return dequant4(w, rb + (e / DQ_QK) * DQ_BYTES, (e % DQ_QK) / 4u);
}

#endif // LLM4ALL_METAL_DEQUANT_H
