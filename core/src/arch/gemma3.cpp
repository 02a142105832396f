// gemma3.cpp — the Gemma 3 architecture (text decoder): embeddings scaled by
// sqrt(n_embd), RMSNorm before and after both attention and FFN, per-head
// RMSNorm of q and k, NeoX RoPE, sliding-window attention on five of every six
// layers (own RoPE base there), GeGLU feed-forward, tied output head.
#include <cmath>
#include <string>
#include <vector>

#include "arch/llama.h"
#include "error.h"
#include "model.h"
#include "session.h"

namespace llm4all {

namespace {

void check(int32_t rc, const char *op, const Session &s) {
    if (rc != 0)
        fail(LLM4ALL_ERR_BACKEND, std::string("backend ") + s.be().name + "-" + s.be().variant + " failed in " + op);
}

// A view of a contiguous tensor with another shape (same bytes).
llm4all_tensor view(const llm4all_tensor &t, int64_t ne0, int64_t ne1, int64_t ne2 = 1, size_t byte_offset = 0) {
    llm4all_tensor v = t;
    v.data = static_cast<char *>(t.data) + byte_offset;
    v.ne[0] = ne0;
    v.ne[1] = ne1;
    v.ne[2] = ne2;
    v.ne[3] = 1;
    v.n_dims = ne2 > 1 ? 3 : 2;
    return v;
}

bool is_sliding(const Hparams &hp, int32_t layer) {
    return hp.n_swa > 0 && hp.swa_pattern > 0 && layer % hp.swa_pattern < hp.swa_pattern - 1;
}

void load_gemma3(Model &model) {
    const GgufFile &f = model.file();
    const std::string path = f.path();
    Hparams &hp = model.mutable_hparams();
    hp.rope_mode = LLM4ALL_ROPE_NEOX;

    // As llama.cpp reads a gemma3 file: the window comes from the file, the pattern
    // (every 6th layer global) and the local RoPE base (10000) are fixed by the
    // architecture; a file without a window runs every layer globally.
    const int64_t n_swa = f.get_int("gemma3.attention.sliding_window", 0);
    if (n_swa < 0 || n_swa > (int64_t(1) << 30))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": gemma3.attention.sliding_window has an impossible value " +
                                       std::to_string(n_swa));
    hp.n_swa = static_cast<int32_t>(n_swa);
    hp.swa_pattern = hp.n_swa > 0 ? 6 : 0;
    hp.rope_base_swa = 10000.0f;
    const double cap = f.get_float("gemma3.final_logit_softcapping", 0.0);
    if (!(cap >= 0.0) || !std::isfinite(cap))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": gemma3.final_logit_softcapping must be a finite number >= 0");
    hp.final_softcap = static_cast<float>(cap);
    const int64_t v_len = f.get_int("gemma3.attention.value_length", hp.head_dim);
    if (v_len != hp.head_dim)
        fail(LLM4ALL_ERR_UNSUPPORTED, path + ": value_length " + std::to_string(v_len) + " differs from key_length " +
                                          std::to_string(hp.head_dim) + ", which is not supported");
    // Gemma's query scale is query_pre_attn_scalar^-0.5, which GGUF does not carry:
    // it equals head_dim except in the 27B model (62 layers), where it is n_embd / n_head.
    const float q_pre = hp.n_layer == 62 ? float(hp.n_embd / hp.n_head) : float(hp.head_dim);
    hp.attn_scale = 1.0f / std::sqrt(q_pre);

    const llm4all_backend_iface &be = *model.backend().iface;
    if (!be.geglu || !be.scale || !be.attention_ext)
        fail(LLM4ALL_ERR_UNSUPPORTED, path + ": backend " + be.name + "-" + be.variant +
                                          " lacks the geglu/scale/attention_ext ops that gemma3 needs");

