// dot_k.cpp — dot products of the 256-value super-block weight types (Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, IQ4_XS) with Q8_K activations, with llama.cpp's numerics: per
// super-block an exact integer sum of scale * q * a, minus the weight's mins (or
// fixed offsets) times the activation's 16-value sums, then scaled by d * d_a.
// A weight super-block is unpacked once into bytes + integer scales and then
// dotted with up to DOT_MAX_TOK token rows: plain loops in the generic build (the
// scalar reference), maddubs/madd under AVX2. Both compute the same integers.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "dot.h"
#include "llm4all/backend.h"
#include "quants.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

bool is_superblock_type(int32_t t) {
    switch (t) {
    case LLM4ALL_TYPE_Q2_K: case LLM4ALL_TYPE_Q3_K: case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K:
    case LLM4ALL_TYPE_Q6_K: case LLM4ALL_TYPE_IQ4_XS: return true;
    default: return false;
    }
}

namespace {

// How a type's integer mins enter a super-block's result (isum = sum sc*q*a,
// imin = sum mn*bsum, both exact):
//   OWN_SCALE  x = d*sc*q - dmin*mn          -> d*da*isum - dmin*da*imin
//   OFFSET     x = d*sc*(q - off), mn=off*sc -> d*da*(isum - imin)
//   NONE       x = d*sc*q (q signed)         -> d*da*isum
enum class Mins { OWN_SCALE, OFFSET, NONE };

// One weight super-block ready for the integer dot. Quants are stored unsigned
// (the offset types shift them up by their offset) so maddubs can take them as
// they are; only IQ4_XS keeps signed levels.
struct Unpacked {
    alignas(32) uint8_t q[QK_K];
    alignas(32) int16_t sc[QK_K / 16]; // scale of each 16 values
    alignas(32) int16_t mn[QK_K / 16]; // min (or offset * scale) of each 16 values
#ifdef __AVX2__
    __m256i scv[QK_K / 32]; // per 32 values: sc of the first 16 in the low lane, of the next 16 in the high
#endif
    float d, dmin;
};

template <class B> struct Traits;
template <> struct Traits<BlockQ2_K> { static constexpr Mins mins = Mins::OWN_SCALE; };
template <> struct Traits<BlockQ3_K> { static constexpr Mins mins = Mins::OFFSET; };
template <> struct Traits<BlockQ4_K> { static constexpr Mins mins = Mins::OWN_SCALE; };
template <> struct Traits<BlockQ5_K> { static constexpr Mins mins = Mins::OWN_SCALE; };
template <> struct Traits<BlockQ6_K> { static constexpr Mins mins = Mins::OFFSET; };
template <> struct Traits<BlockIQ4_XS> { static constexpr Mins mins = Mins::NONE; };

// The bit layouts are documented with the dequantizers in quants.cpp. The loops
// run over 32 contiguous bytes with constant shifts, which compilers vectorise.

void unpack(const BlockQ2_K &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
    u.dmin = fp16_to_f32(b.dmin);
    for (int k = 0; k < QK_K / 16; ++k) {
        u.sc[k] = int16_t(b.scales[k] & 0x0f);
        u.mn[k] = int16_t(b.scales[k] >> 4);
    }
    for (int g = 0; g < 2; ++g)
        for (int s = 0; s < 4; ++s)
            for (int l = 0; l < 32; ++l) u.q[128 * g + 32 * s + l] = uint8_t((b.qs[32 * g + l] >> (2 * s)) & 3);
}

// q - 4*!h = (q + 4h) - 4: stored as q + 4h in 0..7, offset 4.
void unpack(const BlockQ3_K &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
    u.dmin = 0.0f;
    for (int k = 0; k < QK_K / 16; ++k) {
        const int s = q3_k_scale(b.scales, k);
        u.sc[k] = int16_t(s);
        u.mn[k] = int16_t(4 * s);
    }
    for (int g = 0; g < 2; ++g)
        for (int s = 0; s < 4; ++s)
            for (int l = 0; l < 32; ++l)
                u.q[128 * g + 32 * s + l] =
                    uint8_t(((b.qs[32 * g + l] >> (2 * s)) & 3) | ((b.hmask[l] >> (4 * g + s)) & 1) << 2);
}

#ifdef __AVX2__
// Values 64g..64g+63 of a Q4_K/Q5_K block as unsigned bytes (lo: the first 32,
// hi: the next 32); qh holds a Q5_K block's high bits. Shifts are 16-bit but
// every lane is masked to bits of its own byte afterwards.
template <bool FIVE, class B>
inline void q45_group(const B &b, __m256i qh, int g, __m256i &lo, __m256i &hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qs + 32 * g));
    lo = _mm256_and_si256(bytes, m4);
    hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), m4);
    if constexpr (FIVE) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one), 4));
    }
}
#endif

