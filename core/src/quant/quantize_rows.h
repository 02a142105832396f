// quantize_rows.h — float32 rows to GGUF block types (Q4_0 .. Q8_0, K-quants, IQ4).
// The algorithms reproduce llama.cpp's reference quantizers (no importance
// matrix) bit for bit, so files we write are interchangeable with its own.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llm4all::quant {

// True for the types quantize_rows() can produce.
bool can_quantize(int32_t type);

// Quantizes nrows rows of n_per_row floats (row-major, contiguous) into dst,
// which must hold nrows * row_bytes(type, n_per_row) bytes. n_per_row must be
// a multiple of the type's block size. Rows are independent, so callers may
// split a tensor into row ranges across threads. Returns the bytes written.
size_t quantize_rows(int32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row);

} // namespace llm4all::quant
