// gemma_embedding.cpp — Gemma 3 as a bidirectional encoder (EmbeddingGemma-300M):
// the Gemma 3 layers (embeddings scaled by sqrt(n_embd), RMSNorm before and after
// attention and FFN, per-head q/k norms, NeoX RoPE, GeGLU) with attention over the
// whole sequence on the global layers and over |i - j| <= window/2 on the sliding
// ones (transformers' bidirectional mask), then the final norm. Pooling and the
// two Dense projections after it are the embedding pipeline's (encode.cpp).
#include <cmath>
#include <string>

#include "arch/encoder.h"
#include "arch/gemma.h"
#include "error.h"

namespace llm4all {

using arch::attend_sequences;
using arch::matmul;
using arch::matmul_shared;

namespace {

constexpr const char *k_arch = "gemma-embedding";

void load_gemma_embedding(Model &model) {
    const GgufFile &f = model.file();
    const std::string a = std::string(k_arch) + ".", path = f.path();
    Hparams &hp = model.mutable_hparams();
    arch::require_encoder_ops(model);
    hp.rope_mode = LLM4ALL_ROPE_NEOX;
    const int64_t n_swa = f.get_int(a + "attention.sliding_window", 0);
    if (n_swa < 0 || n_swa > (int64_t(1) << 30))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": " + a + "attention.sliding_window has an impossible value");
    hp.n_swa = static_cast<int32_t>(n_swa);
    hp.swa_pattern = hp.n_swa > 0 ? 6 : 0;   // every 6th layer global, as Gemma 3
    hp.rope_base_swa = static_cast<float>(f.get_float(a + "rope.freq_base_swa", 10000.0));
    hp.attn_scale = 1.0f / std::sqrt(float(hp.head_dim));   // query_pre_attn_scalar = head_dim
    hp.pooling = static_cast<int32_t>(f.get_int(a + "pooling_type", LLM4ALL_POOLING_MEAN));
    GemmaVariant v;
    v.post_norms = true;
    v.qk_norms = true;
    load_gemma_family(model, v);

    // sentence-transformers Dense layers after pooling: dense_2, dense_3 (either may be absent).
    Weights &w = model.mutable_weights();
    int64_t width = hp.n_embd;
    for (const char *name : {"dense_2", "dense_3"}) {
        if (!f.find_tensor(std::string(name) + ".weight")) continue;
        const int64_t in = f.get_int(a + name + "_feat_in", width), out = f.get_int(a + name + "_feat_out", 0);
        if (in != width || out <= 0 || out > (int64_t(1) << 20))
            fail(LLM4ALL_ERR_BAD_GGUF, path + ": " + name + " has impossible sizes " + std::to_string(in) + " -> " +
                                           std::to_string(out) + " after a vector of " + std::to_string(width));
        w.dense.push_back(model.tensor(std::string(name) + ".weight", {in, out}));
        width = out;
    }
    hp.n_embd_out = static_cast<int32_t>(width);
}

void encode_gemma_embedding(Encoder &e, const EncodeBatch &b, float *hidden) {
    const Model &model = e.model();
    const Hparams &hp = model.hparams();
    const Weights &w = model.weights();
    const llm4all_backend_iface &be = e.be();
    llm4all_backend_ctx *ctx = e.ctx();
    const int64_t E = hp.n_embd, F = hp.n_ff, hd = hp.head_dim;
    const int64_t Q = int64_t(hp.n_head) * hd, KV = int64_t(hp.n_head_kv) * hd;
    const int32_t n = b.n_tokens();

    llm4all_tensor x = e.scratch(0, E, n), h = e.scratch(1, E, n);
    llm4all_tensor q = e.scratch(2, Q, n), k = e.scratch(3, KV, n), v = e.scratch(4, KV, n);
    llm4all_tensor att = e.scratch(5, Q, n), o = e.scratch(6, E, n);
    llm4all_tensor g = e.scratch(7, F, n), u = e.scratch(8, F, n);
    llm4all_tensor q3 = arch::view(q, hd, hp.n_head, n), k3 = arch::view(k, hd, hp.n_head_kv, n);
    llm4all_tensor att3 = arch::view(att, hd, hp.n_head, n);
    // Per-head norms: one row per (head, token), the [head_dim] weight shared by all.
    llm4all_tensor q_rows = arch::view(q, hd, int64_t(hp.n_head) * n), k_rows = arch::view(k, hd, int64_t(hp.n_head_kv) * n);
    std::vector<int32_t> span;

    e.check(be.get_rows(ctx, w.tok_embd, b.tokens.data(), n, &x), "get_rows");
    e.check(be.scale(ctx, &x, std::sqrt(float(E)), &x), "scale(embeddings)");
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights &L = w.layers[l];
        const int32_t window = layer_window(hp, l);
        const float rope_base = window > 0 ? hp.rope_base_swa : hp.rope_base;
        const float rope_scale = window > 0 ? 1.0f : hp.rope_scale;

        e.check(be.rms_norm(ctx, &x, L.attn_norm, hp.rms_eps, &h), "rms_norm");
        {
            const llm4all_tensor *wqkv[3] = {L.wq, L.wk, L.wv};
            llm4all_tensor *qkv[3] = {&q, &k, &v};
            matmul_shared(e, 3, wqkv, &h, qkv, "mul_mat(q, k, v)");
        }
        e.check(be.rms_norm(ctx, &q_rows, L.attn_q_norm, hp.rms_eps, &q_rows), "rms_norm(q)");
        e.check(be.rms_norm(ctx, &k_rows, L.attn_k_norm, hp.rms_eps, &k_rows), "rms_norm(k)");
        e.check(be.rope(ctx, &q3, b.pos.data(), hp.n_rot, rope_base, rope_scale, hp.rope_mode), "rope(q)");
        e.check(be.rope(ctx, &k3, b.pos.data(), hp.n_rot, rope_base, rope_scale, hp.rope_mode), "rope(k)");
        attend_sequences(e, b, q3, k, v, hp.n_head_kv, window / 2, hp.attn_scale, att3, span);
        matmul(e, L.wo, &att, &o, "mul_mat(o)");
        e.check(be.rms_norm(ctx, &o, L.attn_post_norm, hp.rms_eps, &o), "rms_norm(post attention)");
        e.check(be.add(ctx, &x, &o, &x), "add");

        e.check(be.rms_norm(ctx, &x, L.ffn_norm, hp.rms_eps, &h), "rms_norm");
        {
            const llm4all_tensor *wgu[2] = {L.ffn_gate, L.ffn_up};
            llm4all_tensor *gu[2] = {&g, &u};
            matmul_shared(e, 2, wgu, &h, gu, "mul_mat(gate, up)");
        }
        e.check(be.geglu(ctx, &g, &u, &g), "geglu");
        matmul(e, L.ffn_down, &g, &o, "mul_mat(down)");
        e.check(be.rms_norm(ctx, &o, L.ffn_post_norm, hp.rms_eps, &o), "rms_norm(post ffn)");
        e.check(be.add(ctx, &x, &o, &x), "add");
    }
    e.check(be.rms_norm(ctx, &x, w.output_norm, hp.rms_eps, &h), "rms_norm(output)");
    be.download(ctx, hidden, h.data, size_t(E) * n * sizeof(float));
}

const Arch k_gemma_embedding{k_arch, load_gemma_embedding, nullptr, encode_gemma_embedding};
const ArchRegistrar reg_gemma_embedding(&k_gemma_embedding);

} // namespace
} // namespace llm4all