template <bool FIVE, class B>
void unpack_q45(const B &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
    u.dmin = fp16_to_f32(b.dmin);
    for (int c = 0; c < QK_K / 32; ++c) {
        int sc, m;
        k_scale_min(b.scales, c, sc, m);
        u.sc[2 * c] = u.sc[2 * c + 1] = int16_t(sc);
        u.mn[2 * c] = u.mn[2 * c + 1] = int16_t(m);
    }
#ifdef __AVX2__
    __m256i qh = _mm256_setzero_si256();
    if constexpr (FIVE) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh));
    for (int g = 0; g < 4; ++g) {
        __m256i lo, hi;
        q45_group<FIVE>(b, qh, g, lo, hi);
        _mm256_store_si256(reinterpret_cast<__m256i *>(u.q + 64 * g), lo);
        _mm256_store_si256(reinterpret_cast<__m256i *>(u.q + 64 * g + 32), hi);
    }
#else
    for (int g = 0; g < 4; ++g)
        for (int l = 0; l < 32; ++l) {
            u.q[64 * g + l] = uint8_t(b.qs[32 * g + l] & 0x0f);
            u.q[64 * g + 32 + l] = uint8_t(b.qs[32 * g + l] >> 4);
        }
    if constexpr (FIVE)
        for (int c = 0; c < 8; ++c)
            for (int l = 0; l < 32; ++l) u.q[32 * c + l] = uint8_t(u.q[32 * c + l] | ((b.qh[l] >> c) & 1) << 4);
#endif
}
void unpack(const BlockQ4_K &b, Unpacked &u) { unpack_q45<false>(b, u); }
void unpack(const BlockQ5_K &b, Unpacked &u) { unpack_q45<true>(b, u); }

// Stored as the raw 6-bit q in 0..63, offset 32.
void unpack(const BlockQ6_K &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
    u.dmin = 0.0f;
    for (int k = 0; k < QK_K / 16; ++k) {
        u.sc[k] = b.scales[k];
        u.mn[k] = int16_t(32 * b.scales[k]);
    }
#ifdef __AVX2__
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    for (int g = 0; g < 2; ++g) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh + 32 * g));
        for (int t = 0; t < 4; ++t) {
            const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.ql + 64 * g + 32 * (t % 2)));
            const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (t / 2)), m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * t), m2);
            _mm256_store_si256(reinterpret_cast<__m256i *>(u.q + 128 * g + 32 * t),
                               _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)));
        }
    }
#else
    for (int g = 0; g < 2; ++g)
        for (int t = 0; t < 4; ++t)
            for (int l = 0; l < 32; ++l) {
                const int lo = (b.ql[64 * g + 32 * (t % 2) + l] >> (4 * (t / 2))) & 0x0f;
                const int hi = (b.qh[32 * g + l] >> (2 * t)) & 3;
                u.q[128 * g + 32 * t + l] = uint8_t(lo | hi << 4);
            }
#endif
}

void unpack(const BlockIQ4_XS &b, Unpacked &u) {
    u.d = fp16_to_f32(b.d);
    u.dmin = 0.0f;
    for (int k = 0; k < QK_K / 32; ++k) {
        u.sc[2 * k] = u.sc[2 * k + 1] = int16_t(iq4_xs_scale(b, k));
        u.mn[2 * k] = u.mn[2 * k + 1] = 0;
    }
#ifdef __AVX2__
    const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i *>(IQ4_LEVELS));
    const __m128i m4 = _mm_set1_epi8(0x0f);
    for (int k = 0; k < QK_K / 32; ++k) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b.qs + 16 * k));
        _mm_store_si128(reinterpret_cast<__m128i *>(u.q + 32 * k),
                        _mm_shuffle_epi8(levels, _mm_and_si128(bytes, m4)));
        _mm_store_si128(reinterpret_cast<__m128i *>(u.q + 32 * k + 16),
                        _mm_shuffle_epi8(levels, _mm_and_si128(_mm_srli_epi16(bytes, 4), m4)));
    }
#else
    for (int k = 0; k < QK_K / 32; ++k)
        for (int l = 0; l < 16; ++l) {
            u.q[32 * k + l] = uint8_t(IQ4_LEVELS[b.qs[16 * k + l] & 0x0f]);
            u.q[32 * k + 16 + l] = uint8_t(IQ4_LEVELS[b.qs[16 * k + l] >> 4]);
        }
#endif
}

#ifdef __AVX2__
// Spreads the 16 scales into one madd operand per 32 values.
inline void spread_scales(Unpacked &u) {
    const __m256i s = _mm256_load_si256(reinterpret_cast<const __m256i *>(u.sc));
    // In every lane, dword c holds (sc[2c], sc[2c+1]); take the first in the low lane, the second in the high.
    const __m256i pick = _mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                                         1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    for (int c = 0; c < QK_K / 32; ++c)
        u.scv[c] = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(s, _mm256_set1_epi32(c)), pick);
}
#endif

