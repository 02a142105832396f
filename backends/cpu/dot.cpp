// dot.cpp — the inner kernels of mul_mat: integer dot products of quantized
// weight blocks with Q8 activation blocks (llama.cpp's numerics: per block
// sumi * d_w * d_a, plus m_w * s_a for the Q*_1 types) and float dot products.
// Portable C++ everywhere; under __AVX2__ the block dot uses maddubs like SIMD
// builds of llama.cpp do, since that is where decode time goes.
#include "dot.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "llm4all/backend.h"
#include "quants.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

ActKind act_kind(int32_t wtype) {
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_0: case LLM4ALL_TYPE_Q5_0: case LLM4ALL_TYPE_Q8_0:
    case LLM4ALL_TYPE_IQ4_NL: return ActKind::Q8_0;
    case LLM4ALL_TYPE_Q4_1: case LLM4ALL_TYPE_Q5_1: return ActKind::Q8_1;
    case LLM4ALL_TYPE_Q2_K: case LLM4ALL_TYPE_Q3_K: case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K:
    case LLM4ALL_TYPE_Q6_K: case LLM4ALL_TYPE_IQ4_XS: return ActKind::Q8_K;
    case LLM4ALL_TYPE_F16: return ActKind::F32_VIA_F16;
    case LLM4ALL_TYPE_BF16: return ActKind::F32_VIA_BF16;
    default: return ActKind::F32;
    }
}

size_t act_row_bytes(ActKind kind, int64_t n) {
    switch (kind) {
    case ActKind::Q8_0: return size_t(n / QK) * sizeof(ActQ8_0);
    case ActKind::Q8_1: return size_t(n / QK) * sizeof(ActQ8_1);
    case ActKind::Q8_K: return size_t(n / QK_K) * sizeof(ActQ8_K);
    default: return size_t(n) * sizeof(float);
    }
}

void prepare_act_row(ActKind kind, const float *x, void *dst, int64_t n) {
    float *f = static_cast<float *>(dst);
    switch (kind) {
    case ActKind::Q8_0: quantize_row_q8_0(x, static_cast<ActQ8_0 *>(dst), n); break;
    case ActKind::Q8_1: quantize_row_q8_1(x, static_cast<ActQ8_1 *>(dst), n); break;
    case ActKind::Q8_K: quantize_row_q8_K(x, static_cast<ActQ8_K *>(dst), n); break;
    case ActKind::F32: std::memcpy(f, x, size_t(n) * 4); break;
    // llama.cpp rounds activations to the weight's 16-bit type before the dot;
    // rounding here and multiplying in float gives the same products.
    case ActKind::F32_VIA_F16:
        for (int64_t i = 0; i < n; ++i) f[i] = fp16_to_f32(f32_to_fp16(x[i]));
        break;
    case ActKind::F32_VIA_BF16:
        for (int64_t i = 0; i < n; ++i) f[i] = bf16_to_f32(f32_to_bf16(x[i]));
        break;
    }
}

namespace {

// ---- weight block unpacking: 32 int8 values + scale (+ min) -------------------

struct Unpacked {
#ifdef __AVX2__
    __m256i q;
#else
    int8_t q[QK];
#endif
    float d, m;
};

#ifdef __AVX2__
inline __m256i nibbles32(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i *>(qs));
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b); // high half = elements 16..31
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}
// 0x10 in byte j where bit j of qh is set.
inline __m256i high_bits32(const uint8_t *qh_bytes) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(int(qh)), shuf);
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
    __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}
#else
inline void nibbles32(const uint8_t *qs, int8_t *q) {
    for (int j = 0; j < QK / 2; ++j) {
        q[j] = int8_t(qs[j] & 0x0f);
        q[j + QK / 2] = int8_t(qs[j] >> 4);
    }
}
inline void add_high_bits32(const uint8_t *qh_bytes, int8_t *q) {
    uint32_t qh;
    std::memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < QK; ++j) q[j] = int8_t(q[j] | int8_t(((qh >> j) & 1) << 4));
}
#endif

inline void unpack(const BlockQ4_0 &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
#ifdef __AVX2__
    u.q = _mm256_sub_epi8(nibbles32(b.qs), _mm256_set1_epi8(8));
#else
    nibbles32(b.qs, u.q);
    for (int j = 0; j < QK; ++j) u.q[j] = int8_t(u.q[j] - 8);
#endif
}
inline void unpack(const BlockQ4_1 &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
    u.m = fp16_to_f32(b.m);
#ifdef __AVX2__
    u.q = nibbles32(b.qs);
#else
    nibbles32(b.qs, u.q);
#endif
}
inline void unpack(const BlockQ5_0 &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
#ifdef __AVX2__
    u.q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(b.qs), high_bits32(b.qh)), _mm256_set1_epi8(16));
#else
    nibbles32(b.qs, u.q);
    add_high_bits32(b.qh, u.q);
    for (int j = 0; j < QK; ++j) u.q[j] = int8_t(u.q[j] - 16);
#endif
}
inline void unpack(const BlockQ5_1 &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
    u.m = fp16_to_f32(b.m);
#ifdef __AVX2__
    u.q = _mm256_or_si256(nibbles32(b.qs), high_bits32(b.qh));
#else
    nibbles32(b.qs, u.q);
    add_high_bits32(b.qh, u.q);
#endif
}
// IQ4_NL: the nibble picks one of 16 fixed levels (a byte shuffle under AVX2).
inline void unpack(const BlockIQ4_NL &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
#ifdef __AVX2__
    const __m256i levels = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(IQ4_LEVELS)));
    u.q = _mm256_shuffle_epi8(levels, nibbles32(b.qs));
#else
    for (int j = 0; j < QK / 2; ++j) {
        u.q[j] = IQ4_LEVELS[b.qs[j] & 0x0f];
        u.q[j + QK / 2] = IQ4_LEVELS[b.qs[j] >> 4];
    }
#endif
}
inline void unpack(const BlockQ8_0 &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
#ifdef __AVX2__
    u.q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qs));
#else
    std::memcpy(u.q, b.qs, QK);
#endif
}

// Weight types whose values are unsigned (Q*_1) pair with Q8_1 activations.
template <class B> constexpr bool has_min = false;
template <> constexpr bool has_min<BlockQ4_1> = true;
template <> constexpr bool has_min<BlockQ5_1> = true;

template <class B> struct ActOf { using type = ActQ8_0; };
template <> struct ActOf<BlockQ4_1> { using type = ActQ8_1; };
template <> struct ActOf<BlockQ5_1> { using type = ActQ8_1; };

#ifdef __AVX2__
inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