    const int64_t E = hp.n_embd, V = hp.n_vocab, F = hp.n_ff, hd = hp.head_dim;
    const int64_t Q = int64_t(hp.n_head) * hd, KV = int64_t(hp.n_head_kv) * hd;
    Weights &w = model.mutable_weights();
    w.tok_embd = model.tensor("token_embd.weight", {E, V});
    w.output_norm = model.tensor("output_norm.weight", {E});
    w.output = model.tensor("output.weight", {E, V}, false);
    if (!w.output) w.output = w.tok_embd;  // tied embeddings (every released Gemma 3)
    w.layers.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights &L = w.layers[l];
        // Norm weights are used as stored: llama.cpp's converter already folded
        // Gemma's (1 + weight) into them.
        L.attn_norm = model.tensor(p + "attn_norm.weight", {E});
        L.wq = model.tensor(p + "attn_q.weight", {E, Q});
        L.wk = model.tensor(p + "attn_k.weight", {E, KV});
        L.wv = model.tensor(p + "attn_v.weight", {E, KV});
        L.wo = model.tensor(p + "attn_output.weight", {Q, E});
        L.attn_q_norm = model.tensor(p + "attn_q_norm.weight", {hd});
        L.attn_k_norm = model.tensor(p + "attn_k_norm.weight", {hd});
        L.attn_post_norm = model.tensor(p + "post_attention_norm.weight", {E});
        L.ffn_norm = model.tensor(p + "ffn_norm.weight", {E});
        L.ffn_gate = model.tensor(p + "ffn_gate.weight", {E, F});
        L.ffn_up = model.tensor(p + "ffn_up.weight", {E, F});
        L.ffn_down = model.tensor(p + "ffn_down.weight", {F, E});
        L.ffn_post_norm = model.tensor(p + "post_ffw_norm.weight", {E});
    }
}

