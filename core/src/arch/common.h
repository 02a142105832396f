// common.h — small helpers shared by the architecture files: backend error
// checking, reshaped views of contiguous tensors, the decoder's activation
// buffers, the one entry point for products with a weight matrix (LoRA adapters
// hook in there), one layer's cache store + attention per sequence of a batch,
// and the output head.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "batch.h"
#include "error.h"
#include "session.h"

namespace llm4all::arch {

// Pass is the compute state of a forward: a Session (decoders) or an Encoder.
template <class Pass> inline void check(int32_t rc, const char *op, const Pass &s) {
    if (rc == 0) return;
    const char *why = s.be().last_error(s.ctx());
    fail(LLM4ALL_ERR_BACKEND, std::string("backend ") + s.be().name + "-" + s.be().variant + " failed in " + op +
                                  (why && *why ? std::string(": ") + why : std::string()));
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

// Scratch slots of the adapter products, past every forward's own (decoders 0-9,
// encoders 0-8, the embedding pipeline's dense layers 30-31).
constexpr int32_t k_lora_slot_ax = 20, k_lora_slot_bax = 21;

// y += sum over the model's adapters on w of scale * B (A x) (lora.cpp). Every
// token's row goes through the same ops whatever else is in the batch, so an
// adapter keeps the batch invariance of the plain products.
template <class Pass>
inline void add_lora(Pass &p, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y, const char *what) {
    const std::vector<LoraPair> *pairs = p.model().lora(w);
    if (!pairs) return;
    const llm4all_backend_iface &be = p.be();
    const int64_t n = y->ne[1];
    for (const LoraPair &lp : *pairs) {
        llm4all_tensor ax = p.scratch(k_lora_slot_ax, lp.a->ne[1], n);    // [r, n]
        llm4all_tensor bax = p.scratch(k_lora_slot_bax, lp.b->ne[1], n);  // [n_out, n]
        check(be.mul_mat(p.ctx(), lp.a, x, &ax), what, p);
        check(be.scale(p.ctx(), &ax, lp.scale, &ax), what, p);
        check(be.mul_mat(p.ctx(), lp.b, &ax, &bax), what, p);
        check(be.add(p.ctx(), y, &bax, y), what, p);
    }
}

// RoPE of x ([head_dim, heads, tokens]) at pos, with per-dimension frequency divisors
// when the model has them (freqs: [n_rot/2] F32, e.g. Llama 3.1's rope_freqs) and cos
// and sin scaled by mscale (LongRoPE).
template <class Pass>
inline void rope(Pass &p, llm4all_tensor &x, const int32_t *pos, float base, float scale,
                 const llm4all_tensor *freqs, const char *what, float mscale = 1.0f) {
    const llm4all_backend_iface &be = p.be();
    const Hparams &hp = p.model().hparams();
    if (!freqs && mscale == 1.0f) return check(be.rope(p.ctx(), &x, pos, hp.n_rot, base, scale, hp.rope_mode), what, p);
    if (be.size <= offsetof(llm4all_backend_iface, rope_ext) || !be.rope_ext)
        fail(LLM4ALL_ERR_UNSUPPORTED, std::string("the backend ") + be.name + " lacks rope_ext, which this model's "
                                      "scaled RoPE needs");
    check(be.rope_ext(p.ctx(), &x, pos, hp.n_rot, base, scale, hp.rope_mode,
                      freqs ? static_cast<const float *>(freqs->data) : nullptr, mscale), what, p);
}

// THE product with a weight matrix: y = w x (w [n_in, n_out], x [n_in, n], y
// [n_out, n]) plus the adapters on w. Every forward multiplies by its weights
// only through this and matmul_shared.
template <class Pass>
inline void matmul(Pass &p, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y, const char *what) {
    check(p.be().mul_mat(p.ctx(), w, x, y), what, p);
    add_lora(p, w, x, y, what);
}

// y[j] = w[j] x for j < n (plus adapters) through the backend's mul_mat_multi
// (one activation preparation, one parallel phase), or n mul_mat calls where
// the plugin's table predates it. Throws like the forward passes' other calls.
template <class Pass>
inline void matmul_shared(Pass &p, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                          llm4all_tensor *const *y, const char *what) {
    const llm4all_backend_iface &be = p.be();
    if (be.size > offsetof(llm4all_backend_iface, mul_mat_multi) && be.mul_mat_multi)
        check(be.mul_mat_multi(p.ctx(), n, w, x, y), what, p);
    else
        for (int32_t j = 0; j < n; ++j) check(be.mul_mat(p.ctx(), w[j], x, y[j]), what, p);
    for (int32_t j = 0; j < n; ++j) add_lora(p, w[j], x, y[j], what);
}

// Stores each segment's rows of k and v ([hd * n_head_kv, n], RoPE applied) in
// layer l of that segment's cache and attends its rows of q3 ([hd, n_head, n])
// over that cache into out3, honouring the layer's sliding window; softcap as
// attention_ext. Plain attention() where nothing needs the extras, so plugin
// tables without attention_ext still run such models.
inline void store_and_attend(Batch &b, int32_t l, const llm4all_tensor &k, const llm4all_tensor &v,
                             const llm4all_tensor &q3, float scale, float softcap, llm4all_tensor &out3) {
    Session &s = b.compute();
    const llm4all_backend_iface &be = s.be();
    const int64_t kv_row = k.ne[0], hd = q3.ne[0], n_head = q3.ne[1];
    // Every segment's rows are stored first; then one backend call attends all of them
    // where the plugin has attention_batch (one parallel phase instead of one per
    // sequence), else each in turn.
    const size_t n = b.segments().size();
    thread_local std::vector<llm4all_tensor> views;   // q and out per segment
    thread_local std::vector<KvLayerView> caches;
    thread_local std::vector<llm4all_attention_item> items;
    views.resize(2 * n);
    caches.resize(n);
    items.resize(n);
    for (size_t i = 0; i < n; ++i) {
        const Batch::Segment &g = b.segments()[i];
        // The segment's rows as tensors of their own (rows are contiguous).
        const llm4all_tensor ks = view(k, kv_row, g.n, 1, size_t(g.row) * kv_row * sizeof(float));
        const llm4all_tensor vs = view(v, kv_row, g.n, 1, size_t(g.row) * kv_row * sizeof(float));
        views[2 * i] = view(q3, hd, n_head, g.n, size_t(g.row) * hd * n_head * sizeof(float));
        views[2 * i + 1] = view(out3, hd, n_head, g.n, size_t(g.row) * hd * n_head * sizeof(float));
        KvLayerView &c = caches[i] = g.session->kv().layer(l, g.n_past, g.n);
        check(be.store_rows(s.ctx(), &ks, &c.k_rows, c.store_row), "store_rows(k)", s);
        check(be.store_rows(s.ctx(), &vs, &c.v_rows, c.store_row), "store_rows(v)", s);
        items[i] = llm4all_attention_item{&views[2 * i], &c.k, &c.v, c.n_kv, c.pos, scale, c.window, softcap,
                                          &views[2 * i + 1]};
    }
    if (n > 1 && be.size > offsetof(llm4all_backend_iface, attention_batch) && be.attention_batch) {
        check(be.attention_batch(s.ctx(), int32_t(n), items.data()), "attention_batch", s);
        return;
    }
    for (const llm4all_attention_item &it : items) {
        if (it.n_swa > 0 || softcap > 0)
            check(be.attention_ext(s.ctx(), it.q, it.k, it.v, it.n_kv, it.pos, scale, it.n_swa, softcap, it.out),
                  "attention_ext", s);
        else
            check(be.attention(s.ctx(), it.q, it.k, it.v, it.n_kv, it.pos, scale, it.out), "attention", s);
    }
}

// The activations of one decoder forward over n tokens, in the session's
// scratch slots 0-8 (slot 9 is the output head's) of the device the pass is on,
// with the per-head views. The pass starts on the CPU (the embedding table is
// host memory) and follows the model's placement layer by layer.
struct Activations {
    llm4all_tensor x, h;        // residual stream, normed input [E, n]
    llm4all_tensor q, k, v;     // [hd*n_head, n], [hd*n_head_kv, n] x 2
    llm4all_tensor att, o;      // attention output [hd*n_head, n], block output [E, n]
    llm4all_tensor g, u;        // gate, up [F, n]
    llm4all_tensor q3, k3, att3; // q, k, att as [hd, heads, n]
    llm4all_tensor q_rows, k_rows; // q, k as one row per (head, token) [hd, heads * n], for per-head norms

    Activations(Session &s, int32_t n) {
        s.use_device(0);
        bind(s, n);
    }

    // Moves the pass to device d (an index into model().devices()). The residual stream
    // is the only state that crosses a layer boundary, so only x travels (through host
    // memory); every other activation is rebound to the new device's scratch.
    void move_to(Session &s, int32_t d) {
        if (s.device() == d) return;
        const int64_t n = x.ne[1];
        const size_t bytes = size_t(x.ne[0]) * size_t(n) * sizeof(float);
        std::vector<float> &stage = s.staging();
        if (stage.size() * sizeof(float) < bytes) stage.resize(bytes / sizeof(float));
        s.be().download(s.ctx(), stage.data(), x.data, bytes);
        s.use_device(d);
        bind(s, int32_t(n));
        s.be().upload(s.ctx(), x.data, stage.data(), bytes);
    }
    // To the device of layer l.
    void enter_layer(Session &s, int32_t l) { move_to(s, s.model().layer_device(l)); }

private:
    void bind(Session &s, int32_t n) {
        const Hparams &hp = s.model().hparams();
        const int64_t E = hp.n_embd, F = hp.n_ff, hd = hp.head_dim;
        const int64_t Q = int64_t(hp.n_head) * hd, KV = int64_t(hp.n_head_kv) * hd;
        x = s.scratch(0, E, n);
        h = s.scratch(1, E, n);
        q = s.scratch(2, Q, n);
        k = s.scratch(3, KV, n);
        v = s.scratch(4, KV, n);
        att = s.scratch(5, Q, n);
        o = s.scratch(6, E, n);
        g = s.scratch(7, F, n);
        u = s.scratch(8, F, n);
        q3 = view(q, hd, hp.n_head, n);
        k3 = view(k, hd, hp.n_head_kv, n);
        att3 = view(att, hd, hp.n_head, n);
        q_rows = view(q, hd, int64_t(hp.n_head) * n);
        k_rows = view(k, hd, int64_t(hp.n_head_kv) * n);
    }
};

// Final norm and output projection for the rows whose logits the batch wants
// (each segment's last n_out), into logits [n_vocab, b.n_out()]; softcap > 0
// caps them as c * tanh(l / c). The norm gathers those rows into one matrix so
// the head, the costliest matmul for a large vocabulary, is a single product.
inline void output_head(Batch &b, Activations &a, float softcap, float *logits) {
    Session &s = b.compute();
    a.move_to(s, s.model().output_device());
    const Hparams &hp = s.model().hparams();
    const Weights &w = s.model().weights();
    const llm4all_backend_iface &be = s.be();
    const int64_t E = hp.n_embd;
    const int32_t n_out = b.n_out();
    if (n_out == 0) return;
    for (const Batch::Segment &g : b.segments()) {
        if (!g.n_out) continue;
        const llm4all_tensor x_out = view(a.x, E, g.n_out, 1, size_t(g.row + g.n - g.n_out) * E * sizeof(float));
        llm4all_tensor h_out = view(a.h, E, g.n_out, 1, size_t(g.out_row) * E * sizeof(float));
        check(be.rms_norm(s.ctx(), &x_out, w.output_norm, hp.rms_eps, &h_out), "rms_norm(output)", s);
    }
    llm4all_tensor h_out = view(a.h, E, n_out);
    llm4all_tensor out = s.scratch(9, hp.n_vocab, n_out);   // [n_vocab, n_out]
    matmul(s, w.output, &h_out, &out, "mul_mat(output)");
    const size_t n_logits = size_t(hp.n_vocab) * n_out;
    be.download(s.ctx(), logits, out.data, n_logits * sizeof(float));
    // Soft-capping is cheap enough on the host that it needs no backend op.
    if (softcap > 0)
        for (size_t i = 0; i < n_logits; ++i) logits[i] = softcap * std::tanh(logits[i] / softcap);
}

} // namespace llm4all::arch
