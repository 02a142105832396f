// common.h — small helpers shared by the architecture files: backend error
// checking, reshaped views of contiguous tensors, and several matrix products
// over one shared input.
#pragma once

#include <cstddef>
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

// y[j] = w[j] x for j < n through the backend's mul_mat_multi (one activation
// preparation, one parallel phase), or n mul_mat calls where the plugin's table
// predates it. Throws like the forward passes' other backend calls.
inline void mul_mat_shared(Session &s, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                           llm4all_tensor *const *y, const char *what) {
    const llm4all_backend_iface &be = s.be();
    if (be.size > offsetof(llm4all_backend_iface, mul_mat_multi) && be.mul_mat_multi) {
        check(be.mul_mat_multi(s.ctx(), n, w, x, y), what, s);
        return;
    }
    for (int32_t j = 0; j < n; ++j) check(be.mul_mat(s.ctx(), w[j], x, y[j]), what, s);
}

} // namespace llm4all::arch
