// gemma.h — the Gemma-family decoder shared by Gemma 1, 2 and 3: embeddings
// scaled by sqrt(n_embd), NeoX RoPE, GeGLU, tied output head, and the optional
// pieces later generations add (post-attention/post-FFN norms, per-head q/k
// norms, sliding-window layers, attention and final logit soft-capping).
#pragma once

#include "model.h"
#include "batch.h"
#include "session.h"

namespace llm4all {

struct GemmaVariant {
    bool post_norms = false;  // post_attention_norm / post_ffw_norm (Gemma 2, 3)
    bool qk_norms = false;    // attn_q_norm / attn_k_norm per head (Gemma 3)
};

// Binds the weights; the caller has set the arch-specific hparams. Norm weights
// are used as stored: llama.cpp's converter already folded Gemma's (1 + weight) in.
void load_gemma_family(Model &model, const GemmaVariant &variant);
// Sliding layers follow hp.n_swa / hp.swa_pattern and use hp.rope_base_swa with
// unscaled positions; hp.attn_softcap and hp.final_softcap apply when > 0.
void forward_gemma_family(Batch &batch, float *logits);

} // namespace llm4all
