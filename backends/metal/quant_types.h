// quant_types.h — the weight types the Metal kernels read (shaders/dequant.h holds their block
// layouts): the core's one table of block facts (llm4all/type_info.h) narrowed to the
// weight types, and the shader-variant suffix of each. Shared by mul_mat and get_rows.
#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

#include "llm4all/type_info.h"

namespace llm4all::mt {

using QuantType = llm4all_type_info;

// Every weight type the CPU backend runs; nullptr for any other (and for Q8_1/Q8_K,
// which are only ever activations).
inline const QuantType *quant_type(int32_t type) {
    const QuantType *t = llm4all_type_info_of(type);
    return t && t->weight ? t : nullptr;
}

// The variant suffix of the type's kernels: its name in lower case ("q4_0", "iq4_xs"),
// as the kernels are built with TYPE_<NAME>=1.
inline std::string suffix(const QuantType &t) {
    std::string s = t.name;
    for (char &c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Bytes of a row of n values (n a multiple of the block size).
inline size_t row_bytes(const QuantType &t, int64_t n) { return size_t(n / t.block_size) * t.type_size; }

} // namespace llm4all::mt