// NT tokens against one weight row, in the order dot.h fixes: per super-block
// the exact integer isum (and imin), then one fused step per token.
template <class B, int NT>
void dot_k(const B *w, const uint8_t *act, size_t stride, int64_t nb, float *out) {
    constexpr Mins MINS = Traits<B>::mins;
    Unpacked u;
#ifdef __AVX2__
    float acc[NT] = {};
    for (int64_t i = 0; i < nb; ++i) {
        unpack(w[i], u);
        spread_scales(u);
        for (int t = 0; t < NT; ++t) {
            const ActQ8_K &a = reinterpret_cast<const ActQ8_K *>(act + t * stride)[i];
            __m256i isum = _mm256_setzero_si256();
            for (int c = 0; c < QK_K / 32; ++c) {
                const __m256i q = _mm256_load_si256(reinterpret_cast<const __m256i *>(u.q + 32 * c));
                const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.qs + 32 * c));
                // maddubs is unsigned x signed; pair sums stay below 2*127*127, no saturation.
                const __m256i p16 = MINS == Mins::NONE
                                        ? _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q))
                                        : _mm256_maddubs_epi16(q, x);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p16, u.scv[c]));
            }
            if constexpr (MINS != Mins::NONE) {
                const __m256i imin = _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i *>(u.mn)),
                                                       _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.bsums)));
                if constexpr (MINS == Mins::OFFSET)
                    isum = _mm256_sub_epi32(isum, imin);
                else
                    acc[t] = std::fma(-(u.dmin * a.d), float(reduce1_epi32(imin)), acc[t]);
            }
            acc[t] = std::fma(u.d * a.d, float(reduce1_epi32(isum)), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) out[t] = acc[t];
#else
    float acc[NT] = {};
    for (int64_t i = 0; i < nb; ++i) {
        unpack(w[i], u);
        for (int t = 0; t < NT; ++t) {
            const ActQ8_K &a = reinterpret_cast<const ActQ8_K *>(act + t * stride)[i];
            int32_t isum = 0, imin = 0;
            for (int k = 0; k < QK_K / 16; ++k) {
                int32_t s = 0;
                for (int l = 16 * k; l < 16 * k + 16; ++l)
                    s += (MINS == Mins::NONE ? int32_t(int8_t(u.q[l])) : int32_t(u.q[l])) * int32_t(a.qs[l]);
                isum += int32_t(u.sc[k]) * s;
                imin += int32_t(u.mn[k]) * int32_t(a.bsums[k]);
            }
            const float dd = u.d * a.d;
            if constexpr (MINS == Mins::OWN_SCALE)
                acc[t] += dd * float(isum) - (u.dmin * a.d) * float(imin);
            else if constexpr (MINS == Mins::OFFSET)
                acc[t] += dd * float(isum - imin);
            else
                acc[t] += dd * float(isum);
        }
    }
    for (int t = 0; t < NT; ++t) out[t] = acc[t];
#endif
}

template <int NT>
void dispatch(int32_t wtype, const void *w, const uint8_t *act, size_t stride, int64_t nb, float *out) {
    switch (wtype) {
    case LLM4ALL_TYPE_Q2_K: dot_k<BlockQ2_K, NT>(static_cast<const BlockQ2_K *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q3_K: dot_k<BlockQ3_K, NT>(static_cast<const BlockQ3_K *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q4_K: dot_k<BlockQ4_K, NT>(static_cast<const BlockQ4_K *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q5_K: dot_k<BlockQ5_K, NT>(static_cast<const BlockQ5_K *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_Q6_K: dot_k<BlockQ6_K, NT>(static_cast<const BlockQ6_K *>(w), act, stride, nb, out); break;
    case LLM4ALL_TYPE_IQ4_XS: dot_k<BlockIQ4_XS, NT>(static_cast<const BlockIQ4_XS *>(w), act, stride, nb, out); break;
    default: for (int t = 0; t < NT; ++t) out[t] = 0.0f; break;
    }
}

#ifdef __AVX2__
// ---- single-token (GEMV) kernels: unpack straight into registers ----------------
// With one token there is nothing to amortise an unpacked super-block over, so
// Q4_K/Q5_K/Q6_K are decoded in registers, 4 rows interleaved. Integers and float
// steps are those of dot_k and the tiles (dot.h), so a token decoded alone gets
// the bits it gets inside a batch.

// Q4_K/Q5_K: one super-block of one row against one Q8_K block.
template <bool FIVE, class B>
inline void gemv_q45_block(const B &b, const ActQ8_K &a, __m256i &isum, __m256i &imin) {
    // The 8 six-bit scales and mins of k_scale_min's layout, four at a time
    // with 32-bit masks (eight scalar extractions cost as much as the dots):
    // scales 0-3 / mins 0-3 are the low 6 bits of bytes 0-3 / 4-7; scales 4-7 /
    // mins 4-7 the low / high nibbles of bytes 8-11 with the top 2 bits of
    // bytes 0-3 / 4-7 above them.
    uint32_t u[3];
    std::memcpy(u, b.scales, 12);
    const uint32_t six = 0x3f3f3f3f, four = 0x0f0f0f0f, two = 0x03030303;
    const uint64_t sc = uint64_t(u[0] & six) | uint64_t((u[2] & four) | ((u[0] >> 6) & two) << 4) << 32;
    const uint64_t mn = uint64_t(u[1] & six) | uint64_t(((u[2] >> 4) & four) | ((u[1] >> 6) & two) << 4) << 32;
    __m256i qh = _mm256_setzero_si256();
    if constexpr (FIVE) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh));
    isum = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
        __m256i lo, hi;
        q45_group<FIVE>(b, qh, g, lo, hi);
        const __m256i xl = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.qs + 64 * g));
        const __m256i xh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.qs + 64 * g + 32));
        const __m256i sl = _mm256_set1_epi16(int16_t((sc >> (16 * g)) & 0xff));
        const __m256i sh = _mm256_set1_epi16(int16_t((sc >> (16 * g + 8)) & 0xff));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), sl));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), sh));
    }
    // Every 32-value sub-block c has one min: pair it with bsums 2c and 2c+1.
    const __m256i m32 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(mn)));
    const __m256i mpair = _mm256_or_si256(m32, _mm256_slli_epi32(m32, 16));
    imin = _mm256_madd_epi16(mpair, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.bsums)));
}

