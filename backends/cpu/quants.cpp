// quants.cpp — dequantization of weight rows (every supported type, K-quants and
// IQ4 included) and quantization of activation rows (Q8_0, Q8_1, Q8_K).
// Dequantization must be bit-identical to the gguf package's reference, so this
// file is compiled with -ffp-contract=off: d * q + m must round twice, as numpy
// does, never once as a fused multiply-add would.
#include "quants.h"

#include <cmath>

#include "llm4all/backend.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

bool type_supported(int32_t type) {
    switch (type) {
    case LLM4ALL_TYPE_F32: case LLM4ALL_TYPE_F16: case LLM4ALL_TYPE_BF16:
    case LLM4ALL_TYPE_Q4_0: case LLM4ALL_TYPE_Q4_1: case LLM4ALL_TYPE_Q5_0:
    case LLM4ALL_TYPE_Q5_1: case LLM4ALL_TYPE_Q8_0: case LLM4ALL_TYPE_Q2_K: case LLM4ALL_TYPE_Q3_K:
    case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K: case LLM4ALL_TYPE_Q6_K: case LLM4ALL_TYPE_IQ4_NL:
    case LLM4ALL_TYPE_IQ4_XS:
        return true;
    default:
        return false;
    }
}

int64_t type_block_size(int32_t type) {
    switch (type) {
    case LLM4ALL_TYPE_F32: case LLM4ALL_TYPE_F16: case LLM4ALL_TYPE_BF16: return 1;
    case LLM4ALL_TYPE_Q2_K: case LLM4ALL_TYPE_Q3_K: case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K:
    case LLM4ALL_TYPE_Q6_K: case LLM4ALL_TYPE_IQ4_XS: return QK_K;
    default: return QK;
    }
}

size_t type_row_bytes(int32_t type, int64_t n) {
    switch (type) {
    case LLM4ALL_TYPE_F32: return size_t(n) * 4;
    case LLM4ALL_TYPE_F16: case LLM4ALL_TYPE_BF16: return size_t(n) * 2;
    case LLM4ALL_TYPE_Q4_0: return size_t(n / QK) * sizeof(BlockQ4_0);
    case LLM4ALL_TYPE_Q4_1: return size_t(n / QK) * sizeof(BlockQ4_1);
    case LLM4ALL_TYPE_Q5_0: return size_t(n / QK) * sizeof(BlockQ5_0);
    case LLM4ALL_TYPE_Q5_1: return size_t(n / QK) * sizeof(BlockQ5_1);
    case LLM4ALL_TYPE_Q8_0: return size_t(n / QK) * sizeof(BlockQ8_0);
    case LLM4ALL_TYPE_Q2_K: return size_t(n / QK_K) * sizeof(BlockQ2_K);
    case LLM4ALL_TYPE_Q3_K: return size_t(n / QK_K) * sizeof(BlockQ3_K);
    case LLM4ALL_TYPE_Q4_K: return size_t(n / QK_K) * sizeof(BlockQ4_K);
    case LLM4ALL_TYPE_Q5_K: return size_t(n / QK_K) * sizeof(BlockQ5_K);
    case LLM4ALL_TYPE_Q6_K: return size_t(n / QK_K) * sizeof(BlockQ6_K);
    case LLM4ALL_TYPE_IQ4_NL: return size_t(n / QK) * sizeof(BlockIQ4_NL);
    case LLM4ALL_TYPE_IQ4_XS: return size_t(n / QK_K) * sizeof(BlockIQ4_XS);
    default: return 0;
    }
}

namespace {

// Element j of a 4/5-bit block: low nibbles hold elements 0..15, high nibbles 16..31.
inline int nibble(const uint8_t *qs, int j) { return j < QK / 2 ? (qs[j] & 0x0f) : (qs[j - QK / 2] >> 4); }

inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, 4); // little-endian, as GGUF is
    return v;
}