// NT (<= 4) tokens against one weight row, in the order dot.h fixes: per block
// the exact integer sum, then acc = fma(d_w * d_a, sum, acc) per token (one token
// per lane of a 4-lane accumulator).
template <class B, int NT>
void dot_quant(const B *w, const uint8_t *act, size_t stride, int64_t nb, float *out) {
    using A = typename ActOf<B>::type;
#ifdef __AVX2__
    static_assert(NT >= 1 && NT <= 4, "at most 4 tokens per call");
    const A *a[4];
    for (int t = 0; t < 4; ++t) a[t] = reinterpret_cast<const A *>(act + (t < NT ? t : 0) * stride);
    const __m256i ones = _mm256_set1_epi16(1);
    __m128 acc = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        Unpacked u;
        unpack(w[i], u);
        // maddubs wants unsigned x signed: move the weight's sign onto the activation.
        const __m256i wabs = has_min<B> ? u.q : _mm256_sign_epi8(u.q, u.q);
        __m256i s32[4];
        for (int t = 0; t < 4; ++t) {
            if (t >= NT) {
                s32[t] = _mm256_setzero_si256();
                continue;
            }
            __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[t][i].qs));
            if (!has_min<B>) aq = _mm256_sign_epi8(aq, u.q);
            s32[t] = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, aq), ones);
        }
        const __m128 isum = _mm_cvtepi32_ps(reduce4_epi32(s32[0], s32[1], s32[2], s32[3]));
        const __m128 da = _mm_setr_ps(a[0][i].d, NT > 1 ? a[1][i].d : 0.0f, NT > 2 ? a[2][i].d : 0.0f,
                                      NT > 3 ? a[3][i].d : 0.0f);
        acc = _mm_fmadd_ps(_mm_mul_ps(_mm_set1_ps(u.d), da), isum, acc);
        if constexpr (has_min<B>) {
            auto s = [&](int t) { return reinterpret_cast<const ActQ8_1 &>(a[t][i]).s; };
            const __m128 sa = _mm_setr_ps(s(0), NT > 1 ? s(1) : 0.0f, NT > 2 ? s(2) : 0.0f, NT > 3 ? s(3) : 0.0f);
            acc = _mm_fmadd_ps(_mm_set1_ps(u.m), sa, acc);
        }
    }
    float r[4];
    _mm_storeu_ps(r, acc);
    for (int t = 0; t < NT; ++t) out[t] = r[t];
#else
    float acc[NT] = {};
    for (int64_t i = 0; i < nb; ++i) {
        Unpacked u;
        unpack(w[i], u);
        for (int t = 0; t < NT; ++t) {
            const A &a = reinterpret_cast<const A *>(act + t * stride)[i];
            int32_t sumi = 0;
            for (int j = 0; j < QK; ++j) sumi += int32_t(u.q[j]) * int32_t(a.qs[j]);
            acc[t] += float(sumi) * (u.d * a.d);
            if constexpr (has_min<B>) acc[t] += u.m * reinterpret_cast<const ActQ8_1 &>(a).s;
        }
    }
    for (int t = 0; t < NT; ++t) out[t] = acc[t];
#endif
}

// Float dot with 16 independent partial sums so the compiler can vectorise
// without reassociating (and without -ffast-math).
template <int NT>
void dot_f32(const float *__restrict w, const uint8_t *act, size_t stride, int64_t n, float *out) {
#ifdef __AVX2__
    __m256 acc[NT][2];
    const float *a[NT];
    for (int t = 0; t < NT; ++t) {
        a[t] = reinterpret_cast<const float *>(act + t * stride);
        acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
        for (int t = 0; t < NT; ++t) {
            acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(a[t] + i), acc[t][0]);
            acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(a[t] + i + 8), acc[t][1]);
        }
    }
    for (int t = 0; t < NT; ++t) {
        float s = hsum(_mm256_add_ps(acc[t][0], acc[t][1]));
        for (int64_t j = i; j < n; ++j) s += w[j] * a[t][j];
        out[t] = s;
    }
#else
    constexpr int L = 16;
    float acc[NT][L] = {};
    const float *a[NT];
    for (int t = 0; t < NT; ++t) a[t] = reinterpret_cast<const float *>(act + t * stride);
    int64_t i = 0;
    for (; i + L <= n; i += L)
        for (int t = 0; t < NT; ++t)
            for (int l = 0; l < L; ++l) acc[t][l] += w[i + l] * a[t][i + l];
    for (int t = 0; t < NT; ++t) {
        float s = 0.0f;
        for (int l = 0; l < L; ++l) s += acc[t][l];
        for (int64_t j = i; j < n; ++j) s += w[j] * a[t][j];
        out[t] = s;
    }
#endif
}