// The lane sums of one super-block of one row: isum, and imin where the type's
// mins have their own scale (for the offset types imin is already taken off isum).
inline void gemv_block(const BlockQ4_K &b, const ActQ8_K &a, __m256i &isum, __m256i &imin) {
    gemv_q45_block<false>(b, a, isum, imin);
}
inline void gemv_block(const BlockQ5_K &b, const ActQ8_K &a, __m256i &isum, __m256i &imin) {
    gemv_q45_block<true>(b, a, isum, imin);
}

// Q6_K: 6-bit quants stored unsigned (offset 32), 16 signed 8-bit scales.
inline void gemv_block(const BlockQ6_K &b, const ActQ8_K &a, __m256i &isum, __m256i &imin) {
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b.scales)));
    const __m256i pick = _mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                                         1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    isum = _mm256_setzero_si256();
    for (int g = 0; g < 2; ++g) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh + 32 * g));
        const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.ql + 64 * g));
        const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.ql + 64 * g + 32));
        for (int t = 0; t < 4; ++t) {
            const __m256i l = t % 2 ? l1 : l0;
            const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (t / 2)), m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * t), m2);
            const __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
            const int c = 4 * g + t;
            const __m256i scv = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(c)), pick);
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.qs + 32 * c));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), scv));
        }
    }
    isum = _mm256_sub_epi32(isum, _mm256_madd_epi16(_mm256_slli_epi16(s16, 5),
                                                    _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a.bsums))));
    imin = _mm256_setzero_si256();
}

// 4 rows, one per lane: per super-block the exact isum and imin of every row,
// then the fused steps of dot.h on 4 lanes.
// rows[] may repeat a row (the tail of a range); only n_out results are stored.
template <class B> constexpr bool own_mins = Traits<B>::mins == Mins::OWN_SCALE;
template <class B> inline uint16_t dmin_of(const B &b) { return b.dmin; }
inline uint16_t dmin_of(const BlockQ6_K &) { return 0; }

template <class B>
void gemv_k4(const B *const *rows, const uint8_t *next, const ActQ8_K *a, int64_t nb, float *out, int n_out) {
    __m128 acc = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_next_rows<4 * int(sizeof(B))>(next, i);
        // Row r's isum and imin folded into one vector at once (4 live, not 8), the
        // four then reduced to {isum r0, imin r0, isum r1, ...} and sorted into
        // {isum r0..r3, imin r0..r3}. Spelled out rather than looped: the sums then
        // stay in registers.
        auto folded = [&](int r) {
            __m256i s, m;
            gemv_block(rows[r][i], a[i], s, m);
            return _mm256_hadd_epi32(s, m);
        };
        const __m256i h0 = folded(0), h1 = folded(1);
        const __m256i h01 = _mm256_hadd_epi32(h0, h1);
        const __m256i h2 = folded(2), h3 = folded(3);
        const __m256i h23 = _mm256_hadd_epi32(h2, h3);
        const __m256i sums = _mm256_permutevar8x32_epi32(
            _mm256_add_epi32(_mm256_permute2x128_si256(h01, h23, 0x20), _mm256_permute2x128_si256(h01, h23, 0x31)),
            _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
        const __m128 ad = _mm_set1_ps(a[i].d);
        if constexpr (own_mins<B>) {
            const __m128 dmin = _mm_cvtph_ps(_mm_setr_epi16(short(dmin_of(rows[0][i])), short(dmin_of(rows[1][i])),
                                                            short(dmin_of(rows[2][i])), short(dmin_of(rows[3][i])), 0,
                                                            0, 0, 0));
            acc = _mm_fnmadd_ps(_mm_mul_ps(dmin, ad), _mm_cvtepi32_ps(_mm256_extracti128_si256(sums, 1)), acc);
        }
        const __m128 d = _mm_cvtph_ps(_mm_setr_epi16(short(rows[0][i].d), short(rows[1][i].d), short(rows[2][i].d),
                                                     short(rows[3][i].d), 0, 0, 0, 0));
        acc = _mm_fmadd_ps(_mm_mul_ps(d, ad), _mm_cvtepi32_ps(_mm256_castsi256_si128(sums)), acc);
    }
    if (n_out == 4) {
        _mm_storeu_ps(out, acc);
    } else {
        float r[4];
        _mm_storeu_ps(r, acc);
        for (int k = 0; k < n_out; ++k) out[k] = r[k];
    }
}

