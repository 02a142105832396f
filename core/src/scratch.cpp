// scratch.cpp — ScratchSlots: per-slot scratch buffers grown on demand.
#include "scratch.h"

#include <string>

#include "error.h"

namespace llm4all {

llm4all_tensor ScratchSlots::get(const llm4all_backend_iface &be, llm4all_backend_ctx *ctx, int32_t slot,
                                 int64_t ne0, int64_t ne1, int64_t ne2) {
    if (slot >= static_cast<int32_t>(slots_.size())) slots_.resize(slot + 1, {nullptr, 0});
    const size_t bytes = size_t(ne0) * size_t(ne1) * size_t(ne2) * sizeof(float);
    auto &s = slots_[slot];
    if (s.second < bytes) {
        if (s.first) be.buffer_free(ctx, s.first);
        s.first = be.buffer_alloc(ctx, bytes);
        s.second = s.first ? bytes : 0;
        if (!s.first) fail(LLM4ALL_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes of scratch");
    }
    llm4all_tensor t{};
    t.data = s.first;
    t.type = LLM4ALL_TYPE_F32;
    t.n_dims = ne2 > 1 ? 3 : 2;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = ne2;
    t.ne[3] = 1;
    return t;
}

void ScratchSlots::release(const llm4all_backend_iface &be, llm4all_backend_ctx *ctx) {
    for (auto &s : slots_)
        if (s.first) be.buffer_free(ctx, s.first);
    slots_.clear();
}

} // namespace llm4all
