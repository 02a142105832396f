// quantize_rows.cpp — dispatch from a type id to its row quantizer (placeholder).
#include "quant/quantize_rows.h"

namespace llm4all::quant {

bool can_quantize(int32_t) { return false; }
size_t quantize_rows(int32_t, const float *, void *, int64_t, int64_t) { return 0; }

} // namespace llm4all::quant
