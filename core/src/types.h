// types.h — facts about tensor element types (block size, bytes, name).
// Type ids are GGUF's; quantized types store rows as whole blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "llm4all/backend.h"

namespace llm4all {

struct TypeInfo {
    const char *name;     // "F32", "Q4_1", ...
    int64_t block_size;   // elements per block (1 for F32/F16/BF16)
    size_t type_size;     // bytes per block
};

// nullptr for ids that are unknown or not a storage type we can read.
const TypeInfo *type_info(int32_t type);

// Bytes of a row of n elements; n must be a multiple of the block size.
inline size_t row_bytes(const TypeInfo &ti, int64_t n) {
    return static_cast<size_t>(n / ti.block_size) * ti.type_size;
}

} // namespace llm4all

namespace llm4all {

// Bytes of a whole tensor of a known type (rows of ne[0] stored back to back).
inline size_t tensor_bytes(const llm4all_tensor &t) {
    const TypeInfo *ti = type_info(t.type);
    return ti ? row_bytes(*ti, t.ne[0]) * size_t(t.ne[1]) * size_t(t.ne[2]) * size_t(t.ne[3]) : 0;
}

} // namespace llm4all
