// quant_types.h — the weight types the Metal kernels read (shaders/dequant.h holds their
// block layouts): per type its shader-variant suffix and block size in values and
// bytes, as GGUF stores them. Shared by mul_mat and get_rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llm4all/backend.h"

namespace llm4all::mt {

struct QuantType {
    int32_t type;        // enum llm4all_type
    const char *suffix;  // variant suffix: mul_mat_vec_<suffix>, built with TYPE_<SUFFIX>=1
    int64_t block;       // values per block (1 for float types)
    size_t block_bytes;
};

// Every type the CPU backend runs; nullptr for any other.
inline const QuantType *quant_type(int32_t type) {
    static const QuantType table[] = {
        {LLM4ALL_TYPE_F32, "f32", 1, 4},        {LLM4ALL_TYPE_F16, "f16", 1, 2},
        {LLM4ALL_TYPE_BF16, "bf16", 1, 2},      {LLM4ALL_TYPE_Q4_0, "q4_0", 32, 18},
        {LLM4ALL_TYPE_Q4_1, "q4_1", 32, 20},    {LLM4ALL_TYPE_Q5_0, "q5_0", 32, 22},
        {LLM4ALL_TYPE_Q5_1, "q5_1", 32, 24},    {LLM4ALL_TYPE_Q8_0, "q8_0", 32, 34},
        {LLM4ALL_TYPE_Q2_K, "q2_k", 256, 84},   {LLM4ALL_TYPE_Q3_K, "q3_k", 256, 110},
        {LLM4ALL_TYPE_Q4_K, "q4_k", 256, 144},  {LLM4ALL_TYPE_Q5_K, "q5_k", 256, 176},
        {LLM4ALL_TYPE_Q6_K, "q6_k", 256, 210},  {LLM4ALL_TYPE_IQ4_NL, "iq4_nl", 32, 18},
        {LLM4ALL_TYPE_IQ4_XS, "iq4_xs", 256, 136},
    };
    for (const QuantType &t : table)
        if (t.type == type) return &t;
    return nullptr;
}

// Bytes of a row of n values (n a multiple of the block size).
inline size_t row_bytes(const QuantType &t, int64_t n) { return size_t(n / t.block) * t.block_bytes; }

} // namespace llm4all::mt