template <class B>
void gemv_k_type(const void *w, size_t wrb, int64_t n_rows, const ActQ8_K *a, int64_t nb, float *out) {
    const uint8_t *wb = static_cast<const uint8_t *>(w);
    for (int64_t r = 0; r < n_rows; r += 4) {
        const B *rows[4];
        for (int k = 0; k < 4; ++k) rows[k] = reinterpret_cast<const B *>(wb + std::min(r + k, n_rows - 1) * wrb);
        gemv_k4<B>(rows, wb + (r + 4) * wrb, a, nb, out + r, int(std::min<int64_t>(4, n_rows - r)));
    }
}

#if defined(__AVX512BW__)
// GCC 12's 512-bit intrinsics pass _mm512_undefined_*() as the masked-off source,
// which -Wmaybe-uninitialized reports once inlined (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
inline __m256i add_halves(__m512i v) { return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)); }
#endif

// ---- a few tokens at once (dot.h gemv_rows_multi): each super-block of a row is
// decoded once and every token runs over it with the single-token kernel's exact
// integers and float steps, so results equal gemv_k4's for that token alone.
template <bool FIVE, class B, int T>
inline void gemv_q45_block_multi(const B &b, const ActQ8_K *const *a, __m256i *isum, __m256i *imin) {
    uint32_t u[3];
    std::memcpy(u, b.scales, 12);
    const uint32_t six = 0x3f3f3f3f, four = 0x0f0f0f0f, two = 0x03030303;
    const uint64_t sc = uint64_t(u[0] & six) | uint64_t((u[2] & four) | ((u[0] >> 6) & two) << 4) << 32;
    const uint64_t mn = uint64_t(u[1] & six) | uint64_t(((u[2] >> 4) & four) | ((u[1] >> 6) & two) << 4) << 32;
    __m256i qh = _mm256_setzero_si256();
    if constexpr (FIVE) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh));
#if defined(__AVX512BW__)
    // A group's 64 values (lo | hi) in one register against the token's 64 contiguous
    // activations; the halves' lanes add up to the 256-bit path's exact integers.
    __m512i wide[T];
    for (int t = 0; t < T; ++t) wide[t] = _mm512_setzero_si512();
    for (int g = 0; g < 4; ++g) {
        __m256i lo, hi;
        q45_group<FIVE>(b, qh, g, lo, hi);
        const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        const __m512i s2 = _mm512_inserti64x4(_mm512_set1_epi16(int16_t((sc >> (16 * g)) & 0xff)),
                                              _mm256_set1_epi16(int16_t((sc >> (16 * g + 8)) & 0xff)), 1);
        for (int t = 0; t < T; ++t)
            wide[t] = _mm512_add_epi32(wide[t], _mm512_madd_epi16(_mm512_maddubs_epi16(q, _mm512_loadu_si512(a[t]->qs + 64 * g)), s2));
    }
    for (int t = 0; t < T; ++t) isum[t] = add_halves(wide[t]);
#else
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    for (int g = 0; g < 4; ++g) {
        __m256i lo, hi;
        q45_group<FIVE>(b, qh, g, lo, hi);
        const __m256i sl = _mm256_set1_epi16(int16_t((sc >> (16 * g)) & 0xff));
        const __m256i sh = _mm256_set1_epi16(int16_t((sc >> (16 * g + 8)) & 0xff));
        for (int t = 0; t < T; ++t) {
            const __m256i xl = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[t]->qs + 64 * g));
            const __m256i xh = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[t]->qs + 64 * g + 32));
            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), sl));
            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), sh));
        }
    }
#endif
    const __m256i m32 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(mn)));
    const __m256i mpair = _mm256_or_si256(m32, _mm256_slli_epi32(m32, 16));
    for (int t = 0; t < T; ++t)
        imin[t] = _mm256_madd_epi16(mpair, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[t]->bsums)));
}
template <int T>
inline void gemv_block_multi(const BlockQ4_K &b, const ActQ8_K *const *a, __m256i *isum, __m256i *imin) {
    gemv_q45_block_multi<false, BlockQ4_K, T>(b, a, isum, imin);
}
template <int T>
inline void gemv_block_multi(const BlockQ5_K &b, const ActQ8_K *const *a, __m256i *isum, __m256i *imin) {
    gemv_q45_block_multi<true, BlockQ5_K, T>(b, a, isum, imin);
}
template <int T>
inline void gemv_block_multi(const BlockQ6_K &b, const ActQ8_K *const *a, __m256i *isum, __m256i *imin) {
    const __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b.scales)));
    const __m256i pick = _mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2,
                                         1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    auto quarter = [&](int g, int k, __m256i &q, __m256i &scv) {   // values 32c..32c+31, c = 4g + k
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qh + 32 * g));
        const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.ql + 64 * g + 32 * (k % 2)));
        const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(l, 4 * (k / 2)), m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * k), m2);
        q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
        scv = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(4 * g + k)), pick);
    };
