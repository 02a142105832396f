// llama.cpp — the llama architecture (Llama 1/2/3, Mistral, TinyLlama, SmolLM):
// RMSNorm, grouped-query attention with RoPE, SwiGLU feed-forward, tied or
// separate output head. Also the shared forward pass of its close relatives.
#include "arch/llama.h"

#include <cmath>
#include <string>

#include "arch/common.h"
#include "error.h"

namespace llm4all {

using arch::Activations;
using arch::check;
using arch::matmul;
using arch::matmul_shared;
using arch::output_head;
using arch::rope;
using arch::store_and_attend;
using arch::view;

namespace {

void load_llama(Model &model) { load_llama_family(model, LlamaVariant{}); }

const Arch k_llama{"llama", load_llama, forward_llama_family};
const ArchRegistrar reg_llama(&k_llama);

} // namespace

void load_llama_family(Model &model, const LlamaVariant &variant) {
    Hparams &hp = model.mutable_hparams();
    hp.rope_mode = variant.rope_mode;
    const int64_t E = hp.n_embd, V = hp.n_vocab, F = hp.n_ff;
    const int64_t Q = int64_t(hp.n_head) * hp.head_dim, KV = int64_t(hp.n_head_kv) * hp.head_dim;
    Weights &w = model.mutable_weights();
    w.tok_embd = model.tensor("token_embd.weight", {E, V});
    w.output_norm = model.tensor("output_norm.weight", {E});
    w.output = model.tensor("output.weight", {E, V}, false);
    if (!w.output) w.output = w.tok_embd;  // tied embeddings
    w.rope_freqs = model.tensor("rope_freqs.weight", {int64_t(hp.n_rot / 2)}, false);
    if (w.rope_freqs && w.rope_freqs->type != LLM4ALL_TYPE_F32)
        fail(LLM4ALL_ERR_BAD_GGUF, "rope_freqs.weight must be F32");
    w.layers.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights &L = w.layers[l];
        L.attn_norm = model.tensor(p + "attn_norm.weight", {E});
        L.wq = model.tensor(p + "attn_q.weight", {E, Q});
        L.wk = model.tensor(p + "attn_k.weight", {E, KV});
        L.wv = model.tensor(p + "attn_v.weight", {E, KV});
        L.wo = model.tensor(p + "attn_output.weight", {Q, E});
        if (variant.qkv_bias) {
            L.bq = model.tensor(p + "attn_q.bias", {Q});
            L.bk = model.tensor(p + "attn_k.bias", {KV});
            L.bv = model.tensor(p + "attn_v.bias", {KV});
        }
        if (variant.qk_norm) {
            L.attn_q_norm = model.tensor(p + "attn_q_norm.weight", {int64_t(hp.head_dim)});
            L.attn_k_norm = model.tensor(p + "attn_k_norm.weight", {int64_t(hp.head_dim)});
        }
        L.ffn_norm = model.tensor(p + "ffn_norm.weight", {E});
        L.ffn_gate = model.tensor(p + "ffn_gate.weight", {E, F});
        L.ffn_up = model.tensor(p + "ffn_up.weight", {E, F});
        L.ffn_down = model.tensor(p + "ffn_down.weight", {F, E});
    }
}

// RoPE of q and k ([head_dim, heads, tokens]). LongRoPE's factors follow each segment's
// session, so those segments turn one by one (each token's arithmetic is the same in any
// batch).
static void rope_qk(Batch &b, llm4all_tensor &q3, llm4all_tensor &k3) {
    Session &s = b.compute();
    const Hparams &hp = s.model().hparams();
    const Weights &w = s.model().weights();
    const int32_t *pos = b.positions();
    if (!w.rope_long) {
        rope(s, q3, pos, hp.rope_base, hp.rope_scale, w.rope_freqs, "rope(q)");
        rope(s, k3, pos, hp.rope_base, hp.rope_scale, w.rope_freqs, "rope(k)");
        return;
    }
    for (const Batch::Segment &g : b.segments()) {
        const llm4all_tensor *f = g.session->n_ctx() > hp.n_ctx_orig ? w.rope_long : w.rope_short;
        llm4all_tensor qs = view(q3, q3.ne[0], q3.ne[1], g.n, size_t(g.row) * q3.ne[0] * q3.ne[1] * sizeof(float));
        llm4all_tensor ks = view(k3, k3.ne[0], k3.ne[1], g.n, size_t(g.row) * k3.ne[0] * k3.ne[1] * sizeof(float));
        rope(s, qs, pos + g.row, hp.rope_base, hp.rope_scale, f, "rope(q)", hp.rope_attn_factor);
        rope(s, ks, pos + g.row, hp.rope_base, hp.rope_scale, f, "rope(k)", hp.rope_attn_factor);
    }
}

