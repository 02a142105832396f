// quant_types.h — the weight types the CUDA kernels read (dequant.cuh holds their
// block layouts): per type its block size in values and bytes as GGUF stores them,
// for the host side's shape checks. Shared by mul_mat and get_rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llm4all/backend.h"

namespace llm4all::cu {

struct QuantType {
    int32_t type;  // enum llm4all_type
    const char *name;
    int64_t block;  // values per block (1 for float types)
    size_t block_bytes;
};

// Every type the CPU backend runs; nullptr for any other.
inline const QuantType *quant_type(int32_t type) {
    static const QuantType table[] = {
        {LLM4ALL_TYPE_F32, "F32", 1, 4},        {LLM4ALL_TYPE_F16, "F16", 1, 2},
        {LLM4ALL_TYPE_BF16, "BF16", 1, 2},      {LLM4ALL_TYPE_Q4_0, "Q4_0", 32, 18},
        {LLM4ALL_TYPE_Q4_1, "Q4_1", 32, 20},    {LLM4ALL_TYPE_Q5_0, "Q5_0", 32, 22},
        {LLM4ALL_TYPE_Q5_1, "Q5_1", 32, 24},    {LLM4ALL_TYPE_Q8_0, "Q8_0", 32, 34},
        {LLM4ALL_TYPE_Q2_K, "Q2_K", 256, 84},   {LLM4ALL_TYPE_Q3_K, "Q3_K", 256, 110},
        {LLM4ALL_TYPE_Q4_K, "Q4_K", 256, 144},  {LLM4ALL_TYPE_Q5_K, "Q5_K", 256, 176},
        {LLM4ALL_TYPE_Q6_K, "Q6_K", 256, 210},  {LLM4ALL_TYPE_IQ4_NL, "IQ4_NL", 32, 18},
        {LLM4ALL_TYPE_IQ4_XS, "IQ4_XS", 256, 136},
    };
    for (const QuantType &t : table)
        if (t.type == type) return &t;
    return nullptr;
}

// Bytes of a row of n values (n a multiple of the block size).
inline size_t row_bytes(const QuantType &t, int64_t n) { return size_t(n / t.block) * t.block_bytes; }

} // namespace llm4all::cu