#if defined(__AVX512BW__)
    // Quarters c and c + 1 in one register against 64 contiguous activations; the
    // halves' lanes add up to the 256-bit path's exact integers.
    __m512i wide[T];
    for (int t = 0; t < T; ++t) wide[t] = _mm512_setzero_si512();
    for (int c = 0; c < 8; c += 2) {
        __m256i q0, s0, q1, s1;
        quarter(c / 4, c % 4, q0, s0);
        quarter(c / 4, c % 4 + 1, q1, s1);
        const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
        const __m512i sv = _mm512_inserti64x4(_mm512_castsi256_si512(s0), s1, 1);
        for (int t = 0; t < T; ++t)
            wide[t] = _mm512_add_epi32(wide[t], _mm512_madd_epi16(_mm512_maddubs_epi16(q, _mm512_loadu_si512(a[t]->qs + 32 * c)), sv));
    }
    for (int t = 0; t < T; ++t) isum[t] = add_halves(wide[t]);
#else
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    for (int c = 0; c < 8; ++c) {
        __m256i q, scv;
        quarter(c / 4, c % 4, q, scv);
        for (int t = 0; t < T; ++t) {
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[t]->qs + 32 * c));
            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), scv));
        }
    }
#endif
    const __m256i s32 = _mm256_slli_epi16(s16, 5);
    for (int t = 0; t < T; ++t) {
        isum[t] = _mm256_sub_epi32(isum[t], _mm256_madd_epi16(s32, _mm256_loadu_si256(
                                                                        reinterpret_cast<const __m256i *>(a[t]->bsums))));
        imin[t] = _mm256_setzero_si256();
    }
}

template <class B, int T>
void gemv_k4_multi(const B *const *rows, const uint8_t *next, const uint8_t *act, size_t act_stride, int64_t nb,
                   float *out, int64_t out_stride, int n_out) {
    const ActQ8_K *a[T];
    __m128 acc[T];
    for (int t = 0; t < T; ++t) {
        a[t] = reinterpret_cast<const ActQ8_K *>(act + t * act_stride);
        acc[t] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < nb; ++i) {
        prefetch_next_rows<4 * int(sizeof(B))>(next, i);
        const ActQ8_K *ai[T];
        for (int t = 0; t < T; ++t) ai[t] = a[t] + i;
        __m256i f[4][T];   // per row and token: hadd(isum, imin), as gemv_k4's folded(r)
        for (int r = 0; r < 4; ++r) {
            __m256i s[T], m[T];
            gemv_block_multi<T>(rows[r][i], ai, s, m);
            for (int t = 0; t < T; ++t) f[r][t] = _mm256_hadd_epi32(s[t], m[t]);
        }
        const __m128 d = _mm_cvtph_ps(_mm_setr_epi16(short(rows[0][i].d), short(rows[1][i].d), short(rows[2][i].d),
                                                     short(rows[3][i].d), 0, 0, 0, 0));
        __m128 dmin = _mm_setzero_ps();
        if constexpr (own_mins<B>)
            dmin = _mm_cvtph_ps(_mm_setr_epi16(short(dmin_of(rows[0][i])), short(dmin_of(rows[1][i])),
                                               short(dmin_of(rows[2][i])), short(dmin_of(rows[3][i])), 0, 0, 0, 0));
        for (int t = 0; t < T; ++t) {
            const __m256i h01 = _mm256_hadd_epi32(f[0][t], f[1][t]);
            const __m256i h23 = _mm256_hadd_epi32(f[2][t], f[3][t]);
            const __m256i sums = _mm256_permutevar8x32_epi32(
                _mm256_add_epi32(_mm256_permute2x128_si256(h01, h23, 0x20), _mm256_permute2x128_si256(h01, h23, 0x31)),
                _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
            const __m128 ad = _mm_set1_ps(a[t][i].d);
            if constexpr (own_mins<B>)
                acc[t] = _mm_fnmadd_ps(_mm_mul_ps(dmin, ad), _mm_cvtepi32_ps(_mm256_extracti128_si256(sums, 1)), acc[t]);
            acc[t] = _mm_fmadd_ps(_mm_mul_ps(d, ad), _mm_cvtepi32_ps(_mm256_castsi256_si128(sums)), acc[t]);
        }
    }
    for (int t = 0; t < T; ++t) {
        float r[4];
        _mm_storeu_ps(r, acc[t]);
        for (int k = 0; k < n_out; ++k) out[t * out_stride + k] = r[k];
    }
}

template <class B>
void gemv_k_type_multi(const void *w, size_t wrb, int64_t n_rows, const uint8_t *act, size_t act_stride, int n_tok,
                       int64_t nb, float *out, int64_t out_stride) {
    const uint8_t *wb = static_cast<const uint8_t *>(w);
    for (int64_t r = 0; r < n_rows; r += 4) {
        const B *rows[4];
        for (int k = 0; k < 4; ++k) rows[k] = reinterpret_cast<const B *>(wb + std::min(r + k, n_rows - 1) * wrb);
        const int n_out = int(std::min<int64_t>(4, n_rows - r));
        for (int t = 0; t < n_tok; t += 4) {
            const uint8_t *at = act + t * act_stride;
            float *o = out + t * out_stride + r;
            const uint8_t *next = wb + (r + 4) * wrb;
            switch (std::min(4, n_tok - t)) {
            case 1: gemv_k4_multi<B, 1>(rows, next, at, act_stride, nb, o, out_stride, n_out); break;
            case 2: gemv_k4_multi<B, 2>(rows, next, at, act_stride, nb, o, out_stride, n_out); break;
            case 3: gemv_k4_multi<B, 3>(rows, next, at, act_stride, nb, o, out_stride, n_out); break;
            default: gemv_k4_multi<B, 4>(rows, next, at, act_stride, nb, o, out_stride, n_out); break;
            }
        }
    }
}
#if defined(__AVX512BW__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

} // namespace

