// float_rows.h — tensor rows to and from float32 for whole-file rewriting:
// any stored type decodes to f32 (through the CPU backend plugin, the
// reference dequantizer of every type), and f32 encodes to F32 or any type
// quant::quantize_rows() produces (F16, BF16 and the quantized ones).
#pragma once

#include <cstddef>
#include <cstdint>

#include "llm4all/backend.h"

namespace llm4all {

class RowDecoder {
public:
    // Opens a single-threaded CPU backend context; throws Error(BACKEND).
    RowDecoder();
    ~RowDecoder();
    RowDecoder(const RowDecoder &) = delete;
    RowDecoder &operator=(const RowDecoder &) = delete;

    // nrows rows of n_per_row values of `type` (whole blocks) at src into out.
    // Throws Error(UNSUPPORTED) naming `what` when the backend cannot decode the type.
    void decode(int32_t type, const uint8_t *src, int64_t n_per_row, int64_t nrows, float *out,
                const char *what);

private:
    const llm4all_backend_iface *be_;
    llm4all_backend_ctx *ctx_;
};

// True for the types encode_rows() can write.
bool can_encode(int32_t type);

// nrows rows of n_per_row floats into dst as `type`; returns the bytes written.
size_t encode_rows(int32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row);

} // namespace llm4all
