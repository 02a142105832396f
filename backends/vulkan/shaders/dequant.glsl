// dequant.glsl — the one place where the Vulkan shaders know GGUF's weight block
// layouts (byte for byte as core/src/quant/blocks.h): dequant4() unpacks four
// consecutive values of a block, dq_row4() four values of a row of any type.
// Included by mul_mat_vec.comp, mul_mat_mm.comp and get_rows; the includer defines
// DQ_WORDS (a uint[] storage buffer holding the weights) and one TYPE_<T>=1.
//
// Weights are read as 32-bit words with byte arithmetic rather than through
// 8/16-bit storage: blocks are 18, 22, 34, 110, 210... bytes long, so fields sit at
// any byte offset, and uint[] works on every Vulkan device without optional
// features (lavapipe has storageBuffer8/16BitAccess, older mobile GPUs do not).
// Every fp16 field sits at an even offset (every block size is even), so a 16-bit
// read never straddles two words; quant bytes may, and dq_u32 joins two words.
//
// Arithmetic follows the CPU reference's dequantize_row (backends/cpu/quants.cpp):
// K types scale by the float product d*s first, then subtract d_min*m.

#ifndef DQ_WORDS
#error "define DQ_WORDS as the uint[] weight buffer before including dequant.glsl"
#endif