void forward_llama_family(Batch &b, float *logits) {
    Session &s = b.compute();   // backend context, threads and scratch of the pass
    const Model &model = s.model();
    const Hparams &hp = model.hparams();
    const Weights &w = model.weights();
    const int64_t hd = hp.head_dim;
    const int32_t n = b.n_tokens();

    Activations a(s, n);   // slots 0-8 of the session scratch, on the CPU first
    llm4all_tensor &x = a.x, &h = a.h, &q = a.q, &k = a.k, &v = a.v, &att = a.att, &o = a.o, &g = a.g, &u = a.u;
    llm4all_tensor &q3 = a.q3, &k3 = a.k3, &att3 = a.att3, &q_rows = a.q_rows, &k_rows = a.k_rows;

    check(s.be().get_rows(s.ctx(), w.tok_embd, b.tokens(), n, &x), "get_rows", s);
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));

    for (int32_t l = 0; l < hp.n_layer; ++l) {
        b.check_abort();   // Ctrl-C reaches a long prompt batch within one layer
        a.enter_layer(s, l);
        const llm4all_backend_iface &be = s.be();
        llm4all_backend_ctx *ctx = s.ctx();
        const LayerWeights &L = w.layers[l];
        check(be.rms_norm(ctx, &x, L.attn_norm, hp.rms_eps, &h), "rms_norm", s);
        {
            const llm4all_tensor *wqkv[3] = {L.wq, L.wk, L.wv};
            llm4all_tensor *qkv[3] = {&q, &k, &v};
            matmul_shared(s, 3, wqkv, &h, qkv, "mul_mat(q, k, v)");
        }
        if (L.bq) {
            check(be.add(ctx, &q, L.bq, &q), "add(bq)", s);
            check(be.add(ctx, &k, L.bk, &k), "add(bk)", s);
            check(be.add(ctx, &v, L.bv, &v), "add(bv)", s);
        }
        if (L.attn_q_norm) {
            check(be.rms_norm(ctx, &q_rows, L.attn_q_norm, hp.rms_eps, &q_rows), "rms_norm(q)", s);
            check(be.rms_norm(ctx, &k_rows, L.attn_k_norm, hp.rms_eps, &k_rows), "rms_norm(k)", s);
        }
        rope_qk(b, q3, k3);

        // A sliding window (phi3) covers every layer; the others see the whole causal past.
        store_and_attend(b, l, k, v, q3, scale, 0.0f, att3);
        matmul(s, L.wo, &att, &o, "mul_mat(o)");
        check(be.add(ctx, &x, &o, &x), "add", s);

        check(be.rms_norm(ctx, &x, L.ffn_norm, hp.rms_eps, &h), "rms_norm", s);
        {
            const llm4all_tensor *wgu[2] = {L.ffn_gate, L.ffn_up};
            llm4all_tensor *gu[2] = {&g, &u};
            matmul_shared(s, 2, wgu, &h, gu, "mul_mat(gate, up)");
        }
        check(be.swiglu(ctx, &g, &u, &g), "swiglu", s);
        matmul(s, L.ffn_down, &g, &o, "mul_mat(down)");
        check(be.add(ctx, &x, &o, &x), "add", s);
    }
    output_head(b, a, 0.0f, logits);
}

} // namespace llm4all