template <int NT>
void dot_dispatch(int32_t wtype, const void *w, const uint8_t *act, size_t stride, int64_t n, float *out) {
    const int64_t nb = n / QK;
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_0: dot_quant<BlockQ4_0, NT>(static_cast<const BlockQ4_0 *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q4_1: dot_quant<BlockQ4_1, NT>(static_cast<const BlockQ4_1 *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q5_0: dot_quant<BlockQ5_0, NT>(static_cast<const BlockQ5_0 *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q5_1: dot_quant<BlockQ5_1, NT>(static_cast<const BlockQ5_1 *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q8_0: dot_quant<BlockQ8_0, NT>(static_cast<const BlockQ8_0 *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_IQ4_NL: dot_quant<BlockIQ4_NL, NT>(static_cast<const BlockIQ4_NL *>(w), act, stride, nb, out); break;
    default: dot_f32<NT>(static_cast<const float *>(w), act, stride, n, out); break;
    }
}

// ---- single-token (GEMV) path: several weight rows against one activation row ----

#ifdef __AVX2__
// 8 weight rows against one activation row, one row per lane of the float
// accumulator: per block the 8 rows' exact integer sums (reduce_pairs8), then one
// fma with the 8 rows' scales, so each lane runs the chain dot.h fixes. The
// activation block is loaded once for all rows. rows[] may repeat a row (the
// tail of a range); only n_out results are stored.
// Q4_0/Q5_0: the weights stay unsigned (q + OFFSET), so maddubs takes them
// without the two sign flips; OFFSET * (sum of the activations) comes off the
// block sums, leaving exactly the integers of (q - OFFSET) * a.
template <class B> constexpr int gemv_offset = 0;
template <> constexpr int gemv_offset<BlockQ4_0> = 8;
template <> constexpr int gemv_offset<BlockQ5_0> = 16;
inline __m256i offset_q(const BlockQ4_0 &b) { return nibbles32(b.qs); }
inline __m256i offset_q(const BlockQ5_0 &b) { return _mm256_or_si256(nibbles32(b.qs), high_bits32(b.qh)); }
template <class B> inline __m256i offset_q(const B &) { return _mm256_setzero_si256(); } // not an offset type

// The fp16 scales (or mins) of block i of 8 rows, as floats.
template <class B>
inline __m256 scales8(const B *const *r, int64_t i) {
    return _mm256_cvtph_ps(_mm_setr_epi16(short(r[0][i].d), short(r[1][i].d), short(r[2][i].d), short(r[3][i].d),
                                          short(r[4][i].d), short(r[5][i].d), short(r[6][i].d), short(r[7][i].d)));
}
template <class B>
inline __m256 mins8(const B *const *r, int64_t i) {
    return _mm256_cvtph_ps(_mm_setr_epi16(short(r[0][i].m), short(r[1][i].m), short(r[2][i].m), short(r[3][i].m),
                                          short(r[4][i].m), short(r[5][i].m), short(r[6][i].m), short(r[7][i].m)));
}

template <class B>
void gemv_quant8(const B *const *rows, const uint8_t *next, const uint8_t *act, int64_t nb, float *out, int n_out) {
    using A = typename ActOf<B>::type;
    const A *a = reinterpret_cast<const A *>(act);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_next_rows<8 * int(sizeof(B))>(next, i);
        const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[i].qs));
        // Lane integers of row r; rows are folded in pairs as they come (reduce_pairs8).
        auto lanes = [&](int r) {
            const B &b = rows[r][i];
            if constexpr (gemv_offset<B> != 0) {
                return _mm256_madd_epi16(_mm256_maddubs_epi16(offset_q(b), aq), ones);
            } else {
                Unpacked u;
                unpack(b, u);
                const __m256i wabs = has_min<B> ? u.q : _mm256_sign_epi8(u.q, u.q);
                const __m256i as = has_min<B> ? aq : _mm256_sign_epi8(aq, u.q);
                return _mm256_madd_epi16(_mm256_maddubs_epi16(wabs, as), ones);
            }
        };
        const __m256i h01 = _mm256_hadd_epi32(lanes(0), lanes(1));
        const __m256i h23 = _mm256_hadd_epi32(lanes(2), lanes(3));
        const __m256i h45 = _mm256_hadd_epi32(lanes(4), lanes(5));
        const __m256i h67 = _mm256_hadd_epi32(lanes(6), lanes(7));
        __m256i isum = reduce_pairs8(h01, h23, h45, h67);
        if constexpr (gemv_offset<B> != 0) {
            const __m256i corr = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(gemv_offset<B>), aq), ones);
            isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(reduce1_epi32(corr)));
        }
        acc = _mm256_fmadd_ps(_mm256_mul_ps(scales8(rows, i), _mm256_set1_ps(a[i].d)), _mm256_cvtepi32_ps(isum), acc);
        if constexpr (has_min<B>)
            acc = _mm256_fmadd_ps(mins8(rows, i), _mm256_set1_ps(reinterpret_cast<const ActQ8_1 &>(a[i]).s), acc);
    }
    if (n_out == 8) {
        _mm256_storeu_ps(out, acc);
    } else {
        float r[8];
        _mm256_storeu_ps(r, acc);
        for (int k = 0; k < n_out; ++k) out[k] = r[k];
    }
}

// The same with 4 rows per group (one row per lane of a 4-lane accumulator):
// Q8_0, whose big output heads stream from memory faster 4 rows at a time.
template <class B>
void gemv_quant4(const B *const *rows, const uint8_t *next, const uint8_t *act, int64_t nb, float *out, int n_out) {
    using A = typename ActOf<B>::type;
    static_assert(gemv_offset<B> == 0 && !has_min<B>, "4-row groups only for the signed types");
    const A *a = reinterpret_cast<const A *>(act);
    const __m256i ones = _mm256_set1_epi16(1);
    __m128 acc = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_next_rows<4 * int(sizeof(B))>(next, i);
        const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[i].qs));
        auto lanes = [&](int r) {
            Unpacked u;
            unpack(rows[r][i], u);
            return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(u.q, u.q), _mm256_sign_epi8(aq, u.q)), ones);
        };
        const __m256i h01 = _mm256_hadd_epi32(lanes(0), lanes(1));
        const __m256i h23 = _mm256_hadd_epi32(lanes(2), lanes(3));
        const __m256i ab = _mm256_hadd_epi32(h01, h23);
        const __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(ab), _mm256_extracti128_si256(ab, 1));
        const __m128 d = _mm_cvtph_ps(_mm_setr_epi16(short(rows[0][i].d), short(rows[1][i].d), short(rows[2][i].d),
                                                     short(rows[3][i].d), 0, 0, 0, 0));
        acc = _mm_fmadd_ps(_mm_mul_ps(d, _mm_set1_ps(a[i].d)), _mm_cvtepi32_ps(isum), acc);
    }
    float r[4];
    _mm_storeu_ps(r, acc);
    for (int k = 0; k < n_out; ++k) out[k] = r[k];
}

template <class B> constexpr int gemv_group = 8;
constexpr int GEMV_AHEAD = 2; // groups between the one being read and the one being prefetched, plus one
template <> constexpr int gemv_group<BlockQ8_0> = 4;

template <class B>
void gemv_type(const void *w, size_t wrb, int64_t n_rows, const uint8_t *act, int64_t nb, float *out) {
    // The prefetch runs one group ahead of the next: reading a group's rows block by
    // block interleaves R streams, and data asked for only one group ahead was
    // still arriving when a 262144-row Q8_0 head (gemma3) reached it.
    constexpr int R = gemv_group<B>;
    const uint8_t *wb = static_cast<const uint8_t *>(w);
    for (int64_t r = 0; r < n_rows; r += R) {
        const B *rows[R];
        for (int k = 0; k < R; ++k) rows[k] = reinterpret_cast<const B *>(wb + std::min(r + k, n_rows - 1) * wrb);
        const int n_out = int(std::min<int64_t>(R, n_rows - r));
        if constexpr (R == 4)
            gemv_quant4<B>(rows, wb + (r + GEMV_AHEAD * R) * wrb, act, nb, out + r, n_out);
        else
            gemv_quant8<B>(rows, wb + (r + GEMV_AHEAD * R) * wrb, act, nb, out + r, n_out);
    }
}

