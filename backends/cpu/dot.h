// dot.h — dot products of one weight row with a few activation rows at once.
// mul_mat prepares the activations once (Q8_0, Q8_1, Q8_K or float) and then calls
// dot_rows for every (weight row, group of <= DOT_MAX_TOK tokens); unpacking a
// weight block once for several tokens is what keeps prompt processing cheap.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llm4all::cpu {

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
// Under AVX2 several rows share each activation load and one reduction.
void gemv_rows(int32_t wtype, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act, int64_t n,
               float *out);
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
// tile_supported says so (SIMD builds; Q8_0 weights need VNNI).
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
