// dot.h — dot products of one weight row with a few activation rows at once.
// mul_mat prepares the activations once (Q8_0, Q8_1, Q8_K or float) and then calls
// dot_rows for every (weight row, group of <= DOT_MAX_TOK tokens); unpacking a
// weight block once for several tokens is what keeps prompt processing cheap.
#pragma once

#include <cstddef>
#include <cstdint>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

// ONE ACCUMULATION ORDER FOR EVERY BATCH SHAPE. The logits of a position must not
// depend on how its tokens were split into decode calls (a chat turn after prefix
// reuse decodes the cached prompt's last token alone), so every kernel that computes
// dot(weight row, token) for a quantized type -- the single-token GEMV, the
// prompt-batch tiles and the 1..4-token dot_rows -- does exactly the same float
// operations for it, whatever the other rows and tokens of the call:
//   per block, the EXACT integer sum of q_w * q_a over the whole block (32 values, or
//   the 256 of a super-block with its integer sub-block scales), however the lanes
//   happen to split it; then, block after block from acc = 0, one fused step
//     acc = fma(d_w * d_a, float(isum), acc)             (then acc = fma(m_w, s_a, acc)
//                                                          for Q4_1/Q5_1)
//     acc = fma(d_w * d_a, float(isum), fnmadd(dmin_w * d_a, float(imin), acc))
//                                                         (Q2_K/Q4_K/Q5_K's mins)
//   with Q3_K/Q6_K's offsets and Q4_0/Q5_0/Q8_0/IQ4_NL's unsigned shifts taken off
//   in the integers. The tiles hold one token per lane, the GEMV one weight row per
//   lane; neither reorders a lane's chain. The generic (SSE2) build runs the same
//   chain without FMA (acc += float(isum) * (d_w * d_a)) in every path, so it is
//   invariant too, just not bit-equal to the SIMD variants. Float rows (F32, and
//   F16/BF16 widened) go through dot_f32 for every batch shape.
#ifdef __AVX2__
// Exact horizontal integer sums of 8 vectors v0..v7 in two steps, so a kernel can
// fold each pair as soon as it has it and keep 4 vectors live instead of 8 (AVX2
// has 16 registers): h01 = _mm256_hadd_epi32(v0, v1), ..., then lane r of
// reduce_pairs8(h01, h23, h45, h67) = the sum of the 8 lanes of v_r.
inline __m256i reduce_pairs8(__m256i h01, __m256i h23, __m256i h45, __m256i h67) {
    const __m256i ab = _mm256_hadd_epi32(h01, h23), cd = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}
// Lane r of the result = the sum of the 8 int32 lanes of v_r (exact).
inline __m128i reduce4_epi32(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
    const __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(v0, v1), _mm256_hadd_epi32(v2, v3));
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}
inline int32_t reduce1_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}
#endif

constexpr int DOT_MAX_TOK = 4;

// How mul_mat must prepare activation rows for weights of a given type.
enum class ActKind { Q8_0, Q8_1, Q8_K, F32, F32_VIA_F16, F32_VIA_BF16 };
ActKind act_kind(int32_t wtype);
// Bytes of one prepared activation row of n elements.
size_t act_row_bytes(ActKind kind, int64_t n);
// Prepares one activation row (x: n floats) into dst.
void prepare_act_row(ActKind kind, const float *x, void *dst, int64_t n);

// out[t] = dot(w_row, act_t) for t < n_tok (n_tok <= DOT_MAX_TOK); act_t is at
// act + t * act_stride. w_row is in the weight's storage type; for F32-kind
// activations of F16/BF16 weights w_row must already be dequantized to float.
void dot_rows(int32_t wtype, const void *w_row, const void *act, size_t act_stride, int n_tok,
              int64_t n, float *out);

// Single-token matmul (GEMV): out[r] = dot(row r, act) for r < n_rows, rows
// w_row_bytes apart; quantized weight types only (F16/BF16 go through dot_rows).
// Under AVX2 8 rows (4 for the super-block types) share each activation load.
void gemv_rows(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act, int64_t n,
               float *out);