bool gemv_rows_k(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act, int64_t n,
                 float *out) {
#ifdef __AVX2__
    const ActQ8_K *a = static_cast<const ActQ8_K *>(act);
    const int64_t nb = n / QK_K;
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_K: gemv_k_type<BlockQ4_K>(w, w_row_bytes, n_rows, a, nb, out); return true;
    case LLM4ALL_TYPE_Q5_K: gemv_k_type<BlockQ5_K>(w, w_row_bytes, n_rows, a, nb, out); return true;
    case LLM4ALL_TYPE_Q6_K: gemv_k_type<BlockQ6_K>(w, w_row_bytes, n_rows, a, nb, out); return true;
    default: break;
    }
#else
    (void)wtype; (void)w; (void)w_row_bytes; (void)n_rows; (void)act; (void)n; (void)out;
#endif
    return false;
}

bool gemv_rows_k_multi(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
                       size_t act_stride, int n_tok, int64_t n, float *out, int64_t out_stride) {
#ifdef __AVX2__
    const uint8_t *a = static_cast<const uint8_t *>(act);
    const int64_t nb = n / QK_K;
    switch (wtype) {
    case LLM4ALL_TYPE_Q4_K:
        gemv_k_type_multi<BlockQ4_K>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
        return true;
    case LLM4ALL_TYPE_Q5_K:
        gemv_k_type_multi<BlockQ5_K>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
        return true;
    case LLM4ALL_TYPE_Q6_K:
        gemv_k_type_multi<BlockQ6_K>(w, w_row_bytes, n_rows, a, act_stride, n_tok, nb, out, out_stride);
        return true;
    default: break;
    }
#else
    (void)wtype; (void)w; (void)w_row_bytes; (void)n_rows; (void)act; (void)act_stride; (void)n_tok; (void)n;
    (void)out; (void)out_stride;
#endif
    return false;
}

void dot_rows_k(int32_t wtype, const void *w_row, const void *act, size_t act_stride, int n_tok, int64_t n,
                float *out) {
    const uint8_t *a = static_cast<const uint8_t *>(act);
    const int64_t nb = n / QK_K;
    switch (n_tok) {
    case 1: dispatch<1>(wtype, w_row, a, act_stride, nb, out); break;
    case 2: dispatch<2>(wtype, w_row, a, act_stride, nb, out); break;
    case 3: dispatch<3>(wtype, w_row, a, act_stride, nb, out); break;
    default: dispatch<4>(wtype, w_row, a, act_stride, nb, out); break;
    }
}

// ---- prompt-batch tiles: one super-block row against groups of 8 interleaved tokens ----
// (see tile_dot in dot.cpp). The unpacked quants are unsigned below 64, so
// without VNNI two maddubs may be summed in 16 bits and the scale applied by
// the madd that widens them; with VNNI the dot-accumulates fill a raw sum per
// 16 (or 32) values that one 32-bit multiply scales.

namespace {
#ifdef __AVX2__
template <class B> constexpr bool scale_per_32 = false; // Q4_K/Q5_K repeat each scale for both 16-value halves
template <> constexpr bool scale_per_32<BlockQ4_K> = true;
template <> constexpr bool scale_per_32<BlockQ5_K> = true;

inline __m256i bcast(const uint8_t *q) {
    uint32_t v;
    std::memcpy(&v, q, 4);
    return _mm256_set1_epi32(int(v));
}
inline __m256i load(const void *p) { return _mm256_load_si256(static_cast<const __m256i *>(p)); }

// isum[g] += sc * dot(weights q[0..4*ND), token dwords qs[0..ND)) of every group.
template <int G, int ND>
inline void scaled_dots(const uint8_t *q, const GroupQ8_K *const *a, int64_t i, int d0, int16_t sc, __m256i *isum) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    __m256i s[G];
    for (int g = 0; g < G; ++g) s[g] = _mm256_setzero_si256();
    for (int j = 0; j < ND; ++j) {
        const __m256i wq = bcast(q + 4 * j);
        for (int g = 0; g < G; ++g) s[g] = _mm256_dpbusd_epi32(s[g], wq, load(a[g][i].qs[d0 + j]));
    }
    const __m256i scv = _mm256_set1_epi32(sc);
    for (int g = 0; g < G; ++g) isum[g] = _mm256_add_epi32(isum[g], _mm256_mullo_epi32(s[g], scv));
#else
    const __m256i scv = _mm256_set1_epi16(sc);
    for (int j = 0; j < ND; j += 2) {
        const __m256i w0 = bcast(q + 4 * j), w1 = bcast(q + 4 * j + 4);
        for (int g = 0; g < G; ++g) {
            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, load(a[g][i].qs[d0 + j])),
                                               _mm256_maddubs_epi16(w1, load(a[g][i].qs[d0 + j + 1])));
            isum[g] = _mm256_add_epi32(isum[g], _mm256_madd_epi16(p, scv));
        }
    }
