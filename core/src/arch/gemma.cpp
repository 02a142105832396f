// gemma.cpp — the Gemma (1) architecture and the Gemma-family forward pass that
// Gemma 2 and 3 share: RMSNorm (weights stored + 1), embeddings scaled by
// sqrt(n_embd), NeoX RoPE, GeGLU feed-forward, output head tied to the embedding.
#include "arch/gemma.h"

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
using arch::store_and_attend;
using arch::view;

namespace {

void load_gemma(Model &model) {
    model.mutable_hparams().rope_mode = LLM4ALL_ROPE_NEOX;
    load_gemma_family(model, GemmaVariant{});
}

const Arch k_gemma{"gemma", load_gemma, forward_gemma_family};
const ArchRegistrar reg_gemma(&k_gemma);

} // namespace

void load_gemma_family(Model &model, const GemmaVariant &variant) {
    Hparams &hp = model.mutable_hparams();
    const std::string path = model.file().path();
    const llm4all_backend_iface &be = *model.backend().iface;
    if (!be.geglu || !be.scale || !be.attention_ext)
        fail(LLM4ALL_ERR_UNSUPPORTED, path + ": backend " + be.name + "-" + be.variant + " lacks the geglu/scale/" +
                                          "attention_ext ops that " + hp.arch + " needs");
    const int64_t v_len = model.file().get_int(hp.arch + ".attention.value_length", hp.head_dim);
    if (v_len != hp.head_dim)
        fail(LLM4ALL_ERR_UNSUPPORTED, path + ": value_length " + std::to_string(v_len) + " differs from key_length " +
                                          std::to_string(hp.head_dim) + ", which is not supported");

    const int64_t E = hp.n_embd, V = hp.n_vocab, F = hp.n_ff, hd = hp.head_dim;
    const int64_t Q = int64_t(hp.n_head) * hd, KV = int64_t(hp.n_head_kv) * hd;
    Weights &w = model.mutable_weights();
    w.tok_embd = model.tensor("token_embd.weight", {E, V});
    w.output_norm = model.tensor("output_norm.weight", {E});
    w.output = model.tensor("output.weight", {E, V}, false);
    if (!w.output) w.output = w.tok_embd;  // tied (every released Gemma)
    w.layers.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights &L = w.layers[l];
        L.attn_norm = model.tensor(p + "attn_norm.weight", {E});
        L.wq = model.tensor(p + "attn_q.weight", {E, Q});
        L.wk = model.tensor(p + "attn_k.weight", {E, KV});
        L.wv = model.tensor(p + "attn_v.weight", {E, KV});
        L.wo = model.tensor(p + "attn_output.weight", {Q, E});
        L.ffn_norm = model.tensor(p + "ffn_norm.weight", {E});
        L.ffn_gate = model.tensor(p + "ffn_gate.weight", {E, F});
        L.ffn_up = model.tensor(p + "ffn_up.weight", {E, F});
        L.ffn_down = model.tensor(p + "ffn_down.weight", {F, E});
        if (variant.qk_norms) {
            L.attn_q_norm = model.tensor(p + "attn_q_norm.weight", {hd});
            L.attn_k_norm = model.tensor(p + "attn_k_norm.weight", {hd});
        }
        if (variant.post_norms) {
            L.attn_post_norm = model.tensor(p + "post_attention_norm.weight", {E});
            L.ffn_post_norm = model.tensor(p + "post_ffw_norm.weight", {E});
        }
    }
}