// gemv_rows for n_tok tokens at once (activation rows act_stride bytes apart; out
// for token t at out + t * out_stride): each weight block is unpacked once for all
// of them, and every result equals gemv_rows' for that token alone, bit for bit.
// For a few tokens (decoding several sequences at once), where the 8-token tiles
// would run mostly empty. Types where gemv_multi_supported() says so. mul_mat
// takes this path up to GEMV_MULTI_TOK tokens. With 256-bit registers (Zen 4, 1
// thread, 896 x 4864) 4 tokens cost 2.2-2.6x one token here against 3.5-5x through
// one tile group, and from 6 tokens on (4 + 2 here) a tile group is as cheap or
// cheaper. With AVX-512 VNNI (docs/performance.md) up to 8 tokens take one pass of
// the 16-row kernel: 8 tokens of Q4_1/Q5_0/Q8_0 cost 1.8-2.4x less here than in
// the tile path; Q4_K (two passes of 4) 1.2x less, Q6_K 4% more.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512VL__)
constexpr int GEMV_MULTI_TOK = 8;
#else
constexpr int GEMV_MULTI_TOK = 5;
#endif
// Rows per group there (16 in 512-bit registers for most types, else 8): row ranges
// split between threads in multiples of it.
constexpr int GEMV_MULTI_ROWS = 16;
bool gemv_multi_supported(int32_t wtype);
void gemv_rows_multi(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
                     size_t act_stride, int n_tok, int64_t n, float *out, int64_t out_stride);
// gemv_rows_multi for Q4_K/Q5_K/Q6_K (dot_k.cpp); false for other types.
bool gemv_rows_k_multi(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
                       size_t act_stride, int n_tok, int64_t n, float *out, int64_t out_stride);
// gemv_rows for the super-block types (dot_k.cpp); false if wtype has no such kernel.
bool gemv_rows_k(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act, int64_t n,
                 float *out);

// A GEMV kernel reading R adjacent rows block by block calls this at block i
// with next = the first byte after those rows and STEP = R * block bytes: it
// pulls the next R rows into cache at the pace the current ones are read.
// Short rows (gemma3's 640 values are 680 bytes of Q8_0) end before the
// hardware prefetcher locks on, and R rows look like R short streams to it; a
// 262k x 640 Q8_0 GEMV ran at 4.5 GB/s on one core without this and at ~20+
// with it. Prefetching past the end of the matrix is harmless (a hint).
template <int STEP>
inline void prefetch_next_rows(const uint8_t *next, int64_t i) {
    for (int k = 0; k < (STEP + 63) / 64; ++k) __builtin_prefetch(next + i * STEP + 64 * k, 0, 3);
}

// Prompt-batch tile kernels on token-interleaved activations (quants.h
// GroupQ8_0 / GroupQ8_K): out[8 g + k] = dot(w_row, token k of group g) for
// g < n_groups (<= TILE_MAX_GROUPS), group g's packed row at groups + g * group_bytes.
// Each unpacked weight block serves 8 * n_groups tokens; only built where
// tile_supported says so (SIMD builds; Q8_0/IQ4_NL weights need VNNI).
constexpr int TILE_MAX_GROUPS = 4;
bool tile_supported(int32_t wtype);
void tile_dot(int32_t wtype, const void *w_row, const void *groups, size_t group_bytes, int n_groups, int64_t n,
              float *out);
// The super-block part of the above (dot_k.cpp).
bool tile_supported_k(int32_t wtype);
void tile_dot_k(int32_t wtype, const void *w_row, const void *groups, size_t group_bytes, int n_groups, int64_t n,
                float *out);

// The same for the 256-value super-block types (Q2_K..Q6_K, IQ4_XS) against
// Q8_K activations (dot_k.cpp); dot_rows forwards these types here.
bool is_superblock_type(int32_t wtype);
void dot_rows_k(int32_t wtype, const void *w_row, const void *act, size_t act_stride, int n_tok, int64_t n,
                float *out);

} // namespace llm4all::cpu
