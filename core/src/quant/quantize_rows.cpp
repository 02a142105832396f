// quantize_rows.cpp — dispatch from a GGUF type id to its row quantizer, plus the
// plain F16/BF16 conversions (rounded as llama.cpp rounds them), so one entry
// point writes every output type the file quantizer offers.
#include "quant/quantize_rows.h"

#include "quant/half.h"
#include "quant/quantizers.h"
#include "types.h"

namespace llm4all::quant {
namespace {

void to_f16(const float *x, void *y, int64_t n) {
    auto *out = static_cast<uint16_t *>(y);
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_half(x[i]);
}
void to_bf16(const float *x, void *y, int64_t n) {
    auto *out = static_cast<uint16_t *>(y);
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16_ref(x[i]);
}

using RowFn = void (*)(const float *, void *, int64_t);

RowFn quantizer(int32_t type) {
    switch (type) {
    case LLM4ALL_TYPE_F16: return to_f16;
    case LLM4ALL_TYPE_BF16: return to_bf16;
    case LLM4ALL_TYPE_Q4_0: return quantize_q4_0;
    case LLM4ALL_TYPE_Q4_1: return quantize_q4_1;
    case LLM4ALL_TYPE_Q5_0: return quantize_q5_0;
    case LLM4ALL_TYPE_Q5_1: return quantize_q5_1;
    case LLM4ALL_TYPE_Q8_0: return quantize_q8_0;
    case LLM4ALL_TYPE_Q2_K: return quantize_q2_k;
    case LLM4ALL_TYPE_Q3_K: return quantize_q3_k;
    case LLM4ALL_TYPE_Q4_K: return quantize_q4_k;
    case LLM4ALL_TYPE_Q5_K: return quantize_q5_k;
    case LLM4ALL_TYPE_Q6_K: return quantize_q6_k;
    case LLM4ALL_TYPE_IQ4_NL: return quantize_iq4_nl;
    case LLM4ALL_TYPE_IQ4_XS: return quantize_iq4_xs;
    default: return nullptr;
    }
}

} // namespace

bool can_quantize(int32_t type) { return quantizer(type) != nullptr; }

size_t quantize_rows(int32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row) {
    const RowFn fn = quantizer(type);
    const TypeInfo *ti = type_info(type);
    if (!fn || !ti || nrows <= 0) return 0;
    fn(src, dst, nrows * n_per_row);
    return row_bytes(*ti, n_per_row) * size_t(nrows);
}

} // namespace llm4all::quant