#endif
}

template <class B, int G>
void tile_k(const B *w, const uint8_t *groups, size_t gbytes, int64_t nb, float *out) {
    constexpr Mins MINS = Traits<B>::mins;
    static_assert(MINS != Mins::NONE, "signed weights need the sign trick, not the tile kernels");
    Unpacked u;
    __m256 acc[G];
    const GroupQ8_K *a[G];
    for (int g = 0; g < G; ++g) {
        acc[g] = _mm256_setzero_ps();
        a[g] = reinterpret_cast<const GroupQ8_K *>(groups + g * gbytes);
    }
    for (int64_t i = 0; i < nb; ++i) {
        unpack(w[i], u);
        __m256i isum[G], imin[G];
        for (int g = 0; g < G; ++g) isum[g] = imin[g] = _mm256_setzero_si256();
        if constexpr (scale_per_32<B>)
            for (int c = 0; c < QK_K / 32; ++c) scaled_dots<G, 8>(u.q + 32 * c, a, i, 8 * c, u.sc[2 * c], isum);
        else
            for (int k = 0; k < QK_K / 16; ++k) scaled_dots<G, 4>(u.q + 16 * k, a, i, 4 * k, u.sc[k], isum);
        // Mins (or offsets) times the 16-value sums, two per madd.
        for (int m = 0; m < QK_K / 32; ++m) {
            const __m256i mn = _mm256_set1_epi32(int(uint16_t(u.mn[2 * m]) | uint32_t(uint16_t(u.mn[2 * m + 1])) << 16));
            for (int g = 0; g < G; ++g) imin[g] = _mm256_add_epi32(imin[g], _mm256_madd_epi16(load(a[g][i].bsums[m]), mn));
        }
        for (int g = 0; g < G; ++g) {
            const __m256 da = _mm256_load_ps(a[g][i].d);
            if constexpr (MINS == Mins::OWN_SCALE) {
                acc[g] = _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_set1_ps(u.dmin), da), _mm256_cvtepi32_ps(imin[g]), acc[g]);
                acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(u.d), da), _mm256_cvtepi32_ps(isum[g]), acc[g]);
            } else {
                acc[g] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(u.d), da),
                                         _mm256_cvtepi32_ps(_mm256_sub_epi32(isum[g], imin[g])), acc[g]);
            }
        }
    }
    for (int g = 0; g < G; ++g) _mm256_storeu_ps(out + TILE_TOK * g, acc[g]);
}

template <class B>
void tile_k_groups(const void *w, const void *groups, size_t gbytes, int n_groups, int64_t nb, float *out) {
    const B *wb = static_cast<const B *>(w);
    const uint8_t *a = static_cast<const uint8_t *>(groups);
    switch (n_groups) {
    case 1: tile_k<B, 1>(wb, a, gbytes, nb, out); break;
    case 2: tile_k<B, 2>(wb, a, gbytes, nb, out); break;
    case 3: tile_k<B, 3>(wb, a, gbytes, nb, out); break;
    default: tile_k<B, 4>(wb, a, gbytes, nb, out); break;
    }
}
#endif
} // namespace

bool tile_supported_k(int32_t wtype) {
#ifdef __AVX2__
    switch (wtype) {
    case LLM4ALL_TYPE_Q2_K: case LLM4ALL_TYPE_Q3_K: case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K:
    case LLM4ALL_TYPE_Q6_K: return true;
    default: return false;
    }
#else
    (void)wtype;
    return false;
#endif
}

void tile_dot_k(int32_t wtype, const void *w_row, const void *groups, size_t group_bytes, int n_groups, int64_t n,
                float *out) {
    const int64_t nb = n / QK_K;
#ifdef __AVX2__
    switch (wtype) {
    case LLM4ALL_TYPE_Q2_K: return tile_k_groups<BlockQ2_K>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q3_K: return tile_k_groups<BlockQ3_K>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q4_K: return tile_k_groups<BlockQ4_K>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q5_K: return tile_k_groups<BlockQ5_K>(w_row, groups, group_bytes, n_groups, nb, out);
    case LLM4ALL_TYPE_Q6_K: return tile_k_groups<BlockQ6_K>(w_row, groups, group_bytes, n_groups, nb, out);
    default: break;
    }
#else
    (void)wtype; (void)w_row; (void)groups; (void)group_bytes; (void)nb;
#endif
    for (int k = 0; k < TILE_TOK * n_groups; ++k) out[k] = 0.0f; // unreachable where tile_supported is checked
}

} // namespace llm4all::cpu