void forward_gemma_family(Batch &b, float *logits) {
    Session &s = b.compute();   // backend context, threads and scratch of the pass
    const Model &model = s.model();
    const Hparams &hp = model.hparams();
    const Weights &w = model.weights();
    const int64_t E = hp.n_embd, hd = hp.head_dim;

    const int32_t n = b.n_tokens();
    const int32_t *pos = b.positions();   // each segment's own

    Activations a(s, n);   // slots 0-8 of the session scratch, on the CPU first
    llm4all_tensor &x = a.x, &h = a.h, &q = a.q, &k = a.k, &v = a.v, &att = a.att, &o = a.o, &g = a.g, &u = a.u;
    // q_rows, k_rows: per-head norms, one row per (head, token), the [head_dim] weight shared by all.
    llm4all_tensor &q3 = a.q3, &k3 = a.k3, &att3 = a.att3, &q_rows = a.q_rows, &k_rows = a.k_rows;

    check(s.be().get_rows(s.ctx(), w.tok_embd, b.tokens(), n, &x), "get_rows", s);
    check(s.be().scale(s.ctx(), &x, std::sqrt(float(E)), &x), "scale(embeddings)", s);
    const float scale = hp.attn_scale > 0 ? hp.attn_scale : 1.0f / std::sqrt(float(hd));

    for (int32_t l = 0; l < hp.n_layer; ++l) {
        b.check_abort();   // Ctrl-C reaches a long prompt batch within one layer
        a.enter_layer(s, l);
        const llm4all_backend_iface &be = s.be();
        llm4all_backend_ctx *ctx = s.ctx();
        const LayerWeights &L = w.layers[l];
        const bool swa = layer_window(hp, l) > 0;
        // Linear RoPE scaling applies to the global layers only (Gemma 3 as in llama.cpp;
        // no Gemma 1/2 file scales its positions).
        const float rope_base = swa ? hp.rope_base_swa : hp.rope_base;
        const float rope_scale = swa ? 1.0f : hp.rope_scale;

        check(be.rms_norm(ctx, &x, L.attn_norm, hp.rms_eps, &h), "rms_norm", s);
        {
            const llm4all_tensor *wqkv[3] = {L.wq, L.wk, L.wv};
            llm4all_tensor *qkv[3] = {&q, &k, &v};
            matmul_shared(s, 3, wqkv, &h, qkv, "mul_mat(q, k, v)");
        }
        if (L.attn_q_norm) {
            check(be.rms_norm(ctx, &q_rows, L.attn_q_norm, hp.rms_eps, &q_rows), "rms_norm(q)", s);
            check(be.rms_norm(ctx, &k_rows, L.attn_k_norm, hp.rms_eps, &k_rows), "rms_norm(k)", s);
        }
        check(be.rope(ctx, &q3, pos, hp.n_rot, rope_base, rope_scale, hp.rope_mode), "rope(q)", s);
        check(be.rope(ctx, &k3, pos, hp.n_rot, rope_base, rope_scale, hp.rope_mode), "rope(k)", s);

        store_and_attend(b, l, k, v, q3, scale, hp.attn_softcap, att3);
        matmul(s, L.wo, &att, &o, "mul_mat(o)");
        if (L.attn_post_norm)
            check(be.rms_norm(ctx, &o, L.attn_post_norm, hp.rms_eps, &o), "rms_norm(post attention)", s);
        check(be.add(ctx, &x, &o, &x), "add", s);

        check(be.rms_norm(ctx, &x, L.ffn_norm, hp.rms_eps, &h), "rms_norm", s);
        {
            const llm4all_tensor *wgu[2] = {L.ffn_gate, L.ffn_up};
            llm4all_tensor *gu[2] = {&g, &u};
            matmul_shared(s, 2, wgu, &h, gu, "mul_mat(gate, up)");
        }
        check(be.geglu(ctx, &g, &u, &g), "geglu", s);
        matmul(s, L.ffn_down, &g, &o, "mul_mat(down)");
        if (L.ffn_post_norm) check(be.rms_norm(ctx, &o, L.ffn_post_norm, hp.rms_eps, &o), "rms_norm(post ffn)", s);
        check(be.add(ctx, &x, &o, &x), "add", s);
    }
    output_head(b, a, hp.final_softcap, logits);
}

} // namespace llm4all