// ---- a few tokens (2..GEMV_MULTI_TOK) through the GEMV kernels ----
// Decoding several sequences at once gives a handful of tokens per matmul: too few
// to fill the 8-token tiles, and each run alone would unpack every weight block once
// per token. Here R rows are unpacked once per block and each of T tokens takes them
// in turn; for every (row, token) the integer lanes and the float chain are exactly
// gemv_quant8/gemv_quant4's for that token alone, so results stay bit-identical to
// the single-token path (dot.h). With VNNI one dpbusd gives the same exact lanes as
// maddubs + madd (4 consecutive products per 32-bit lane, no saturation possible).
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
inline __m256i udot32(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }
#else
inline __m256i udot32(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
#endif

// 8x8 transpose of int32 lanes: lane j of v[r] goes to lane r of v[j].
inline void transpose8_epi32(__m256i v[8]) {
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(v[4], v[5]), t5 = _mm256_unpackhi_epi32(v[4], v[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(v[6], v[7]), t7 = _mm256_unpackhi_epi32(v[6], v[7]);
    const __m256i s0 = _mm256_unpacklo_epi64(t0, t2), s1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i s2 = _mm256_unpacklo_epi64(t1, t3), s3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i s4 = _mm256_unpacklo_epi64(t4, t6), s5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i s6 = _mm256_unpacklo_epi64(t5, t7), s7 = _mm256_unpackhi_epi64(t5, t7);
    v[0] = _mm256_permute2x128_si256(s0, s4, 0x20);
    v[1] = _mm256_permute2x128_si256(s1, s5, 0x20);
    v[2] = _mm256_permute2x128_si256(s2, s6, 0x20);
    v[3] = _mm256_permute2x128_si256(s3, s7, 0x20);
    v[4] = _mm256_permute2x128_si256(s0, s4, 0x31);
    v[5] = _mm256_permute2x128_si256(s1, s5, 0x31);
    v[6] = _mm256_permute2x128_si256(s2, s6, 0x31);
    v[7] = _mm256_permute2x128_si256(s3, s7, 0x31);
}

// Q4_0 and Q4_1 hold their 32 values as plain nibbles: byte k of qs has value k
// in its low and value k + 16 in its high half. Transposing the 8 rows' qs as
// dwords first (4 dwords a row) and splitting the nibbles after gives the
// layout above directly: lane r of w[j] = values 4j..4j+3 of row r, for j < 4
// from the low nibbles of dword j, for j >= 4 from the high nibbles of dword
// j - 4, which are values 16 + 4(j - 4).. = 4j... Far cheaper than unpacking
// each row to 32 bytes and transposing those.
template <class B> constexpr bool plain_nibbles = false;
template <> constexpr bool plain_nibbles<BlockQ4_0> = true;
template <> constexpr bool plain_nibbles<BlockQ4_1> = true;

template <class B>
inline void nibbles_t8(const B *const *rows, int64_t i, __m256i w[8]) {
    __m256i x[4];   // row r in the low 128 bits, row r + 4 in the high
    for (int r = 0; r < 4; ++r)
        x[r] = _mm256_loadu2_m128i(reinterpret_cast<const __m128i *>(rows[r + 4][i].qs),
                                   reinterpret_cast<const __m128i *>(rows[r][i].qs));
    // A 4x4 dword transpose in each 128-bit half: q[m] lane r = dword m of row r.
    const __m256i t0 = _mm256_unpacklo_epi32(x[0], x[1]), t1 = _mm256_unpackhi_epi32(x[0], x[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(x[2], x[3]), t3 = _mm256_unpackhi_epi32(x[2], x[3]);
    const __m256i q[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                          _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int m = 0; m < 4; ++m) {
        w[m] = _mm256_and_si256(q[m], low);
        w[m + 4] = _mm256_and_si256(_mm256_srli_epi16(q[m], 4), low);
    }
}

// isum + the 4-product sums of u8 x s8 per int32 lane (exact, as udot32).
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
inline __m256i udot32_acc(__m256i isum, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(isum, u, s); }
// isum + u . (the 4 int8 at p, in every lane): the broadcast as dpbusd's embedded
// {1to8} memory operand, one instruction (GCC does not fold a set1 into it).
inline __m256i udot32_acc_bcast(__m256i isum, __m256i u, const int8_t *p) {
    __asm__("vpdpbusd %2%{1to8%}, %1, %0" : "+v"(isum) : "v"(u), "m"(*reinterpret_cast<const int32_t *>(p)));
    return isum;
}
#else
inline __m256i udot32_acc(__m256i isum, __m256i u, __m256i s) { return _mm256_add_epi32(isum, udot32(u, s)); }
inline __m256i udot32_acc_bcast(__m256i isum, __m256i u, const int8_t *p) {
    int32_t x;
    std::memcpy(&x, p, 4);
    return udot32_acc(isum, u, _mm256_set1_epi32(x));
}
#endif

// The weights as unsigned bytes q + offset for dpbusd/maddubs: Q4_0/Q5_0 always,
// and Q8_0 where dpbusd (no 16-bit saturation) takes q + 128 up to 255, which
// spares the sign flips of every activation dword. offset * (the block's sum of
// activations) then comes off the integer sums: the same integers exactly.
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
template <class B> constexpr int multi_offset = std::is_same_v<B, BlockQ8_0> ? 128 : gemv_offset<B>;
#else
template <class B> constexpr int multi_offset = gemv_offset<B>;
#endif

// The 8 rows' weight blocks are unpacked once and transposed, so that lane r of
// w[j] holds values 4j..4j+3 of row r; each token then broadcasts its activation
// dword j against w[j] and the 8 rows' exact block sums build up in the lanes of
// one register, with no horizontal reduction per token. The integers equal
// gemv_quant8's (integer sums are exact in any order) and the float chain per
// lane is its chain, so the results are bit-identical to the single-token path.
template <class B, int T>
void gemv_multi8(const B *const *rows, const uint8_t *next, const uint8_t *act, size_t act_stride, int64_t nb,
                 const int32_t *corr, float *out, int64_t out_stride, int n_out) {
    using A = typename ActOf<B>::type;
    constexpr int offset = multi_offset<B>;
    constexpr bool sign = offset == 0 && !has_min<B>;   // signed weights: sign onto the activation
    static_assert(offsetof(B, d) == 0, "the gather reads each block's scale at its start");
    int32_t off[8];
    for (int r = 0; r < 8; ++r) off[r] = int32_t(reinterpret_cast<const uint8_t *>(rows[r]) - reinterpret_cast<const uint8_t *>(rows[0]));
    const __m256i row_off = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(off));
    // Per 128-bit lane: the low halves of the 4 dwords, then their high halves.
    const __m256i split_halves = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                                  0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const A *a[T];
    __m256 acc[T];
    for (int t = 0; t < T; ++t) {
        a[t] = reinterpret_cast<const A *>(act + t * act_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_next_rows<8 * int(sizeof(B))>(next, i);
        __m256i wu[8], ws[8];   // unsigned weights for maddubs/dpbusd, and their signs
        if constexpr (plain_nibbles<B>) {
            nibbles_t8(rows, i, wu);
        } else {
            for (int r = 0; r < 8; ++r) {
                if constexpr (gemv_offset<B> != 0) {
                    wu[r] = offset_q(rows[r][i]);
                } else {
                    Unpacked u;
                    unpack(rows[r][i], u);
                    wu[r] = u.q;
                }
            }
            transpose8_epi32(wu);
            if constexpr (offset == 128)   // signed bytes + 128 (a flip of the top bit): unsigned
                for (int j = 0; j < 8; ++j) wu[j] = _mm256_xor_si256(wu[j], _mm256_set1_epi8(char(0x80)));
            if constexpr (sign) {   // |w| and sign(w) byte by byte, after the one transpose
                for (int j = 0; j < 8; ++j) {
                    ws[j] = wu[j];
                    wu[j] = _mm256_sign_epi8(ws[j], ws[j]);
                }
            }
        }
        // Each row's block starts with its fp16 scale (then its min, for Q*_1):
        // one gather of those dwords, then d and m split into halves.
        const __m256i dm = _mm256_permute4x64_epi64(
            _mm256_shuffle_epi8(_mm256_i32gather_epi32(reinterpret_cast<const int *>(rows[0] + i), row_off, 1),
                                split_halves),
            0xD8);
        const __m256 dw = _mm256_cvtph_ps(_mm256_castsi256_si128(dm));
        const __m256 mw = _mm256_cvtph_ps(_mm256_extracti128_si256(dm, 1));
        for (int t = 0; t < T; ++t) {
            const int8_t *aw = a[t][i].qs;   // 4 int8 per dword, broadcast
            // Two chains of 4 dpbusd, not one of 8: each waits on the last one's result.
            __m256i part[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
            for (int j = 0; j < 8; ++j) {
                if constexpr (!sign) {
                    part[j & 1] = udot32_acc_bcast(part[j & 1], wu[j], aw + 4 * j);
                } else {
                    int32_t dw32;
                    std::memcpy(&dw32, aw + 4 * j, 4);
                    const __m256i aj = _mm256_set1_epi32(dw32);
                    part[j & 1] = udot32_acc(part[j & 1], wu[j], _mm256_sign_epi8(aj, ws[j]));
                }
            }
            __m256i isum = _mm256_add_epi32(part[0], part[1]);
            if constexpr (offset != 0) isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(corr[t * nb + i]));
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(a[t][i].d)), _mm256_cvtepi32_ps(isum), acc[t]);
            if constexpr (has_min<B>)
                acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(reinterpret_cast<const ActQ8_1 &>(a[t][i]).s), acc[t]);
        }
        (void)mw;
    }
    for (int t = 0; t < T; ++t) {
        float r[8];
        _mm256_storeu_ps(r, acc[t]);
        for (int k = 0; k < n_out; ++k) out[t * out_stride + k] = r[k];
    }
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// GCC 12's 512-bit intrinsics pass _mm512_undefined_*() as the masked-off source,
// which -Wmaybe-uninitialized reports once inlined (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// gemv_multi8 on 16 rows in 512-bit registers, where one dpbusd does the work of
// two 256-bit ones (where a 512-bit dpbusd runs at the 256-bit rate, as on the
// EPYC in docs/performance.md): lane r of w[j] holds values 4j..4j+3 of row r, as
// there. Each lane's integers and float chain are gemv_multi8's, so the results
// are the single-token path's bits too. Not for types whose signs go onto the
// activations (no 512-bit vpsignb).
template <class B> constexpr bool multi16 = multi_offset<B> != 0 || has_min<B>;
// Q5_0/Q5_1: Q4's nibble layout plus a 32-bit mask of high bits per block.
template <class B> constexpr bool five_bits = std::is_same_v<B, BlockQ5_0> || std::is_same_v<B, BlockQ5_1>;

inline __m512i udot64_acc_bcast(__m512i isum, __m512i u, const int8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(isum) : "v"(u), "m"(*reinterpret_cast<const int32_t *>(p)));
    return isum;
}

inline __m512i load4x128(const void *p0, const void *p1, const void *p2, const void *p3) {
    const __m512i v = _mm512_castsi128_si512(_mm_loadu_si128(static_cast<const __m128i *>(p0)));
    return _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(v, _mm_loadu_si128(static_cast<const __m128i *>(p1)), 1),
                                                 _mm_loadu_si128(static_cast<const __m128i *>(p2)), 2),
                              _mm_loadu_si128(static_cast<const __m128i *>(p3)), 3);
}

