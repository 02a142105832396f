// gemm_f32.h — float weight rows (F32, or F16/BF16 widened once per tile) against
// float activations, several rows and tokens per kernel call so each loaded
// activation serves several rows: the prompt-batch and encoder path for float
// weights. Each (row, token) result is computed exactly as dot.cpp's dot_f32
// computes it, so the numbers do not depend on how rows and tokens are grouped.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llm4all::cpu {

// Rows and tokens per kernel call: where the ISA has 32 vector registers (AVX-512) a
// block of 4 rows x 6 tokens, else dot_f32's one row x 4 tokens.
#if defined(__AVX512F__)
constexpr int GEMM_F32_ROWS = 4;
constexpr int GEMM_F32_TOK = 6;
#else
constexpr int GEMM_F32_ROWS = 1;
constexpr int GEMM_F32_TOK = 4;
#endif

// out[r * out_stride + t] = dot(w[r], act_t) for r < n_rows (<= GEMM_F32_ROWS), t < n_tok
// (<= GEMM_F32_TOK); act_t is n floats at act + t * act_stride bytes.
void gemm_f32_block(const float *const *w, int n_rows, const uint8_t *act, size_t act_stride, int n_tok, int64_t n,
                    float *out, int64_t out_stride);

} // namespace llm4all::cpu
