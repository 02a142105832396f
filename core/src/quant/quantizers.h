// quantizers.h — one function per GGUF block type, each turning n floats (n a
// multiple of the block size) into n / block_size consecutive blocks. Blocks are
// independent, so a run of rows is quantized as one stream. Internal to
// quantize_rows.cpp, which dispatches on the type id.
#pragma once

#include <cstdint>

namespace llm4all::quant {

// legacy.cpp: 32-value blocks with one fp16 scale (and min).
void quantize_q4_0(const float *x, void *y, int64_t n);
void quantize_q4_1(const float *x, void *y, int64_t n);
void quantize_q5_0(const float *x, void *y, int64_t n);
void quantize_q5_1(const float *x, void *y, int64_t n);
void quantize_q8_0(const float *x, void *y, int64_t n);

// kquants.cpp: 256-value super-blocks with packed sub-block scales.
void quantize_q2_k(const float *x, void *y, int64_t n);
void quantize_q3_k(const float *x, void *y, int64_t n);
void quantize_q4_k(const float *x, void *y, int64_t n);
void quantize_q5_k(const float *x, void *y, int64_t n);
void quantize_q6_k(const float *x, void *y, int64_t n);

// iq4.cpp: 4-bit codes into a fixed non-linear table.
void quantize_iq4_nl(const float *x, void *y, int64_t n);
void quantize_iq4_xs(const float *x, void *y, int64_t n);

} // namespace llm4all::quant
