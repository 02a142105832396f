// scratch.h — float work tensors kept between forward passes: one backend buffer per
// numbered slot, grown on demand (contents are not kept). A Session and an Encoder
// each own one set, on their own backend context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "llm4all/backend.h"

namespace llm4all {

class ScratchSlots {
public:
    // A [ne0, ne1, ne2] F32 tensor over slot `slot`, grown to fit; throws
    // Error(OUT_OF_MEMORY) when the backend cannot allocate it.
    llm4all_tensor get(const llm4all_backend_iface &be, llm4all_backend_ctx *ctx, int32_t slot, int64_t ne0,
                       int64_t ne1, int64_t ne2);
    // Frees every buffer (before the context that allocated them goes).
    void release(const llm4all_backend_iface &be, llm4all_backend_ctx *ctx);

private:
    std::vector<std::pair<void *, size_t>> slots_;   // buffer, bytes
};

} // namespace llm4all