void forward_gemma3(Session &s, const int32_t *tokens, int32_t n, int32_t n_past, float *logits, int32_t n_out) {
    const Model &model = s.model();
    const Hparams &hp = model.hparams();
    const Weights &w = model.weights();
    const llm4all_backend_iface &be = s.be();
    llm4all_backend_ctx *ctx = s.ctx();
    const int64_t E = hp.n_embd, F = hp.n_ff, hd = hp.head_dim;
    const int64_t Q = int64_t(hp.n_head) * hd, KV = int64_t(hp.n_head_kv) * hd;

    std::vector<int32_t> pos(n);
    for (int32_t i = 0; i < n; ++i) pos[i] = n_past + i;

    llm4all_tensor x = s.scratch(0, E, n);     // residual stream [E, n]
    llm4all_tensor h = s.scratch(1, E, n);     // normed input     [E, n]
    llm4all_tensor q = s.scratch(2, Q, n);     // [hd*n_head, n]
    llm4all_tensor k = s.scratch(3, KV, n);    // [hd*n_head_kv, n]
    llm4all_tensor v = s.scratch(4, KV, n);
    llm4all_tensor att = s.scratch(5, Q, n);   // attention output [hd*n_head, n]
    llm4all_tensor o = s.scratch(6, E, n);     // block output [E, n]
    llm4all_tensor g = s.scratch(7, F, n);     // gate [F, n]
    llm4all_tensor u = s.scratch(8, F, n);     // up   [F, n]

    check(be.get_rows(ctx, w.tok_embd, tokens, n, &x), "get_rows", s);
    check(be.scale(ctx, &x, std::sqrt(float(E)), &x), "scale(embeddings)", s);
    llm4all_tensor q3 = view(q, hd, hp.n_head, n), k3 = view(k, hd, hp.n_head_kv, n);
    llm4all_tensor att3 = view(att, hd, hp.n_head, n);
    // Per-head norms: one row per (head, token), the [head_dim] weight shared by all.
    llm4all_tensor q_rows = view(q, hd, int64_t(hp.n_head) * n), k_rows = view(k, hd, int64_t(hp.n_head_kv) * n);
    const float scale = hp.attn_scale > 0 ? hp.attn_scale : 1.0f / std::sqrt(float(hd));

    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights &L = w.layers[l];
        const bool swa = is_sliding(hp, l);
        // Linear RoPE scaling applies to the global layers only, as in llama.cpp.
        const float rope_base = swa ? hp.rope_base_swa : hp.rope_base;
        const float rope_scale = swa ? 1.0f : hp.rope_scale;

        check(be.rms_norm(ctx, &x, L.attn_norm, hp.rms_eps, &h), "rms_norm", s);
        {
            const llm4all_tensor *wqkv[3] = {L.wq, L.wk, L.wv};
            llm4all_tensor *qkv[3] = {&q, &k, &v};
            mul_mat_shared(s, 3, wqkv, &h, qkv, "mul_mat(q, k, v)");
        }
        check(be.rms_norm(ctx, &q_rows, L.attn_q_norm, hp.rms_eps, &q_rows), "rms_norm(q)", s);
        check(be.rms_norm(ctx, &k_rows, L.attn_k_norm, hp.rms_eps, &k_rows), "rms_norm(k)", s);
        check(be.rope(ctx, &q3, pos.data(), hp.n_rot, rope_base, rope_scale, hp.rope_mode), "rope(q)", s);
        check(be.rope(ctx, &k3, pos.data(), hp.n_rot, rope_base, rope_scale, hp.rope_mode), "rope(k)", s);

        llm4all_tensor &kc = s.k_cache(l), &vc = s.v_cache(l);   // [hd, n_head_kv, n_ctx]
        llm4all_tensor kc2 = view(kc, KV, kc.ne[2]), vc2 = view(vc, KV, vc.ne[2]);
        check(be.store_rows(ctx, &k, &kc2, n_past), "store_rows(k)", s);
        check(be.store_rows(ctx, &v, &vc2, n_past), "store_rows(v)", s);
        check(be.attention_ext(ctx, &q3, &kc, &vc, n_past + n, pos.data(), scale, swa ? hp.n_swa : 0, 0.0f, &att3),
              "attention_ext", s);
        check(be.mul_mat(ctx, L.wo, &att, &o), "mul_mat(o)", s);
        check(be.rms_norm(ctx, &o, L.attn_post_norm, hp.rms_eps, &o), "rms_norm(post attention)", s);
        check(be.add(ctx, &x, &o, &x), "add", s);

        check(be.rms_norm(ctx, &x, L.ffn_norm, hp.rms_eps, &h), "rms_norm", s);
        {
            const llm4all_tensor *wgu[2] = {L.ffn_gate, L.ffn_up};
            llm4all_tensor *gu[2] = {&g, &u};
            mul_mat_shared(s, 2, wgu, &h, gu, "mul_mat(gate, up)");
        }
        check(be.geglu(ctx, &g, &u, &g), "geglu", s);
        check(be.mul_mat(ctx, L.ffn_down, &g, &o), "mul_mat(down)", s);
        check(be.rms_norm(ctx, &o, L.ffn_post_norm, hp.rms_eps, &o), "rms_norm(post ffn)", s);
        check(be.add(ctx, &x, &o, &x), "add", s);
    }
    if (n_out <= 0) return;

    // Only the last n_out positions need the head.
    llm4all_tensor x_out = view(x, E, n_out, 1, size_t(n - n_out) * E * sizeof(float));
    llm4all_tensor h_out = view(h, E, n_out);
    check(be.rms_norm(ctx, &x_out, w.output_norm, hp.rms_eps, &h_out), "rms_norm(output)", s);
    llm4all_tensor out = s.scratch(9, hp.n_vocab, n_out);   // [n_vocab, n_out]
    check(be.mul_mat(ctx, w.output, &h_out, &out), "mul_mat(output)", s);
    const size_t n_logits = size_t(hp.n_vocab) * n_out;
    be.download(ctx, logits, out.data, n_logits * sizeof(float));
    // Final soft-capping (only when the file asks for it; Gemma 3 releases do not):
    // cheap enough on the host that it needs no backend op.
    if (hp.final_softcap > 0) {
        const float c = hp.final_softcap;
        for (size_t i = 0; i < n_logits; ++i) logits[i] = c * std::tanh(logits[i] / c);
    }
}

const Arch k_gemma3{"gemma3", load_gemma3, forward_gemma3};
const ArchRegistrar reg_gemma3(&k_gemma3);

} // namespace
} // namespace llm4all
