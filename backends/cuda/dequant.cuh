// dequant.cuh — the one place where the CUDA kernels know GGUF's weight block
// layouts (byte for byte as core/src/quant/blocks.h). Dq<T>::load8(block, j, v)
// unpacks values j..j+7 (j a multiple of 8) of one block; row8<T>() eight values
// of a row of any type. Every scale group is 16 or 32 values, so the eight values
// of one call share their scales. Arithmetic follows the CPU's dequantize_row
// (backends/cpu/quants.cpp): K types scale by the float product d*s first, then
// subtract dmin*m. Fields are read byte by byte (blocks are 18, 22, 110... bytes,
// so wider fields sit at any offset); fp16 fields are at even offsets.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "llm4all/backend.h"

// Host and device: the host side lets a test check every layout against the CPU
// backend on a machine without a GPU (tests/core/cuda_dequant_check.cu).
#define LLM4ALL_CU_HD __host__ __device__ __forceinline__

namespace llm4all::cu {

LLM4ALL_CU_HD float dq_f16(const uint8_t *p) { return __half2float(*reinterpret_cast<const __half *>(p)); }
LLM4ALL_CU_HD uint32_t dq_u32(const uint8_t *p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
// The 4-bit quant of value j (< 32) of a 32-value group whose 16 bytes start at qs:
// values 0..15 are the low nibbles, 16..31 the high ones.
LLM4ALL_CU_HD int dq_nibble(const uint8_t *qs, int j) { return (qs[j & 15] >> (j >= 16 ? 4 : 0)) & 15; }

// GGUF's kvalues_iq4nl (-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53,
// 69, 89, 113) as the bytes of two 64-bit constants: a table in registers, where a
// local array would live in (slow) local memory.
LLM4ALL_CU_HD float dq_iq4(int q) {
    const uint64_t bytes = q < 8 ? 0xf6eaddcfbfad9881ull : 0x7159453526190d01ull;
    return float(int8_t(uint8_t(bytes >> (8 * (q & 7)))));
}

template <int T> struct Dq;

// Float types: a "block" is one value; rows of any length.
template <> struct Dq<LLM4ALL_TYPE_F32> {
    static constexpr int QK = 1, BYTES = 4;
    LLM4ALL_CU_HD static float one(const uint8_t *row, int64_t i) { return reinterpret_cast<const float *>(row)[i]; }
};
template <> struct Dq<LLM4ALL_TYPE_F16> {
    static constexpr int QK = 1, BYTES = 2;
    LLM4ALL_CU_HD static float one(const uint8_t *row, int64_t i) {
        return __half2float(reinterpret_cast<const __half *>(row)[i]);
    }
};
template <> struct Dq<LLM4ALL_TYPE_BF16> {
    static constexpr int QK = 1, BYTES = 2;
    LLM4ALL_CU_HD static float one(const uint8_t *row, int64_t i) {
        const uint32_t u = uint32_t(reinterpret_cast<const uint16_t *>(row)[i]) << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
};

// { fp16 d; u8 qs[16] }: x = d * (q - 8)
template <> struct Dq<LLM4ALL_TYPE_Q4_0> {
    static constexpr int QK = 32, BYTES = 18;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const float d = dq_f16(b);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = d * float(dq_nibble(b + 2, j + k) - 8);
    }
};
// { fp16 d, m; u8 qs[16] }: x = d * q + m
template <> struct Dq<LLM4ALL_TYPE_Q4_1> {
    static constexpr int QK = 32, BYTES = 20;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const float d = dq_f16(b), m = dq_f16(b + 2);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = d * float(dq_nibble(b + 4, j + k)) + m;
    }
};
// { fp16 d; u8 qh[4]; u8 qs[16] }: nibbles as Q4_0, bit j of qh is value j's fifth bit; x = d * (q - 16)
template <> struct Dq<LLM4ALL_TYPE_Q5_0> {
    static constexpr int QK = 32, BYTES = 22;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const float d = dq_f16(b);
        const uint32_t qh = dq_u32(b + 2);
#pragma unroll
        for (int k = 0; k < 8; ++k)
            v[k] = d * float((dq_nibble(b + 6, j + k) | int((qh >> (j + k)) & 1) << 4) - 16);
    }
};
// { fp16 d, m; u8 qh[4]; u8 qs[16] }: x = d * q + m
template <> struct Dq<LLM4ALL_TYPE_Q5_1> {
    static constexpr int QK = 32, BYTES = 24;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const float d = dq_f16(b), m = dq_f16(b + 2);
        const uint32_t qh = dq_u32(b + 4);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = d * float(dq_nibble(b + 8, j + k) | int((qh >> (j + k)) & 1) << 4) + m;
    }
};
// { fp16 d; i8 qs[32] }: x = d * q
template <> struct Dq<LLM4ALL_TYPE_Q8_0> {
    static constexpr int QK = 32, BYTES = 34;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const float d = dq_f16(b);
        const int8_t *qs = reinterpret_cast<const int8_t *>(b + 2);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = d * float(qs[j + k]);
    }
};
// { u8 scales[16]; u8 qs[64]; fp16 d, dmin }: value 128g + 32s + l is bits 2s..2s+1 of
// qs[32g + l]; sub-block k of 16 values: scale scales[k] & 15, min scales[k] >> 4.
template <> struct Dq<LLM4ALL_TYPE_Q2_K> {
    static constexpr int QK = 256, BYTES = 84;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const int sc = b[j >> 4];
        const float dl = dq_f16(b + 80) * float(sc & 15), ml = dq_f16(b + 82) * float(sc >> 4);
        const uint8_t *q = b + 16 + 32 * (j >> 7) + (j & 31);
        const int sh = 2 * ((j >> 5) & 3);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = dl * float((q[k] >> sh) & 3) - ml;
    }
};
// { u8 hmask[32]; u8 qs[64]; u8 scales[12]; fp16 d }: low 2 bits as Q2_K; bit (v >> 5)
// of hmask[v & 31] is value v's high bit, clear = subtract 4; signed 6-bit scales.
template <> struct Dq<LLM4ALL_TYPE_Q3_K> {
    static constexpr int QK = 256, BYTES = 110;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const int kk = j >> 4;
        const uint8_t *s = b + 96;
        const int lo = (s[kk % 8] >> (4 * (kk / 8))) & 15, hi = (s[8 + kk % 4] >> (2 * (kk / 4))) & 3;
        const float dl = dq_f16(b + 108) * float((lo | hi << 4) - 32);
        const int l = j & 31, sh = 2 * ((j >> 5) & 3), hb = j >> 5;
        const uint8_t *q = b + 32 + 32 * (j >> 7) + l;
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = dl * float(((q[k] >> sh) & 3) - (((b[l + k] >> hb) & 1) ? 0 : 4));
    }
};
// The 6-bit scale and min of 32-value group c of a Q4_K/Q5_K super-block's 12 bytes.
LLM4ALL_CU_HD void dq_k_scale_min(const uint8_t *s, int c, int &sc, int &m) {
    if (c < 4) {
        sc = s[c] & 63;
        m = s[c + 4] & 63;
    } else {
        sc = (s[c + 4] & 15) | ((s[c - 4] >> 6) << 4);
        m = (s[c + 4] >> 4) | ((s[c] >> 6) << 4);
    }
}
// Q4_K { fp16 d, dmin; u8 scales[12]; u8 qs[128] }, Q5_K adds u8 qh[32] before qs:
// value 64g + l (l < 32) is the low nibble of qs[32g + l], 64g + 32 + l its high one;
// the fifth bit of value 32c + l is bit c of qh[l]. x = d*sc * q - dmin*m.
template <bool Q5> struct DqQ45K {
    static constexpr int QK = 256, BYTES = Q5 ? 176 : 144;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const int c = j >> 5, l = j & 31;
        int sc, m;
        dq_k_scale_min(b + 4, c, sc, m);
        const float dl = dq_f16(b) * float(sc), ml = dq_f16(b + 2) * float(m);
        const uint8_t *q = b + (Q5 ? 48 : 16) + 32 * (c >> 1) + l;
        const int sh = 4 * (c & 1);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            int qv = (q[k] >> sh) & 15;
            if (Q5) qv |= ((b[16 + l + k] >> c) & 1) << 4;
            v[k] = dl * float(qv) - ml;
        }
    }
};
template <> struct Dq<LLM4ALL_TYPE_Q4_K> : DqQ45K<false> {};
template <> struct Dq<LLM4ALL_TYPE_Q5_K> : DqQ45K<true> {};
// { u8 ql[128]; u8 qh[64]; i8 scales[16]; fp16 d }: value 128g + r has its low nibble
// in ql[64g + (r & 63)] >> 4(r >> 6), its two high bits in qh[32g + (r & 31)] >> 2(r >> 5);
// x = d * scale * (q - 32).
template <> struct Dq<LLM4ALL_TYPE_Q6_K> {
    static constexpr int QK = 256, BYTES = 210;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const float dl = dq_f16(b + 208) * float(int8_t(b[192 + (j >> 4)]));
        const int g = j >> 7, r = j & 127;
        const uint8_t *ql = b + 64 * g + (r & 63), *qh = b + 128 + 32 * g + (r & 31);
        const int sl = 4 * (r >> 6), shh = 2 * (r >> 5);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = dl * float((((ql[k] >> sl) & 15) | ((qh[k] >> shh) & 3) << 4) - 32);
    }
};
// { fp16 d; u8 qs[16] }: x = d * kvalues[q]
template <> struct Dq<LLM4ALL_TYPE_IQ4_NL> {
    static constexpr int QK = 32, BYTES = 18;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const float d = dq_f16(b);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = d * dq_iq4(dq_nibble(b + 2, j + k));
    }
};
// { fp16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }: eight IQ4_NL-like groups of 32
// (16 bytes of nibbles each) with signed 6-bit scales.
template <> struct Dq<LLM4ALL_TYPE_IQ4_XS> {
    static constexpr int QK = 256, BYTES = 136;
    LLM4ALL_CU_HD static void load8(const uint8_t *b, int j, float *v) {
        const int kk = j >> 5;
        const int sh = int(b[2]) | int(b[3]) << 8;
        const int ls = (((b[4 + kk / 2] >> (4 * (kk % 2))) & 15) | ((sh >> (2 * kk)) & 3) << 4) - 32;
        const float dl = dq_f16(b) * float(ls);
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = dl * dq_iq4(dq_nibble(b + 8 + 16 * kk, (j & 31) + k));
    }
};