// 4 bytes starting at byte b, any alignment, little-endian.
uint dq_u32(uint b) {
    const uint i = b >> 2u, s = (b & 3u) * 8u;
    // The second word only when the bytes straddle it: after an aligned read it may
    // lie past the binding (a branch, not ?:, which may evaluate both sides).
    const uint lo = DQ_WORDS[i];
    if (s == 0u) return lo;
    return (lo >> s) | (DQ_WORDS[i + 1u] << (32u - s));
}
uint dq_u8(uint b) { return (DQ_WORDS[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
// 16 bits at an even byte offset.
uint dq_u16(uint b) { return (DQ_WORDS[b >> 2u] >> ((b & 2u) * 8u)) & 0xffffu; }
float dq_f16(uint b) { return unpackHalf2x16(dq_u16(b)).x; }
// 16 bytes starting at byte b, any alignment: the quants of a 16-value chunk in 4 or
// 5 word loads (a quad at a time takes 4 to 8).
uvec4 dq_u128(uint b) {
    const uint i = b >> 2u, s = (b & 3u) * 8u;
    const uvec4 w = uvec4(DQ_WORDS[i], DQ_WORDS[i + 1u], DQ_WORDS[i + 2u], DQ_WORDS[i + 3u]);
    if (s == 0u) return w;
    return (w >> s) | (uvec4(w.yzw, DQ_WORDS[i + 4u]) << (32u - s));
}
// The four bytes of u as unsigned / sign-extended values.
vec4 dq_bytes(uint u) { return vec4(u & 0xffu, (u >> 8u) & 0xffu, (u >> 16u) & 0xffu, u >> 24u); }
vec4 dq_sbytes(uint u) {
    const int v = int(u);
    return vec4(bitfieldExtract(v, 0, 8), bitfieldExtract(v, 8, 8), bitfieldExtract(v, 16, 8), bitfieldExtract(v, 24, 8));
}
// Bits 0..3 of h spread to bit 4 of each byte: the fifth bit of 4 Q5 quants.
uint dq_high4(uint h) { return ((h & 1u) << 4u) | ((h & 2u) << 11u) | ((h & 4u) << 18u) | ((h & 8u) << 25u); }

#if defined(TYPE_IQ4_NL) || defined(TYPE_IQ4_XS)
// GGUF's kvalues_iq4nl.
const float DQ_IQ4[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                   1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
vec4 dq_iq4(uint u) { // four nibbles, one per byte's low bits
    return vec4(DQ_IQ4[u & 0xfu], DQ_IQ4[(u >> 8u) & 0xfu], DQ_IQ4[(u >> 16u) & 0xfu], DQ_IQ4[(u >> 24u) & 0xfu]);
}
#endif

// ---- per type: DQ_QK values per block of DQ_BYTES bytes ------------------------
// Values of a block come in scale groups of DQ_G (16 or 32; 4 for float types) that
// share one scale (and min): dq_scale(bb, j) gives the group's factors for value j
// of the block at byte bb, dq_quad(bb, j, s) values j..j+3 (j a multiple of 4) from
// them, so a kernel walking a whole group unpacks its scales once. Quantized types
// also have dq_chunk(bb, j0, s, v): values j0..j0+15 (j0 a multiple of 16, inside
// one group) from one 16-byte read per array of quants.
// dequant4(bb, q) = values 4q..4q+3, for kernels that take one quad at a time.

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
#define DQ_FLOAT 1
#define DQ_QK 4u // a "block" is 4 values, so rows of any length end mid-block (dq_row4 checks)
#define DQ_G 4u
vec2 dq_scale(uint bb, uint j) { return vec2(1.0); }
#if defined(TYPE_F32)
#define DQ_ELEM 4u
float dq_one(uint b) { return uintBitsToFloat(dq_u32(b)); }
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint b = bb + 4u * j;
    return vec4(uintBitsToFloat(dq_u32(b)), uintBitsToFloat(dq_u32(b + 4u)), uintBitsToFloat(dq_u32(b + 8u)),
                uintBitsToFloat(dq_u32(b + 12u)));
}
#elif defined(TYPE_F16)
#define DQ_ELEM 2u
float dq_one(uint b) { return dq_f16(b); }
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint b = bb + 2u * j;
    return vec4(unpackHalf2x16(dq_u32(b)), unpackHalf2x16(dq_u32(b + 4u)));
}
#else
#define DQ_ELEM 2u
float dq_one(uint b) { return uintBitsToFloat(dq_u16(b) << 16u); }
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint b = bb + 2u * j, u0 = dq_u32(b), u1 = dq_u32(b + 4u);
    return vec4(uintBitsToFloat(u0 << 16u), uintBitsToFloat(u0 & 0xffff0000u), uintBitsToFloat(u1 << 16u),
                uintBitsToFloat(u1 & 0xffff0000u));
}
#endif
#define DQ_BYTES (4u * DQ_ELEM)

#elif defined(TYPE_Q4_0) || defined(TYPE_IQ4_NL)
// { fp16 d; u8 qs[16] }: value j < 16 is the low nibble of qs[j], value 16 + j its high nibble.
#define DQ_QK 32u
#define DQ_BYTES 18u
#define DQ_G 32u
vec2 dq_scale(uint bb, uint j) { return vec2(dq_f16(bb), 0.0); }
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint u = (dq_u32(bb + 2u + (j & 15u)) >> (j >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
#if defined(TYPE_Q4_0)
    return s.x * (dq_bytes(u) - 8.0);
#else
    return s.x * dq_iq4(u);
#endif
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uvec4 u = (dq_u128(bb + 2u) >> (j0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    for (uint c = 0u; c < 4u; ++c)
#if defined(TYPE_Q4_0)
        v[c] = s.x * (dq_bytes(u[c]) - 8.0);
#else
        v[c] = s.x * dq_iq4(u[c]);
#endif
}

#elif defined(TYPE_Q4_1)
// { fp16 d, m; u8 qs[16] }: x = d*q + m.
#define DQ_QK 32u
#define DQ_BYTES 20u
#define DQ_G 32u
vec2 dq_scale(uint bb, uint j) { return vec2(dq_f16(bb), dq_f16(bb + 2u)); }
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint u = (dq_u32(bb + 4u + (j & 15u)) >> (j >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    return s.x * dq_bytes(u) + s.y;
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uvec4 u = (dq_u128(bb + 4u) >> (j0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
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
vec2 dq_scale(uint bb, uint j) { return vec2(dq_f16(bb), 0.0); }
#else
#define DQ_BYTES 24u
#define DQ_QH 4u
vec2 dq_scale(uint bb, uint j) { return vec2(dq_f16(bb), dq_f16(bb + 2u)); }
#endif
vec4 dq_quad(uint bb, uint j, vec2 s) {
    uint u = (dq_u32(bb + DQ_QH + 4u + (j & 15u)) >> (j >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    u |= dq_high4(dq_u32(bb + DQ_QH) >> j);
#if defined(TYPE_Q5_0)
    return s.x * (dq_bytes(u) - 16.0);
#else
    return s.x * dq_bytes(u) + s.y;
#endif
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uvec4 u = (dq_u128(bb + DQ_QH + 4u) >> (j0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    const uint h = dq_u32(bb + DQ_QH) >> j0;
    for (uint c = 0u; c < 4u; ++c) {
        const vec4 q = dq_bytes(u[c] | dq_high4(h >> (4u * c)));
#if defined(TYPE_Q5_0)
        v[c] = s.x * (q - 16.0);
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
vec2 dq_scale(uint bb, uint j) { return vec2(dq_f16(bb), 0.0); }
vec4 dq_quad(uint bb, uint j, vec2 s) { return dq_sbytes(dq_u32(bb + 2u + j)) * s.x; }
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uvec4 u = dq_u128(bb + 2u + j0);
    for (uint c = 0u; c < 4u; ++c) v[c] = dq_sbytes(u[c]) * s.x;
}

#elif defined(TYPE_Q2_K)
// { u8 scales[16]; u8 qs[64]; fp16 d, dmin }: value 128g + 32s + l is bits 2s..2s+1
// of qs[32g + l]; sub-block k of 16 values has scale scales[k] & 15, min scales[k] >> 4.
#define DQ_QK 256u
#define DQ_BYTES 84u
#define DQ_G 16u
vec2 dq_scale(uint bb, uint j) {
    const uint sc = dq_u8(bb + (j >> 4u));
    return vec2(dq_f16(bb + 80u) * float(sc & 15u), dq_f16(bb + 82u) * float(sc >> 4u));
}
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint u = (dq_u32(bb + 16u + 32u * (j >> 7u) + (j & 31u)) >> (2u * ((j >> 5u) & 3u))) & 0x03030303u;
    return s.x * dq_bytes(u) - s.y;
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uvec4 u = (dq_u128(bb + 16u + 32u * (j0 >> 7u) + (j0 & 31u)) >> (2u * ((j0 >> 5u) & 3u))) & 0x03030303u;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * dq_bytes(u[c]) - s.y;
}

#elif defined(TYPE_Q3_K)
// { u8 hmask[32]; u8 qs[64]; u8 scales[12]; fp16 d }: low 2 bits as Q2_K; bit b of
// hmask[l] is value 32b + l's high bit, clear = subtract 4; 6-bit signed scales.
#define DQ_QK 256u
#define DQ_BYTES 110u
#define DQ_G 16u
vec2 dq_scale(uint bb, uint j) {
    const uint k = j >> 4u;
    const uint slo = (dq_u8(bb + 96u + (k & 7u)) >> (4u * (k >> 3u))) & 15u;
    const uint shi = (dq_u8(bb + 104u + (k & 3u)) >> (2u * (k >> 2u))) & 3u;
    return vec2(dq_f16(bb + 108u) * float(int(slo | (shi << 4u)) - 32), 0.0);
}
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint l = j & 31u;
    const uint lo = (dq_u32(bb + 32u + 32u * (j >> 7u) + l) >> (2u * ((j >> 5u) & 3u))) & 0x03030303u;
    const uint hi = (dq_u32(bb + l) >> (j >> 5u)) & 0x01010101u;
    return s.x * (dq_bytes(lo) - 4.0 * (1.0 - dq_bytes(hi)));
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uint l0 = j0 & 31u;
    const uvec4 lo = (dq_u128(bb + 32u + 32u * (j0 >> 7u) + l0) >> (2u * ((j0 >> 5u) & 3u))) & 0x03030303u;
    const uvec4 hi = (dq_u128(bb + l0) >> (j0 >> 5u)) & 0x01010101u;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * (dq_bytes(lo[c]) - 4.0 * (1.0 - dq_bytes(hi[c])));
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
vec2 dq_scale(uint bb, uint j) {
    const uint c = j >> 5u;
    uint sc, m;
    if (c < 4u) {
        sc = dq_u8(bb + 4u + c) & 63u;
        m = dq_u8(bb + 8u + c) & 63u;
    } else {
        const uint a = dq_u8(bb + 8u + c), lo = dq_u8(bb + c), hi = dq_u8(bb + 4u + c);
        sc = (a & 15u) | ((lo >> 6u) << 4u);
        m = (a >> 4u) | ((hi >> 6u) << 4u);
    }
    return vec2(dq_f16(bb) * float(sc), dq_f16(bb + 2u) * float(m));
}
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint c = j >> 5u, l = j & 31u;
    uint u = (dq_u32(bb + DQ_QS + 32u * (c >> 1u) + l) >> (4u * (c & 1u))) & 0x0f0f0f0fu;
#if defined(TYPE_Q5_K)
    u |= ((dq_u32(bb + 16u + l) >> c) & 0x01010101u) << 4u;
#endif
    return s.x * dq_bytes(u) - s.y;
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uint c = j0 >> 5u, l0 = j0 & 31u;
    uvec4 u = (dq_u128(bb + DQ_QS + 32u * (c >> 1u) + l0) >> (4u * (c & 1u))) & 0x0f0f0f0fu;
#if defined(TYPE_Q5_K)
    u |= ((dq_u128(bb + 16u + l0) >> c) & 0x01010101u) << 4u;
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
vec2 dq_scale(uint bb, uint j) {
    return vec2(dq_f16(bb + 208u) * float(bitfieldExtract(int(dq_u8(bb + 192u + (j >> 4u))), 0, 8)), 0.0);
}
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint g = j >> 7u, r = j & 127u;
    const uint lo = (dq_u32(bb + 64u * g + (r & 63u)) >> (4u * (r >> 6u))) & 0x0f0f0f0fu;
    const uint hi = (dq_u32(bb + 128u + 32u * g + (r & 31u)) >> (2u * (r >> 5u))) & 0x03030303u;
    return s.x * (dq_bytes(lo | (hi << 4u)) - 32.0);
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uint g = j0 >> 7u, r = j0 & 127u;
    const uvec4 lo = (dq_u128(bb + 64u * g + (r & 63u)) >> (4u * (r >> 6u))) & 0x0f0f0f0fu;
    const uvec4 hi = (dq_u128(bb + 128u + 32u * g + (r & 31u)) >> (2u * (r >> 5u))) & 0x03030303u;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * (dq_bytes(lo[c] | (hi[c] << 4u)) - 32.0);
}

#elif defined(TYPE_IQ4_XS)
// { fp16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }: eight IQ4_NL-like sub-blocks
// of 32 (16 bytes of nibbles each) with 6-bit signed scales.
#define DQ_QK 256u
#define DQ_BYTES 136u
#define DQ_G 32u
vec2 dq_scale(uint bb, uint j) {
    const uint k = j >> 5u;
    const uint slo = (dq_u8(bb + 4u + (k >> 1u)) >> (4u * (k & 1u))) & 15u;
    const uint shi = (dq_u16(bb + 2u) >> (2u * k)) & 3u;
    return vec2(dq_f16(bb) * float(int(slo | (shi << 4u)) - 32), 0.0);
}
vec4 dq_quad(uint bb, uint j, vec2 s) {
    const uint k = j >> 5u, l = j & 31u;
    const uint u = (dq_u32(bb + 8u + 16u * k + (l & 15u)) >> (l >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    return s.x * dq_iq4(u);
}
void dq_chunk(uint bb, uint j0, vec2 s, out vec4 v[4]) {
    const uint k = j0 >> 5u, l0 = j0 & 31u;
    const uvec4 u = (dq_u128(bb + 8u + 16u * k) >> (l0 >= 16u ? 4u : 0u)) & 0x0f0f0f0fu;
    for (uint c = 0u; c < 4u; ++c) v[c] = s.x * dq_iq4(u[c]);
}

#else
#error "dequant.glsl: no TYPE_<T> defined"
#endif

vec4 dequant4(uint bb, uint q) { return dq_quad(bb, 4u * q, dq_scale(bb, 4u * q)); }

// Values e..e+3 (e a multiple of 4) of the row starting at byte rb, n values long.
// Quantized rows hold whole blocks (n is a multiple of DQ_QK); float rows may end
// mid-quad, so their last quad is read value by value, zeros past the end.
vec4 dq_row4(uint rb, uint e, uint n) {
#if defined(DQ_FLOAT)
    if (e + 4u > n) {
        vec4 v = vec4(0.0);
        for (uint i = 0u; i < 4u; ++i)
            if (e + i < n) v[i] = dq_one(rb + (e + i) * DQ_ELEM);
        return v;
    }
#endif
    return dequant4(rb + (e / DQ_QK) * DQ_BYTES, (e % DQ_QK) / 4u);
}
