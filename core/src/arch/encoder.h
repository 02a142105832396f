// encoder.h — helpers shared by the encoder architectures (bert, gemma-embedding):
// the backend ops they need, and attention of every sequence of a batch over
// its own tokens (no causal mask, optionally a symmetric window).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "arch/common.h"
#include "encode.h"

namespace llm4all::arch {

// Throws UNSUPPORTED when the model's backend predates the encoder ops.
inline void require_encoder_ops(const Model &model) {
    const llm4all_backend_iface &be = *model.backend().iface;
    if (be.size <= offsetof(llm4all_backend_iface, attention_span) || !be.layer_norm || !be.gelu || !be.attention_span)
        fail(LLM4ALL_ERR_UNSUPPORTED, model.file().path() + ": backend " + be.name + "-" + be.variant +
                                          " lacks the layer_norm/gelu/attention_span ops that encoders need");
}

// Each sequence's rows of q3 ([hd, n_head, n]) attend over its own rows of k and v
// ([hd * n_head_kv, n]) into out3. half_window > 0: token i sees only the tokens j
// with |i - j| <= half_window; 0 = the whole sequence. One call per sequence, so a
// sequence's result does not depend on what else is in the batch.
inline void attend_sequences(Encoder &e, const EncodeBatch &b, const llm4all_tensor &q3, const llm4all_tensor &k,
                             const llm4all_tensor &v, int64_t n_head_kv, int32_t half_window, float scale,
                             llm4all_tensor &out3, std::vector<int32_t> &span) {
    const llm4all_backend_iface &be = e.be();
    const int64_t hd = q3.ne[0], n_head = q3.ne[1], kv_row = k.ne[0];
    for (const EncodeBatch::Seq &s : b.seqs) {
        span.resize(size_t(2) * s.n);
        int32_t *first = span.data(), *last = first + s.n;
        for (int32_t i = 0; i < s.n; ++i) {
            first[i] = half_window > 0 ? std::max(0, i - half_window) : 0;
            last[i] = half_window > 0 ? std::min(s.n - 1, i + half_window) : s.n - 1;
        }
        const size_t off_kv = size_t(s.row) * kv_row * sizeof(float), off_q = size_t(s.row) * hd * n_head * sizeof(float);
        const llm4all_tensor ks = view(k, hd, n_head_kv, s.n, off_kv), vs = view(v, hd, n_head_kv, s.n, off_kv);
        const llm4all_tensor qs = view(q3, hd, n_head, s.n, off_q);
        llm4all_tensor os = view(out3, hd, n_head, s.n, off_q);
        e.check(be.attention_span(e.ctx(), &qs, &ks, &vs, s.n, first, last, scale, &os), "attention_span");
    }
}

} // namespace llm4all::arch