// nibbles_t8 for 16 rows: 128-bit lane L of x[r] holds row r + 4L, and the 4x4
// dword transpose in each lane leaves dword m of row e in lane e of q[m].
template <class B>
inline void nibbles_t16(const B *const *rows, int64_t i, __m512i w[8]) {
    __m512i x[4];
    for (int r = 0; r < 4; ++r) x[r] = load4x128(rows[r][i].qs, rows[r + 4][i].qs, rows[r + 8][i].qs, rows[r + 12][i].qs);
    const __m512i t0 = _mm512_unpacklo_epi32(x[0], x[1]), t1 = _mm512_unpackhi_epi32(x[0], x[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(x[2], x[3]), t3 = _mm512_unpackhi_epi32(x[2], x[3]);
    const __m512i q[4] = {_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
                          _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3)};
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int m = 0; m < 4; ++m) {
        w[m] = _mm512_and_si512(q[m], low);
        w[m + 4] = _mm512_and_si512(_mm512_srli_epi16(q[m], 4), low);
    }
}

// The 32 unsigned weight bytes of a row's block (as gemv_multi8 builds them).
template <class B> inline __m256i unsigned_q(const B &b) {
    if constexpr (gemv_offset<B> != 0) {
        return offset_q(b);
    } else {
        Unpacked u;
        unpack(b, u);
        return u.q;
    }
}

// transpose8_epi32 in both 256-bit halves at once: the low half of v[r] holds row
// r's 8 dwords and the high half row r + 8's; after it lane e of v[j] holds dword
// j of row e. The last step, permute2x128 in each half, is one vpermt2q.
inline void transpose8x2_epi32(__m512i v[8]) {
    const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
    const __m512i t4 = _mm512_unpacklo_epi32(v[4], v[5]), t5 = _mm512_unpackhi_epi32(v[4], v[5]);
    const __m512i t6 = _mm512_unpacklo_epi32(v[6], v[7]), t7 = _mm512_unpackhi_epi32(v[6], v[7]);
    const __m512i s0 = _mm512_unpacklo_epi64(t0, t2), s1 = _mm512_unpackhi_epi64(t0, t2);
    const __m512i s2 = _mm512_unpacklo_epi64(t1, t3), s3 = _mm512_unpackhi_epi64(t1, t3);
    const __m512i s4 = _mm512_unpacklo_epi64(t4, t6), s5 = _mm512_unpackhi_epi64(t4, t6);
    const __m512i s6 = _mm512_unpacklo_epi64(t5, t7), s7 = _mm512_unpackhi_epi64(t5, t7);
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    v[0] = _mm512_permutex2var_epi64(s0, lo, s4);
    v[1] = _mm512_permutex2var_epi64(s1, lo, s5);
    v[2] = _mm512_permutex2var_epi64(s2, lo, s6);
    v[3] = _mm512_permutex2var_epi64(s3, lo, s7);
    v[4] = _mm512_permutex2var_epi64(s0, hi, s4);
    v[5] = _mm512_permutex2var_epi64(s1, hi, s5);
    v[6] = _mm512_permutex2var_epi64(s2, hi, s6);
    v[7] = _mm512_permutex2var_epi64(s3, hi, s7);
}

