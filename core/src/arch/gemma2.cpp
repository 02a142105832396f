// gemma2.cpp — the Gemma 2 architecture: Gemma's decoder plus norms after
// attention and FFN, sliding-window attention on every other layer (even
// layers slide, odd ones are global), and soft-capped attention scores and logits.
#include <cmath>
#include <string>

#include "arch/gemma.h"
#include "error.h"

namespace llm4all {
namespace {

double non_negative(const GgufFile &f, const std::string &key, double fallback) {
    const double v = f.get_float(key, fallback);
    if (!(v >= 0.0) || !std::isfinite(v))
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": " + key + " must be a finite number >= 0");
    return v;
}

void load_gemma2(Model &model) {
    const GgufFile &f = model.file();
    Hparams &hp = model.mutable_hparams();
    hp.rope_mode = LLM4ALL_ROPE_NEOX;
    // Defaults as llama.cpp's for files that lack the keys (every Gemma 2 release uses them).
    const double n_swa = non_negative(f, "gemma2.attention.sliding_window", 4096);
    if (n_swa > double(int64_t(1) << 30))
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": gemma2.attention.sliding_window is impossibly large");
    hp.n_swa = static_cast<int32_t>(n_swa);
    hp.swa_pattern = hp.n_swa > 0 ? 2 : 0;
    hp.rope_base_swa = hp.rope_base;  // one RoPE base for both kinds of layer
    hp.attn_softcap = static_cast<float>(non_negative(f, "gemma2.attn_logit_softcapping", 50.0));
    hp.final_softcap = static_cast<float>(non_negative(f, "gemma2.final_logit_softcapping", 30.0));
    // The query scale is query_pre_attn_scalar^-0.5, which GGUF does not carry: it is
    // head_dim except in the 27B model (46 layers), where it is n_embd / n_head.
    const float q_pre = hp.n_layer == 46 ? float(hp.n_embd / hp.n_head) : float(hp.head_dim);
    hp.attn_scale = 1.0f / std::sqrt(q_pre);
    GemmaVariant v;
    v.post_norms = true;
    load_gemma_family(model, v);
}

const Arch k_gemma2{"gemma2", load_gemma2, forward_gemma_family};
const ArchRegistrar reg_gemma2(&k_gemma2);

} // namespace
} // namespace llm4all