// Values e..e+7 (e a multiple of 8) of a row of n values starting at row; for float
// types the values past the end are 0 (quantized rows are whole blocks of >= 32).
template <int T>
LLM4ALL_CU_HD void row8(const uint8_t *row, int64_t e, int64_t n, float *v) {
    if constexpr (Dq<T>::QK == 1) {
        if (e + 8 <= n) {
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = Dq<T>::one(row, e + k);
        } else {
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = e + k < n ? Dq<T>::one(row, e + k) : 0.0f;
        }
    } else {
        Dq<T>::load8(row + (e / Dq<T>::QK) * Dq<T>::BYTES, int(e % Dq<T>::QK), v);
    }
}

// X(T) for every weight type T (an enum llm4all_type constant), for switches that
// pick a kernel template instance by type.
#define LLM4ALL_CU_WEIGHT_TYPES(X)                                                                   \
    X(LLM4ALL_TYPE_F32) X(LLM4ALL_TYPE_F16) X(LLM4ALL_TYPE_BF16) X(LLM4ALL_TYPE_Q4_0) X(LLM4ALL_TYPE_Q4_1) \
    X(LLM4ALL_TYPE_Q5_0) X(LLM4ALL_TYPE_Q5_1) X(LLM4ALL_TYPE_Q8_0) X(LLM4ALL_TYPE_Q2_K)                 \
    X(LLM4ALL_TYPE_Q3_K) X(LLM4ALL_TYPE_Q4_K) X(LLM4ALL_TYPE_Q5_K) X(LLM4ALL_TYPE_Q6_K)                 \
    X(LLM4ALL_TYPE_IQ4_NL) X(LLM4ALL_TYPE_IQ4_XS)

} // namespace llm4all::cu