template <class B, int T>
void gemv_multi16(const B *const *rows, const uint8_t *next, const uint8_t *act, size_t act_stride, int64_t nb,
                  const int32_t *corr, float *out, int64_t out_stride, int n_out) {
    using A = typename ActOf<B>::type;
    constexpr int offset = multi_offset<B>;
    static_assert(multi16<B> && offsetof(B, d) == 0, "unsigned weights, each block's scale at its start");
    int32_t off[16];
    for (int r = 0; r < 16; ++r) off[r] = int32_t(reinterpret_cast<const uint8_t *>(rows[r]) - reinterpret_cast<const uint8_t *>(rows[0]));
    const __m512i row_off = _mm512_loadu_si512(off);
    // high16[k]: byte b is 16 where bit b of k is set.
    const __m512i high16 = _mm512_setr_epi32(0x00000000, 0x00000010, 0x00001000, 0x00001010, 0x00100000, 0x00100010,
                                             0x00101000, 0x00101010, 0x10000000, 0x10000010, 0x10001000, 0x10001010,
                                             0x10100000, 0x10100010, 0x10101000, 0x10101010);
    const A *a[T];
    __m512 acc[T];
    for (int t = 0; t < T; ++t) {
        a[t] = reinterpret_cast<const A *>(act + t * act_stride);
        acc[t] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_next_rows<16 * int(sizeof(B))>(next, i);
        __m512i w[8];
        if constexpr (plain_nibbles<B>) {
            nibbles_t16(rows, i, w);
        } else if constexpr (five_bits<B>) {
            // The nibbles as Q4's, then each row's 32 high bits from one gather: lane
            // r of w[j] takes bits 4j..4j+3 of row r's qh, spread to its 4 bytes as
            // 16s by a 16-entry dword table (vpermd reads only the low 4 index bits).
            nibbles_t16(rows, i, w);
            const __m512i qh = _mm512_i32gather_epi32(row_off, static_cast<const void *>(rows[0][i].qh), 1);
            for (int j = 0; j < 8; ++j)
                w[j] = _mm512_or_si512(w[j], _mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 4 * j), high16));
        } else {
            for (int r = 0; r < 8; ++r)
                w[r] = _mm512_inserti64x4(_mm512_castsi256_si512(unsigned_q(rows[r][i])), unsigned_q(rows[r + 8][i]), 1);
            transpose8x2_epi32(w);
            if constexpr (offset == 128)
                for (int j = 0; j < 8; ++j) w[j] = _mm512_xor_si512(w[j], _mm512_set1_epi8(char(0x80)));
        }
        // Each row's block starts with its fp16 scale (then its min, for Q*_1).
        const __m512i g = _mm512_i32gather_epi32(row_off, static_cast<const void *>(rows[0] + i), 1);
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
        const __m512 mw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16)));
        for (int t = 0; t < T; ++t) {
            const int8_t *aw = a[t][i].qs;
            __m512i part[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
            for (int j = 0; j < 8; ++j) part[j & 1] = udot64_acc_bcast(part[j & 1], w[j], aw + 4 * j);
            __m512i isum = _mm512_add_epi32(part[0], part[1]);
            if constexpr (offset != 0) isum = _mm512_sub_epi32(isum, _mm512_set1_epi32(corr[t * nb + i]));
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(a[t][i].d)), _mm512_cvtepi32_ps(isum), acc[t]);
            if constexpr (has_min<B>)
                acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(reinterpret_cast<const ActQ8_1 &>(a[t][i]).s), acc[t]);
        }
        (void)mw;
    }
    for (int t = 0; t < T; ++t) {
        float r[16];
        _mm512_storeu_ps(r, acc[t]);
        for (int k = 0; k < n_out; ++k) out[t * out_stride + k] = r[k];
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
template <class B> constexpr bool multi16 = false;
template <class B, int T>
void gemv_multi16(const B *const *, const uint8_t *, const uint8_t *, size_t, int64_t, const int32_t *, float *, int64_t,
                  int) {}
#endif

template <class B>
void gemv_type_multi(const void *w, size_t wrb, int64_t n_rows, const uint8_t *act, size_t act_stride, int n_tok,
                     int64_t nb, float *out, int64_t out_stride) {
    // 8 rows per group for every type (Q8_0 too, unlike gemv_type), or 16 in 512-bit
    // registers: with several tokens the kernel is bound by arithmetic, not by
    // streaming the rows.
    constexpr int R = multi16<B> ? 16 : 8;
    using A = typename ActOf<B>::type;
    // offset * (sum of each activation block), once per call rather than per row group.
    thread_local std::vector<int32_t> corr;
    if constexpr (multi_offset<B> != 0) {
        if (corr.size() < size_t(n_tok * nb)) corr.resize(size_t(n_tok * nb));
        for (int t = 0; t < n_tok; ++t) {
            const A *a = reinterpret_cast<const A *>(act + t * act_stride);
            for (int64_t i = 0; i < nb; ++i) {
                int32_t sum = 0;
                for (int k = 0; k < QK; ++k) sum += a[i].qs[k];
                corr[size_t(t * nb + i)] = multi_offset<B> * sum;
            }
        }
    }
    const uint8_t *wb = static_cast<const uint8_t *>(w);
    for (int64_t r = 0; r < n_rows; r += R) {
        const B *rows[R];
        for (int k = 0; k < R; ++k) rows[k] = reinterpret_cast<const B *>(wb + std::min(r + k, n_rows - 1) * wrb);
        const int n_out = int(std::min<int64_t>(R, n_rows - r));
        const uint8_t *next = wb + (r + GEMV_AHEAD * R) * wrb;
        // The group's rows stay in L1 while the tokens pass over them, up to 8 at a
        // time in 512-bit registers (32 of them: 8 accumulators beside 8 weight
        // vectors), else 4 at a time.
        constexpr int per_pass = R == 16 ? 8 : 4;
        for (int t = 0; t < n_tok; t += per_pass) {
            const uint8_t *at = act + t * act_stride;
            const int32_t *c = multi_offset<B> != 0 ? corr.data() + t * nb : nullptr;
            float *o = out + t * out_stride + r;
            if constexpr (R == 16) {
                switch (std::min(per_pass, n_tok - t)) {
                case 1: gemv_multi16<B, 1>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 2: gemv_multi16<B, 2>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 3: gemv_multi16<B, 3>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 4: gemv_multi16<B, 4>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 5: gemv_multi16<B, 5>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 6: gemv_multi16<B, 6>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 7: gemv_multi16<B, 7>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                default: gemv_multi16<B, 8>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                }
            } else {
                switch (std::min(4, n_tok - t)) {
                case 1: gemv_multi8<B, 1>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 2: gemv_multi8<B, 2>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                case 3: gemv_multi8<B, 3>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                default: gemv_multi8<B, 4>(rows, next, at, act_stride, nb, c, o, out_stride, n_out); break;
                }
            }
        }
    }
}
#endif

} // namespace

