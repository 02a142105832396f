// types.h — facts about tensor element types (block size, bytes, name), for the core.
// Type ids are GGUF's; quantized types store rows as whole blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "llm4all/backend.h"
#include "llm4all/type_info.h"

namespace llm4all {

// The one table of block facts (llm4all/type_info.h, which plugins read too).
using TypeInfo = llm4all_type_info;

// nullptr for ids that are unknown or not a storage type we can read.
inline const TypeInfo *type_info(int32_t type) { return llm4all_type_info_of(type); }

// Bytes of a row of n elements; n must be a multiple of the block size.
inline size_t row_bytes(const TypeInfo &ti, int64_t n) {
    return static_cast<size_t>(n / ti.block_size) * ti.type_size;
}

// Bytes of a whole tensor of a known type (rows of ne[0] stored back to back).
inline size_t tensor_bytes(const llm4all_tensor &t) {
    const TypeInfo *ti = type_info(t.type);
    return ti ? row_bytes(*ti, t.ne[0]) * size_t(t.ne[1]) * size_t(t.ne[2]) * size_t(t.ne[3]) : 0;
}

} // namespace llm4all
