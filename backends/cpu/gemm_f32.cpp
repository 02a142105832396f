// gemm_f32.cpp — the blocked float kernel of gemm_f32.h: R weight rows x T tokens
// per call, with dot_f32's arithmetic for every (row, token): two 8-wide partial
// sums over alternate 8-float chunks of 16 (one 16-wide sum with AVX-512), added
// and reduced in the same order, then the scalar tail.
#include "gemm_f32.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

namespace {

#if defined(__AVX512F__)
inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// One 16-lane sum per (row, token): its low half is dot_f32's first 8-wide partial
// sum, its high half the second, so adding the halves and reducing gives dot_f32's
// result bit for bit at twice the width per instruction.
template <int R, int T>
void block(const float *const *w, const uint8_t *act, size_t stride, int64_t n, float *out, int64_t os) {
    __m512 acc[R][T];
    const float *a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const float *>(act + t * stride);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 wv[R];
        for (int r = 0; r < R; ++r) wv[r] = _mm512_loadu_ps(w[r] + i);
        for (int t = 0; t < T; ++t) {
            const __m512 av = _mm512_loadu_ps(a[t] + i);
            for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) {
            const __m256 lo = _mm512_castps512_ps256(acc[r][t]);
            const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][t]), 1));
            float s = hsum8(_mm256_add_ps(lo, hi));
            for (int64_t j = i; j < n; ++j) s += w[r][j] * a[t][j];
            out[r * os + t] = s;
        }
}
#elif defined(__AVX2__)
inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

template <int R, int T>
void block(const float *const *w, const uint8_t *act, size_t stride, int64_t n, float *out, int64_t os) {
    __m256 acc[R][T][2];
    const float *a[T];
    for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const float *>(act + t * stride);
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) acc[r][t][0] = acc[r][t][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0[R], w1[R];
        for (int r = 0; r < R; ++r) {
            w0[r] = _mm256_loadu_ps(w[r] + i);
            w1[r] = _mm256_loadu_ps(w[r] + i + 8);
        }
        for (int t = 0; t < T; ++t) {
            const __m256 a0 = _mm256_loadu_ps(a[t] + i), a1 = _mm256_loadu_ps(a[t] + i + 8);
            for (int r = 0; r < R; ++r) {
                acc[r][t][0] = _mm256_fmadd_ps(w0[r], a0, acc[r][t][0]);
                acc[r][t][1] = _mm256_fmadd_ps(w1[r], a1, acc[r][t][1]);
            }
        }
    }
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) {
            float s = hsum8(_mm256_add_ps(acc[r][t][0], acc[r][t][1]));
            for (int64_t j = i; j < n; ++j) s += w[r][j] * a[t][j];
            out[r * os + t] = s;
        }
}
#else
// Without AVX2: dot_f32's portable form, 16 partial sums per (row, token).
template <int R, int T>
void block(const float *const *w, const uint8_t *act, size_t stride, int64_t n, float *out, int64_t os) {
    constexpr int L = 16;
    for (int r = 0; r < R; ++r)
        for (int t = 0; t < T; ++t) {
            const float *x = reinterpret_cast<const float *>(act + t * stride);
            float acc[L] = {};
            int64_t i = 0;
            for (; i + L <= n; i += L)
                for (int l = 0; l < L; ++l) acc[l] += w[r][i + l] * x[i + l];
            float s = 0.0f;
            for (int l = 0; l < L; ++l) s += acc[l];
            for (int64_t j = i; j < n; ++j) s += w[r][j] * x[j];
            out[r * os + t] = s;
        }
}
#endif

template <int R>
void rows(const float *const *w, const uint8_t *act, size_t stride, int n_tok, int64_t n, float *out, int64_t os) {
    switch (n_tok) {
    case 1: block<R, 1>(w, act, stride, n, out, os); break;
    case 2: block<R, 2>(w, act, stride, n, out, os); break;
    case 3: block<R, 3>(w, act, stride, n, out, os); break;
#if defined(__AVX512F__)
    case 4: block<R, 4>(w, act, stride, n, out, os); break;
    case 5: block<R, 5>(w, act, stride, n, out, os); break;
    default: block<R, 6>(w, act, stride, n, out, os); break;
#else
    default: block<R, 4>(w, act, stride, n, out, os); break;
#endif
    }
}

} // namespace

void gemm_f32_block(const float *const *w, int n_rows, const uint8_t *act, size_t act_stride, int n_tok, int64_t n,
                    float *out, int64_t out_stride) {
    switch (n_rows) {
#if defined(__AVX512F__)
    case 4: rows<4>(w, act, act_stride, n_tok, n, out, out_stride); break;
    case 3: rows<3>(w, act, act_stride, n_tok, n, out, out_stride); break;
    case 2: rows<2>(w, act, act_stride, n_tok, n, out, out_stride); break;
#endif
    default: rows<1>(w, act, act_stride, n_tok, n, out, out_stride); break;
    }
}

} // namespace llm4all::cpu