void gemv_rows(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act, int64_t n,
               float *out) {
    const uint8_t *a = static_cast<const uint8_t *>(act);
#ifdef __AVX2__
    const int64_t nb = n / QK;
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_0: return gemv_type<BlockQ4_0>(w, w_row_bytes, n_rows, a, nb, out);
    case LLM4ALL_TYPE_Q4_1: return gemv_type<BlockQ4_1>(w, w_row_bytes, n_rows, a, nb, out);
    case LLM4ALL_TYPE_Q5_0: return gemv_type<BlockQ5_0>(w, w_row_bytes, n_rows, a, nb, out);
    case LLM4ALL_TYPE_Q5_1: return gemv_type<BlockQ5_1>(w, w_row_bytes, n_rows, a, nb, out);
    case LLM4ALL_TYPE_Q8_0: return gemv_type<BlockQ8_0>(w, w_row_bytes, n_rows, a, nb, out);
    case LLM4ALL_TYPE_IQ4_NL: return gemv_type<BlockIQ4_NL>(w, w_row_bytes, n_rows, a, nb, out);
    default: break;
    }
    if (gemv_rows_k(wtype, w, w_row_bytes, n_rows, act, n, out)) return;
#endif
    const uint8_t *wb = static_cast<const uint8_t *>(w);
    for (int64_t r = 0; r < n_rows; ++r) dot_rows(wtype, wb + r * w_row_bytes, a, 0, 1, n, out + r);
}

bool gemv_multi_supported(int32_t wtype) {
#ifdef __AVX2__
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_0: case LLM4ALL_TYPE_Q4_1: case LLM4ALL_TYPE_Q5_0: case LLM4ALL_TYPE_Q5_1:
    case LLM4ALL_TYPE_Q8_0: case LLM4ALL_TYPE_IQ4_NL:
    case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K: case LLM4ALL_TYPE_Q6_K: return true;
    default: return false;
    }
#else
    (void)wtype;
    return false;
#endif
}

void gemv_rows_multi(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
                     size_t act_stride, int n_tok, int64_t n, float *out, int64_t out_stride) {
#ifdef __AVX2__
    const uint8_t *a = static_cast<const uint8_t *>(act);
    const int64_t nb = n / QK;
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_0: return gemv_type_multi<BlockQ4_0>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
    case LLM4ALL_TYPE_Q4_1: return gemv_type_multi<BlockQ4_1>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
    case LLM4ALL_TYPE_Q5_0: return gemv_type_multi<BlockQ5_0>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
    case LLM4ALL_TYPE_Q5_1: return gemv_type_multi<BlockQ5_1>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
    case LLM4ALL_TYPE_Q8_0: return gemv_type_multi<BlockQ8_0>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
    case LLM4ALL_TYPE_IQ4_NL: return gemv_type_multi<BlockIQ4_NL>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
    default: break;
    }
    if (gemv_rows_k_multi(wtype, w, w_row_bytes, n_rows, act, act_stride, n_tok, n, out, out_stride)) return;
#endif
    // Not reached where gemv_multi_supported is checked: one token at a time.
    for (int t = 0; t < n_tok; ++t)
        gemv_rows(wtype, w, w_row_bytes, n_rows, static_cast<const uint8_t *>(act) + t * act_stride, n,
                  out + t * out_stride);
}

void dot_rows(int32_t wtype, const void *w_row, const void *act, size_t act_stride, int n_tok,
              int64_t n, float *out) {
    if (is_superblock_type(wtype)) return dot_rows_k(wtype, w_row, act, act_stride, n_tok, n, out);
    const uint8_t *a = static_cast<const uint8_t *>(act);
    switch (n_tok) {
    case 1: dot_dispatch<1>(wtype, w_row, a, act_stride, n, out); break;
    case 2: dot_dispatch<2>(wtype, w_row, a, act_stride, n, out); break;
    case 3: dot_dispatch<3>(wtype, w_row, a, act_stride, n, out); break;
    default: dot_dispatch<4>(wtype, w_row, a, act_stride, n, out); break;
    }
}

// ---- prompt-batch tiles: one weight row against groups of 8 interleaved tokens ----
// The weights are unpacked to unsigned bytes (q + offset), a dword of them is
// broadcast, and one u8 x s8 dot-accumulate per 4 values gives 8 tokens' sums
// in the lanes of one vector; the offset comes off as offset * sum(a) per block.
// The integer block sums are exact, so results equal dot_rows' up to the order
// of float additions.

namespace {
#ifdef __AVX2__
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
constexpr bool HAVE_VNNI = true;
// s + per lane sum of 4 u8 x s8 products, for two dwords of weights.
inline __m256i dot2(__m256i s, __m256i w0, __m256i a0, __m256i w1, __m256i a1) {
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(s, w0, a0), w1, a1);
}
#else
constexpr bool HAVE_VNNI = false;
// Without VNNI: two maddubs summed in 16 bits first; weights below 64 keep
// every 16-bit sum (4 products of at most 63 * 128) from saturating.
inline __m256i dot2(__m256i s, __m256i w0, __m256i a0, __m256i w1, __m256i a1) {
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, a0), _mm256_maddubs_epi16(w1, a1));
    return _mm256_add_epi32(s, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
#endif

// A weight block as unsigned bytes: value = d * (q - 2^SHIFT).
template <class B> struct Unsigned;
template <> struct Unsigned<BlockQ4_0> {
    static constexpr int SHIFT = 3;
    static __m256i q(const BlockQ4_0 &b) { return nibbles32(b.qs); }
};
template <> struct Unsigned<BlockQ5_0> {
    static constexpr int SHIFT = 4;
    static __m256i q(const BlockQ5_0 &b) { return _mm256_or_si256(nibbles32(b.qs), high_bits32(b.qh)); }
};
// Offset 128 lifts them to 1..255: fine for VNNI, would saturate maddubs.
template <> struct Unsigned<BlockQ8_0> {
    static constexpr int SHIFT = 7;
    static __m256i q(const BlockQ8_0 &b) {
        return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qs)), _mm256_set1_epi8(char(0x80)));
    }
};
template <> struct Unsigned<BlockIQ4_NL> {
    static constexpr int SHIFT = 7;
    static __m256i q(const BlockIQ4_NL &b) {
        Unpacked u;
        unpack(b, u);
        return _mm256_xor_si256(u.q, _mm256_set1_epi8(char(0x80)));
    }
};