void dequant_q4_0(const BlockQ4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK; ++j) y[j] = d * float(nibble(b[i].qs, j) - 8);
    }
}

void dequant_q4_1(const BlockQ4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        for (int j = 0; j < QK; ++j) y[j] = d * float(nibble(b[i].qs, j)) + m;
    }
}

void dequant_q5_0(const BlockQ5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d);
        const uint32_t qh = load_u32(b[i].qh);
        for (int j = 0; j < QK; ++j) {
            int q = nibble(b[i].qs, j) | int((qh >> j) & 1) << 4;
            y[j] = d * float(q - 16);
        }
    }
}

void dequant_q5_1(const BlockQ5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        const uint32_t qh = load_u32(b[i].qh);
        for (int j = 0; j < QK; ++j) {
            int q = nibble(b[i].qs, j) | int((qh >> j) & 1) << 4;
            y[j] = d * float(q) + m;
        }
    }
}

void dequant_q8_0(const BlockQ8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK; ++j) y[j] = float(b[i].qs[j]) * d;
    }
}

// The K types below follow gguf.quants' operation order exactly: the sub-block
// scale d*s is rounded to float first, then multiplied by q, then the
// (separately rounded) min dmin*m is subtracted.

// Q2_K: 2-bit quants; value 128g + 32s + l is bits 2s..2s+1 of qs[32g + l].
void dequant_q2_k(const BlockQ2_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK_K) {
        const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int k = 0; k < QK_K / 16; ++k) {
            const float dl = d * float(b[i].scales[k] & 0x0f), ml = dmin * float(b[i].scales[k] >> 4);
            for (int j = 16 * k; j < 16 * k + 16; ++j) {
                const int q = (b[i].qs[32 * (j / 128) + j % 32] >> (2 * (j / 32 % 4))) & 3;
                y[j] = dl * float(q) - ml;
            }
        }
    }
}

// Q3_K: 2 low bits as in Q2_K; bit b of hmask[l] is the high bit of value
// 32b + l, and a clear high bit means "subtract 4".
void dequant_q3_k(const BlockQ3_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK_K) {
        const float d = fp16_to_f32(b[i].d);
        for (int k = 0; k < QK_K / 16; ++k) {
            const float dl = d * float(q3_k_scale(b[i].scales, k));
            for (int j = 16 * k; j < 16 * k + 16; ++j) {
                const int lo = (b[i].qs[32 * (j / 128) + j % 32] >> (2 * (j / 32 % 4))) & 3;
                const int hi = (b[i].hmask[j % 32] >> (j / 32)) & 1;
                y[j] = dl * float(lo - (hi ? 0 : 4));
            }
        }
    }
}

// Q4_K / Q5_K: value 64g + l (l < 32) is the low nibble of qs[32g + l], value
// 64g + 32 + l its high nibble; Q5_K's fifth bit of value 32c + l is bit c of qh[l].
template <bool FIVE, class B>
void dequant_q45_k(const B *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK_K) {
        const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
        for (int c = 0; c < QK_K / 32; ++c) {
            int sc, m;
            k_scale_min(b[i].scales, c, sc, m);
            const float dl = d * float(sc), ml = dmin * float(m);
            const uint8_t *qs = b[i].qs + 32 * (c / 2);
            for (int l = 0; l < 32; ++l) {
                int q = (c % 2 ? qs[l] >> 4 : qs[l] & 0x0f);
                if constexpr (FIVE) q |= ((reinterpret_cast<const BlockQ5_K &>(b[i]).qh[l] >> c) & 1) << 4;
                y[32 * c + l] = dl * float(q) - ml;
            }
        }
    }
}

