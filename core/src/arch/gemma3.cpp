// gemma3.cpp — the Gemma 3 architecture (text decoder): embeddings scaled by
// sqrt(n_embd), RMSNorm before and after both attention and FFN, per-head
// RMSNorm of q and k, NeoX RoPE, sliding-window attention on five of every six
// layers (own RoPE base there), GeGLU feed-forward, tied output head. Only the
// settings live here; the forward pass is the Gemma family's (gemma.cpp).
#include <cmath>
#include <string>

#include "arch/gemma.h"
#include "error.h"

namespace llm4all {

namespace {

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
    // Gemma's query scale is query_pre_attn_scalar^-0.5, which GGUF does not carry:
    // it equals head_dim except in the 27B model (62 layers), where it is n_embd / n_head.
    const float q_pre = hp.n_layer == 62 ? float(hp.n_embd / hp.n_head) : float(hp.head_dim);
    hp.attn_scale = 1.0f / std::sqrt(q_pre);

    // The backend ops, value_length and the weights are checked and bound by the
    // shared loader; Gemma 3 has both the per-head q/k norms and the post norms.
    GemmaVariant v;
    v.post_norms = true;
    v.qk_norms = true;
    load_gemma_family(model, v);
}

const Arch k_gemma3{"gemma3", load_gemma3, forward_gemma_family};
const ArchRegistrar reg_gemma3(&k_gemma3);

} // namespace
} // namespace llm4all