template <class B, int G>
void tile_q(const B *w, const uint8_t *groups, size_t gbytes, int64_t nb, float *out) {
    __m256 acc[G];
    const GroupQ8_0 *a[G];
    for (int g = 0; g < G; ++g) {
        acc[g] = _mm256_setzero_ps();
        a[g] = reinterpret_cast<const GroupQ8_0 *>(groups + g * gbytes);
    }
    alignas(32) uint32_t q[QK / 4];
    for (int64_t i = 0; i < nb; ++i) {
        _mm256_store_si256(reinterpret_cast<__m256i *>(q), Unsigned<B>::q(w[i]));
        __m256i s[G];
        for (int g = 0; g < G; ++g)
            s[g] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                    _mm256_slli_epi32(_mm256_load_si256(reinterpret_cast<const __m256i *>(a[g][i].sum)),
                                                      Unsigned<B>::SHIFT));
        for (int j = 0; j < QK / 4; j += 2) {
            const __m256i w0 = _mm256_set1_epi32(int(q[j])), w1 = _mm256_set1_epi32(int(q[j + 1]));
            for (int g = 0; g < G; ++g)
                s[g] = dot2(s[g], w0, _mm256_load_si256(reinterpret_cast<const __m256i *>(a[g][i].qs[j])), w1,
                            _mm256_load_si256(reinterpret_cast<const __m256i *>(a[g][i].qs[j + 1])));
        }
        const __m256 dw = _mm256_set1_ps(fp16_to_f32(w[i].d));
        for (int g = 0; g < G; ++g)
            acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_load_ps(a[g][i].d)), _mm256_cvtepi32_ps(s[g]), acc[g]);
    }
    for (int g = 0; g < G; ++g) _mm256_storeu_ps(out + TILE_TOK * g, acc[g]);
}

// Q4_1/Q5_1: unsigned quants (below 32, so two maddubs may share 16 bits even
// without VNNI) and a min that pairs with each token's s = d_a * sum(a).
template <class B> inline __m256i unsigned_q1(const B &b);
template <> inline __m256i unsigned_q1(const BlockQ4_1 &b) { return nibbles32(b.qs); }
template <> inline __m256i unsigned_q1(const BlockQ5_1 &b) { return _mm256_or_si256(nibbles32(b.qs), high_bits32(b.qh)); }

template <class B, int G>
void tile_q1(const B *w, const uint8_t *groups, size_t gbytes, int64_t nb, float *out) {
    __m256 acc[G];
    const GroupQ8_1 *a[G];
    for (int g = 0; g < G; ++g) {
        acc[g] = _mm256_setzero_ps();
        a[g] = reinterpret_cast<const GroupQ8_1 *>(groups + g * gbytes);
    }
    alignas(32) uint32_t q[QK / 4];
    for (int64_t i = 0; i < nb; ++i) {
        _mm256_store_si256(reinterpret_cast<__m256i *>(q), unsigned_q1(w[i]));
        __m256i s[G];
        for (int g = 0; g < G; ++g) s[g] = _mm256_setzero_si256();
        for (int j = 0; j < QK / 4; j += 2) {
            const __m256i w0 = _mm256_set1_epi32(int(q[j])), w1 = _mm256_set1_epi32(int(q[j + 1]));
            for (int g = 0; g < G; ++g)
                s[g] = dot2(s[g], w0, _mm256_load_si256(reinterpret_cast<const __m256i *>(a[g][i].qs[j])), w1,
                            _mm256_load_si256(reinterpret_cast<const __m256i *>(a[g][i].qs[j + 1])));
        }
        const __m256 dw = _mm256_set1_ps(fp16_to_f32(w[i].d)), mw = _mm256_set1_ps(fp16_to_f32(w[i].m));
        for (int g = 0; g < G; ++g) {
            acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_load_ps(a[g][i].d)), _mm256_cvtepi32_ps(s[g]), acc[g]);
            acc[g] = _mm256_fmadd_ps(mw, _mm256_load_ps(a[g][i].s), acc[g]);
        }
    }
    for (int g = 0; g < G; ++g) _mm256_storeu_ps(out + TILE_TOK * g, acc[g]);
}

template <class B>
void tile_q1_groups(const void *w, const void *groups, size_t gbytes, int n_groups, int64_t nb, float *out) {
    const B *wb = static_cast<const B *>(w);
    const uint8_t *a = static_cast<const uint8_t *>(groups);
    switch (n_groups) {
    case 1: tile_q1<B, 1>(wb, a, gbytes, nb, out); break;
    case 2: tile_q1<B, 2>(wb, a, gbytes, nb, out); break;
    case 3: tile_q1<B, 3>(wb, a, gbytes, nb, out); break;
    default: tile_q1<B, 4>(wb, a, gbytes, nb, out); break;
    }
}

template <class B>
void tile_q_groups(const void *w, const void *groups, size_t gbytes, int n_groups, int64_t nb, float *out) {
    const B *wb = static_cast<const B *>(w);
    const uint8_t *a = static_cast<const uint8_t *>(groups);
    switch (n_groups) {
    case 1: tile_q<B, 1>(wb, a, gbytes, nb, out); break;
    case 2: tile_q<B, 2>(wb, a, gbytes, nb, out); break;
    case 3: tile_q<B, 3>(wb, a, gbytes, nb, out); break;
    default: tile_q<B, 4>(wb, a, gbytes, nb, out); break;
    }
}
#endif
} // namespace

bool tile_supported(int32_t wtype) {
#ifdef __AVX2__
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_0: case LLM4ALL_TYPE_Q5_0: case LLM4ALL_TYPE_Q4_1: case LLM4ALL_TYPE_Q5_1: return true;
    case LLM4ALL_TYPE_Q8_0: case LLM4ALL_TYPE_IQ4_NL: return HAVE_VNNI;
    default: return tile_supported_k(wtype);
    }
#else
    (void)wtype;
    return false;
#endif
}

void tile_dot(int32_t wtype, const void *w_row, const void *groups, size_t group_bytes, int n_groups, int64_t n,
              float *out) {
#ifdef __AVX2__
    const int64_t nb = n / QK;
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_0: return tile_q_groups<BlockQ4_0>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q5_0: return tile_q_groups<BlockQ5_0>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q4_1: return tile_q1_groups<BlockQ4_1>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q5_1: return tile_q1_groups<BlockQ5_1>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q8_0: return tile_q_groups<BlockQ8_0>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_IQ4_NL: return tile_q_groups<BlockIQ4_NL>(w_row, groups, group_bytes, n_groups, nb, out);
    default: break;
    }
#endif
    tile_dot_k(wtype, w_row, groups, group_bytes, n_groups, n, out);
}

} // namespace llm4all::cpu