// Q6_K: value 128g + 64s + l (l < 64) has its low nibble in ql[64g + l] >> 4s;
// value 128g + 32t + l (l < 32) has its two high bits in qh[32g + l] >> 2t.
void dequant_q6_k(const BlockQ6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK_K) {
        const float d = fp16_to_f32(b[i].d);
        for (int k = 0; k < QK_K / 16; ++k) {
            const float dl = d * float(b[i].scales[k]);
            for (int j = 16 * k; j < 16 * k + 16; ++j) {
                const int g = j / 128, r = j % 128;
                const int lo = (b[i].ql[64 * g + r % 64] >> (4 * (r / 64))) & 0x0f;
                const int hi = (b[i].qh[32 * g + r % 32] >> (2 * (r / 32))) & 3;
                y[j] = dl * float((lo | hi << 4) - 32);
            }
        }
    }
}

void dequant_iq4_nl(const BlockIQ4_NL *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK; ++j) y[j] = d * float(IQ4_LEVELS[nibble(b[i].qs, j)]);
    }
}

// IQ4_XS: eight IQ4_NL-like sub-blocks of 32 with 6-bit signed scales.
void dequant_iq4_xs(const BlockIQ4_XS *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int k = 0; k < QK_K / 32; ++k, y += QK) {
            const float dl = d * float(iq4_xs_scale(b[i], k));
            for (int j = 0; j < QK; ++j) y[j] = dl * float(IQ4_LEVELS[nibble(b[i].qs + 16 * k, j)]);
        }
    }
}

} // namespace

void dequantize_row(int32_t type, const void *row, float *y, int64_t n) {
    const int64_t nb = n / QK;
    switch (type) {
    case LLM4ALL_TYPE_F32: std::memcpy(y, row, size_t(n) * 4); break;
    case LLM4ALL_TYPE_F16: {
        const uint16_t *h = static_cast<const uint16_t *>(row);
        int64_t i = 0;
#ifdef __F16C__
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(h + i))));
#endif
        for (; i < n; ++i) y[i] = fp16_to_f32(h[i]);
        break;
    }
    case LLM4ALL_TYPE_BF16: {
        const uint16_t *h = static_cast<const uint16_t *>(row);
        for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(h[i]);
        break;
    }
    case LLM4ALL_TYPE_Q4_0: dequant_q4_0(static_cast<const BlockQ4_0 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q4_1: dequant_q4_1(static_cast<const BlockQ4_1 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q5_0: dequant_q5_0(static_cast<const BlockQ5_0 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q5_1: dequant_q5_1(static_cast<const BlockQ5_1 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q8_0: dequant_q8_0(static_cast<const BlockQ8_0 *>(row), y, nb); break;
    case LLM4ALL_TYPE_IQ4_NL: dequant_iq4_nl(static_cast<const BlockIQ4_NL *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q2_K: dequant_q2_k(static_cast<const BlockQ2_K *>(row), y, n / QK_K); break;
    case LLM4ALL_TYPE_Q3_K: dequant_q3_k(static_cast<const BlockQ3_K *>(row), y, n / QK_K); break;
    case LLM4ALL_TYPE_Q4_K: dequant_q45_k<false>(static_cast<const BlockQ4_K *>(row), y, n / QK_K); break;
    case LLM4ALL_TYPE_Q5_K: dequant_q45_k<true>(static_cast<const BlockQ5_K *>(row), y, n / QK_K); break;
    case LLM4ALL_TYPE_Q6_K: dequant_q6_k(static_cast<const BlockQ6_K *>(row), y, n / QK_K); break;
    case LLM4ALL_TYPE_IQ4_XS: dequant_iq4_xs(static_cast<const BlockIQ4_XS *>(row), y, n / QK_K); break;
    default: break;
    }
}

#ifdef __AVX2__
namespace {

inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
inline int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}
// roundf (half away from zero) without libm: truncate x + copysign(0.5 - 2^-25, x).
// Exact for |x| < 2^23: the addition can only round up to the next integer when
// x's fraction is at least one half.
inline __m256 round_away(__m256 x) {
    const __m256 half = _mm256_or_ps(_mm256_and_ps(x, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(0.49999997f));
    return _mm256_round_ps(_mm256_add_ps(x, half), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}
// 32 int32 (four vectors of 8, in order) -> 32 int8 in order.
inline void store_i8x32(int8_t *dst, __m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    // The packs interleave 128-bit lanes: put the dwords back in order.
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst),
                        _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// The Q8_0/Q8_1 block: the same d, id and roundf as the scalar code below, so
// the bytes are identical. Returns the sum of the quants.
inline int32_t quantize_block_q8(const float *x, float &d_out, int8_t *qs) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
    }
    const float amax = hmax(m);
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    d_out = d;
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[k], _mm256_set1_ps(id))));
    store_i8x32(qs, q[0], q[1], q[2], q[3]);
    return hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
}

} // namespace
#endif

