// bert.cpp — the BERT encoder (all-MiniLM-L6-v2, BGE, ...): token + absolute
// position + token-type embeddings and a LayerNorm, then post-norm layers of
// bidirectional attention and a GELU feed-forward, every projection with a bias.
// The pooled, normalised sentence vector is the embedding pipeline's (encode.cpp).
#include <cmath>
#include <string>

#include "arch/encoder.h"
#include "error.h"

namespace llm4all {

using arch::attend_sequences;
using arch::matmul;
using arch::matmul_shared;

namespace {

void load_bert(Model &model) {
    const GgufFile &f = model.file();
    Hparams &hp = model.mutable_hparams();
    arch::require_encoder_ops(model);
    hp.norm_eps = static_cast<float>(f.get_float("bert.attention.layer_norm_epsilon", 1e-12));
    hp.pooling = static_cast<int32_t>(f.get_int("bert.pooling_type", LLM4ALL_POOLING_CLS));
    hp.n_embd_out = hp.n_embd;
    if (f.get_bool("bert.attention.causal", false))
        fail(LLM4ALL_ERR_UNSUPPORTED, f.path() + ": a causal BERT is not supported");
    if (!(hp.norm_eps > 0)) fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": layer_norm_epsilon must be positive");

    const int64_t E = hp.n_embd, V = hp.n_vocab, F = hp.n_ff;
    Weights &w = model.mutable_weights();
    w.tok_embd = model.tensor("token_embd.weight", {E, V});
    w.pos_embd = model.tensor("position_embd.weight", {E, hp.n_ctx_train});
    const GgufTensorInfo *types = f.find_tensor("token_types.weight");
    if (types) w.type_embd = model.tensor("token_types.weight", {E, types->ne[1]});
    w.embd_norm = model.tensor("token_embd_norm.weight", {E});
    w.embd_norm_b = model.tensor("token_embd_norm.bias", {E});
    w.layers.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights &L = w.layers[l];
        L.wq = model.tensor(p + "attn_q.weight", {E, E});
        L.wk = model.tensor(p + "attn_k.weight", {E, E});
        L.wv = model.tensor(p + "attn_v.weight", {E, E});
        L.bq = model.tensor(p + "attn_q.bias", {E});
        L.bk = model.tensor(p + "attn_k.bias", {E});
        L.bv = model.tensor(p + "attn_v.bias", {E});
        L.wo = model.tensor(p + "attn_output.weight", {E, E});
        L.bo = model.tensor(p + "attn_output.bias", {E});
        L.attn_norm = model.tensor(p + "attn_output_norm.weight", {E});
        L.attn_norm_b = model.tensor(p + "attn_output_norm.bias", {E});
        L.ffn_up = model.tensor(p + "ffn_up.weight", {E, F});
        L.b_up = model.tensor(p + "ffn_up.bias", {F});
        L.ffn_down = model.tensor(p + "ffn_down.weight", {F, E});
        L.b_down = model.tensor(p + "ffn_down.bias", {E});
        L.ffn_norm = model.tensor(p + "layer_output_norm.weight", {E});
        L.ffn_norm_b = model.tensor(p + "layer_output_norm.bias", {E});
    }
}

void encode_bert(Encoder &e, const EncodeBatch &b, float *hidden) {
    const Model &model = e.model();
    const Hparams &hp = model.hparams();
    const Weights &w = model.weights();
    const llm4all_backend_iface &be = e.be();
    llm4all_backend_ctx *ctx = e.ctx();
    const int64_t E = hp.n_embd, F = hp.n_ff, hd = hp.head_dim;
    const int32_t n = b.n_tokens();
    for (const EncodeBatch::Seq &s : b.seqs)
        if (s.n > hp.n_ctx_train)
            fail(LLM4ALL_ERR_CONTEXT_FULL, "a sequence of " + std::to_string(s.n) + " tokens exceeds BERT's " +
                                               std::to_string(hp.n_ctx_train) + " positions");

    llm4all_tensor x = e.scratch(0, E, n), t = e.scratch(1, E, n);   // residual stream, scratch [E, n]
    llm4all_tensor q = e.scratch(2, E, n), k = e.scratch(3, E, n), v = e.scratch(4, E, n);
    llm4all_tensor att = e.scratch(5, E, n), u = e.scratch(6, F, n);   // [E, n], [F, n]
    const llm4all_tensor q3 = arch::view(q, hd, hp.n_head, n);
    llm4all_tensor att3 = arch::view(att, hd, hp.n_head, n);
    std::vector<int32_t> span;

    e.check(be.get_rows(ctx, w.tok_embd, b.tokens.data(), n, &x), "get_rows(tokens)");
    e.check(be.get_rows(ctx, w.pos_embd, b.pos.data(), n, &t), "get_rows(positions)");
    e.check(be.add(ctx, &x, &t, &x), "add(positions)");
    if (w.type_embd) {   // every token has type 0: add row 0 to all
        const int32_t zero = 0;
        llm4all_tensor row = e.scratch(7, E, 1);
        e.check(be.get_rows(ctx, w.type_embd, &zero, 1, &row), "get_rows(token type)");
        e.check(be.add(ctx, &x, &row, &x), "add(token type)");
    }
    e.check(be.layer_norm(ctx, &x, w.embd_norm, w.embd_norm_b, hp.norm_eps, &x), "layer_norm(embeddings)");
    const float scale = 1.0f / std::sqrt(float(hd));

    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const LayerWeights &L = w.layers[l];
        {
            const llm4all_tensor *wqkv[3] = {L.wq, L.wk, L.wv};
            llm4all_tensor *qkv[3] = {&q, &k, &v};
            matmul_shared(e, 3, wqkv, &x, qkv, "mul_mat(q, k, v)");
        }
        e.check(be.add(ctx, &q, L.bq, &q), "add(bq)");
        e.check(be.add(ctx, &k, L.bk, &k), "add(bk)");
        e.check(be.add(ctx, &v, L.bv, &v), "add(bv)");
        attend_sequences(e, b, q3, k, v, hp.n_head_kv, 0, scale, att3, span);
        matmul(e, L.wo, &att, &t, "mul_mat(o)");
        e.check(be.add(ctx, &t, L.bo, &t), "add(bo)");
        e.check(be.add(ctx, &x, &t, &x), "add(residual)");
        e.check(be.layer_norm(ctx, &x, L.attn_norm, L.attn_norm_b, hp.norm_eps, &x), "layer_norm(attention)");

        matmul(e, L.ffn_up, &x, &u, "mul_mat(up)");
        e.check(be.add(ctx, &u, L.b_up, &u), "add(b_up)");
        e.check(be.gelu(ctx, &u, &u), "gelu");
        matmul(e, L.ffn_down, &u, &t, "mul_mat(down)");
        e.check(be.add(ctx, &t, L.b_down, &t), "add(b_down)");
        e.check(be.add(ctx, &x, &t, &x), "add(residual)");
        e.check(be.layer_norm(ctx, &x, L.ffn_norm, L.ffn_norm_b, hp.norm_eps, &x), "layer_norm(ffn)");
    }
    be.download(ctx, hidden, x.data, size_t(E) * n * sizeof(float));
}

const Arch k_bert{"bert", load_bert, nullptr, encode_bert};
const ArchRegistrar reg_bert(&k_bert);

} // namespace
} // namespace llm4all
