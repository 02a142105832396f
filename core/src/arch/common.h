// common.h — small helpers shared by the architecture files: backend error
// checking and reshaped views of contiguous tensors.
#pragma once

#include <string>

#include "error.h"
#include "session.h"

namespace llm4all::arch {

inline void check(int32_t rc, const char *op, const Session &s) {
    if (rc != 0)
        fail(LLM4ALL_ERR_BACKEND, std::string("backend ") + s.be().name + "-" + s.be().variant + " failed in " + op);
}

// A view of a contiguous tensor with another shape (same bytes, from byte_offset on).
inline llm4all_tensor view(const llm4all_tensor &t, int64_t ne0, int64_t ne1, int64_t ne2 = 1,
                           size_t byte_offset = 0) {
    llm4all_tensor v = t;
    v.data = static_cast<char *>(t.data) + byte_offset;
    v.ne[0] = ne0;
    v.ne[1] = ne1;
    v.ne[2] = ne2;
    v.ne[3] = 1;
    v.n_dims = ne2 > 1 ? 3 : 2;
    return v;
}

} // namespace llm4all::arch