// llama.cpp's scheme: d = amax / 127 stored as fp16, q = round(x / d) half away
// from zero, with the reciprocal of the unrounded d. The AVX2 path computes the
// same bytes (checked against this loop by test_cpu_backend on random rows).
void quantize_row_q8_0(const float *x, ActQ8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
#ifdef __AVX2__
        float d;
        quantize_block_q8(x, d, y[i].qs);
        y[i].d = fp16_to_f32(f32_to_fp16(d));
#else
        float amax = 0.0f;
        for (int j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp16_to_f32(f32_to_fp16(d));
        for (int j = 0; j < QK; ++j) y[i].qs[j] = int8_t(std::roundf(x[j] * id));
#endif
    }
}

void quantize_row_q8_1(const float *x, ActQ8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
#ifdef __AVX2__
        float d;
        const int sum = quantize_block_q8(x, d, y[i].qs);
#else
        float amax = 0.0f;
        for (int j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; ++j) {
            int q = int(std::roundf(x[j] * id));
            y[i].qs[j] = int8_t(q);
            sum += q;
        }
#endif
        y[i].d = fp16_to_f32(f32_to_fp16(d));
        y[i].s = fp16_to_f32(f32_to_fp16(float(sum) * d));
    }
}

// llama.cpp's quantize_row_q8_K_ref: the value of largest magnitude maps to
// -127 exactly (scale -127/max, keeping its sign), rounding is to nearest even
// through the 1.5*2^23 trick, and d = 1/scale stays a plain float.
void quantize_row_q8_K(const float *x, ActQ8_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK_K; ++i, x += QK_K) {
        float amax = 0.0f, max = 0.0f;
#ifdef __AVX2__
        {
            const __m256 sign = _mm256_set1_ps(-0.0f);
            __m256 m = _mm256_setzero_ps();
            for (int j = 0; j < QK_K; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
            amax = hmax(m);
            // The first element of that magnitude gives the sign, as in the scalar scan.
            const __m256 am = _mm256_set1_ps(amax);
            for (int j = 0; j < QK_K && amax > 0.0f; j += 8) {
                const int mask = _mm256_movemask_ps(
                    _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), am, _CMP_EQ_OQ));
                if (mask) {
                    max = x[j + __builtin_ctz(unsigned(mask))];
                    break;
                }
            }
        }
#else
        for (int j = 0; j < QK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
#endif
        std::memset(y[i].bsums, 0, sizeof y[i].bsums);
        if (amax == 0.0f) {
            y[i].d = 0.0f;
            std::memset(y[i].qs, 0, QK_K);
            continue;
        }
        const float iscale = -127.0f / max;
#ifdef __AVX2__
        const __m256 is = _mm256_set1_ps(iscale), lim = _mm256_set1_ps(127.0f);
        for (int j = 0; j < QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k) {
                // Product rounded to float, then to nearest even: what adding 1.5*2^23 does below.
                __m256 v = _mm256_round_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + j + 8 * k)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                v = _mm256_max_ps(_mm256_min_ps(v, lim), _mm256_sub_ps(_mm256_setzero_ps(), lim));
                q[k] = _mm256_cvtps_epi32(v);
            }
            store_i8x32(y[i].qs + j, q[0], q[1], q[2], q[3]);
            y[i].bsums[j / 16] = int16_t(hsum_i32(_mm256_add_epi32(q[0], q[1])));
            y[i].bsums[j / 16 + 1] = int16_t(hsum_i32(_mm256_add_epi32(q[2], q[3])));
        }
