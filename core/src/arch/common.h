// common.h — small helpers shared by the architecture files: backend error
// checking, reshaped views of contiguous tensors, several matrix products
// over one shared input, and one layer's cache store + attention.
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

// Stores the batch's k and v ([hd * n_head_kv, n], RoPE applied) in layer l's
// cache and attends q3 ([hd, n_head, n]) over it into out3, honouring the layer's
// sliding window; softcap as attention_ext. Plain attention() where nothing needs
// the extras, so plugin tables without attention_ext still run such models.
inline void store_and_attend(Session &s, int32_t l, int32_t n_past, int32_t n, const llm4all_tensor &k,
                             const llm4all_tensor &v, const llm4all_tensor &q3, float scale, float softcap,
                             llm4all_tensor &out3) {
    const llm4all_backend_iface &be = s.be();
    KvLayerView c = s.kv().layer(l, n_past, n);
    check(be.store_rows(s.ctx(), &k, &c.k_rows, c.store_row), "store_rows(k)", s);
    check(be.store_rows(s.ctx(), &v, &c.v_rows, c.store_row), "store_rows(v)", s);
    if (c.window > 0 || softcap > 0)
        check(be.attention_ext(s.ctx(), &q3, &c.k, &c.v, c.n_kv, c.pos, scale, c.window, softcap, &out3),
              "attention_ext", s);
    else
        check(be.attention(s.ctx(), &q3, &c.k, &c.v, c.n_kv, c.pos, scale, &out3), "attention", s);
}

} // namespace llm4all::arch
