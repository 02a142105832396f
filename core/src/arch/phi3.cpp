// phi3.cpp — the Phi-3 architecture (Phi-3/3.5-mini and -medium at 4k context,
// Phi-4): a llama-family decoder whose q/k/v and gate/up projections are fused
// into one matrix each, NeoX RoPE over rope.dimension_count dims, and a sliding
// window on every layer when the file gives one; LongRoPE (the 128k-context models)
// as llama.cpp runs it.
#include <string>

#include "arch/llama.h"
#include "error.h"

namespace llm4all {
namespace {

void load_phi3(Model &model) {
    const GgufFile &f = model.file();
    const std::string path = f.path();
    Hparams &hp = model.mutable_hparams();
    hp.rope_mode = LLM4ALL_ROPE_NEOX;
    // The window applies to every layer, as in transformers (0 = none, as Phi-4 writes it).
    const int64_t n_swa = f.get_int("phi3.attention.sliding_window", 0);
    if (n_swa < 0 || n_swa > (int64_t(1) << 30))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": phi3.attention.sliding_window has an impossible value " +
                                       std::to_string(n_swa));
    hp.n_swa = static_cast<int32_t>(n_swa);
    const llm4all_backend_iface &be = *model.backend().iface;
    if (hp.n_swa > 0 && !be.attention_ext)
        fail(LLM4ALL_ERR_UNSUPPORTED, path + ": backend " + be.name + "-" + be.variant +
                                          " lacks attention_ext, which sliding-window attention needs");

    const int64_t E = hp.n_embd, V = hp.n_vocab, F = hp.n_ff;
    const int64_t Q = int64_t(hp.n_head) * hp.head_dim, KV = int64_t(hp.n_head_kv) * hp.head_dim;
    Weights &w = model.mutable_weights();
    w.tok_embd = model.tensor("token_embd.weight", {E, V});
    w.output_norm = model.tensor("output_norm.weight", {E});
    w.output = model.tensor("output.weight", {E, V}, false);
    if (!w.output) w.output = w.tok_embd;  // tied (Phi-4-mini)
    // LongRoPE: per-dimension frequency divisors for sessions longer than the original
    // context and for the others, and a magnitude for cos and sin (llama.cpp's choice by
    // the session's n_ctx, not by the tokens seen so far, so a sequence never changes).
    w.rope_long = model.tensor("rope_factors_long.weight", {int64_t(hp.n_rot / 2)}, false);
    w.rope_short = model.tensor("rope_factors_short.weight", {int64_t(hp.n_rot / 2)}, false);
    if (!w.rope_long != !w.rope_short)
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": LongRoPE needs both rope_factors_long and rope_factors_short");
    if (w.rope_long) {
        if (w.rope_long->type != LLM4ALL_TYPE_F32 || w.rope_short->type != LLM4ALL_TYPE_F32)
            fail(LLM4ALL_ERR_BAD_GGUF, path + ": rope_factors_long/short must be F32");
        const int64_t orig = f.get_int("phi3.rope.scaling.original_context_length", hp.n_ctx_train);
        const double attn = f.get_float("phi3.rope.scaling.attn_factor", 1.0);
        if (orig <= 0 || orig > (int64_t(1) << 30) || !(attn > 0.0 && attn < 100.0))
            fail(LLM4ALL_ERR_BAD_GGUF, path + ": phi3.rope.scaling original_context_length " + std::to_string(orig) +
                                           " or attn_factor " + std::to_string(attn) + " is impossible");
        hp.n_ctx_orig = static_cast<int32_t>(orig);
        hp.rope_attn_factor = static_cast<float>(attn);
    }
    w.layers.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights &L = w.layers[l];
        L.attn_norm = model.tensor(p + "attn_norm.weight", {E});
        // attn_qkv rows are [q | k | v]; separate matrices are accepted too.
        if (const llm4all_tensor *qkv = model.tensor(p + "attn_qkv.weight", {E, Q + 2 * KV}, false)) {
            L.wq = model.rows(qkv, 0, Q);
            L.wk = model.rows(qkv, Q, KV);
            L.wv = model.rows(qkv, Q + KV, KV);
        } else {
            L.wq = model.tensor(p + "attn_q.weight", {E, Q});
            L.wk = model.tensor(p + "attn_k.weight", {E, KV});
            L.wv = model.tensor(p + "attn_v.weight", {E, KV});
        }
        L.wo = model.tensor(p + "attn_output.weight", {Q, E});
        L.ffn_norm = model.tensor(p + "ffn_norm.weight", {E});
        // ffn_up rows are [gate | up]: silu(first half) * second half.
        const llm4all_tensor *gate_up = model.tensor(p + "ffn_up.weight", {E, 2 * F});
        L.ffn_gate = model.rows(gate_up, 0, F);
        L.ffn_up = model.rows(gate_up, F, F);
        L.ffn_down = model.tensor(p + "ffn_down.weight", {F, E});
    }
}

const Arch k_phi3{"phi3", load_phi3, forward_llama_family};
const ArchRegistrar reg_phi3(&k_phi3);

} // namespace
} // namespace llm4all