#else
        for (int j = 0; j < QK_K; ++j) {
            // Adding 1.5*2^23 leaves round-to-nearest-even(v) in the low mantissa bits.
            const float v = iscale * x[j] + 12582912.0f;
            int32_t bits;
            std::memcpy(&bits, &v, 4);
            int q = (bits & 0x007fffff) - 0x00400000;
            q = q > 127 ? 127 : q < -127 ? -127 : q; // changes nothing unless the input was not finite
            y[i].qs[j] = int8_t(q);
            y[i].bsums[j / 16] = int16_t(y[i].bsums[j / 16] + q);
        }
#endif
        y[i].d = 1.0f / iscale;
    }
}

void convert_row_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

void convert_row_bf16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

// Interleaving is a plain copy (activations are tiny next to the matmul that
// reuses them for every weight row), so it stays portable.
void pack_group_q8_0(const uint8_t *act, size_t act_stride, int n_tok, int64_t n, GroupQ8_0 *dst) {
    const int64_t nb = n / QK;
    std::memset(dst, 0, size_t(nb) * sizeof(GroupQ8_0));
    for (int t = 0; t < n_tok; ++t) {
        const ActQ8_0 *a = reinterpret_cast<const ActQ8_0 *>(act + t * act_stride);
        for (int64_t i = 0; i < nb; ++i) {
            GroupQ8_0 &g = dst[i];
            int32_t sum = 0;
            for (int j = 0; j < QK / 4; ++j) {
                std::memcpy(g.qs[j][t], a[i].qs + 4 * j, 4);
                for (int k = 0; k < 4; ++k) sum += a[i].qs[4 * j + k];
            }
            g.d[t] = a[i].d;
            g.sum[t] = sum;
        }
    }
}

void pack_group_q8_1(const uint8_t *act, size_t act_stride, int n_tok, int64_t n, GroupQ8_1 *dst) {
    const int64_t nb = n / QK;
    std::memset(dst, 0, size_t(nb) * sizeof(GroupQ8_1));
    for (int t = 0; t < n_tok; ++t) {
        const ActQ8_1 *a = reinterpret_cast<const ActQ8_1 *>(act + t * act_stride);
        for (int64_t i = 0; i < nb; ++i) {
            GroupQ8_1 &g = dst[i];
            for (int j = 0; j < QK / 4; ++j) std::memcpy(g.qs[j][t], a[i].qs + 4 * j, 4);
            g.d[t] = a[i].d;
            g.s[t] = a[i].s;
        }
    }
}

void pack_group_q8_K(const uint8_t *act, size_t act_stride, int n_tok, int64_t n, GroupQ8_K *dst) {
    const int64_t nb = n / QK_K;
    std::memset(dst, 0, size_t(nb) * sizeof(GroupQ8_K));
    for (int t = 0; t < n_tok; ++t) {
        const ActQ8_K *a = reinterpret_cast<const ActQ8_K *>(act + t * act_stride);
        for (int64_t i = 0; i < nb; ++i) {
            GroupQ8_K &g = dst[i];
            for (int j = 0; j < QK_K / 4; ++j) std::memcpy(g.qs[j][t], a[i].qs + 4 * j, 4);
            for (int m = 0; m < QK_K / 32; ++m) {
                g.bsums[m][t][0] = a[i].bsums[2 * m];
                g.bsums[m][t][1] = a[i].bsums[2 * m + 1];
            }
            g.d[t] = a[i].d;
        }
    }
}

} // namespace llm4all::cpu
