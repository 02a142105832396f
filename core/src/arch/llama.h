// llama.h — the llama-family decoder shared by architectures that differ only
// in details (biases, per-head q/k norms, RoPE style): llama, mistral, qwen2, qwen3, ...
#pragma once

#include "model.h"
#include "batch.h"
#include "session.h"

namespace llm4all {

struct LlamaVariant {
    bool qkv_bias = false;   // qwen2 adds biases to q, k and v
    bool qk_norm = false;    // qwen3 RMS-normalises each head of q and k before RoPE
    int32_t rope_mode = LLM4ALL_ROPE_NORMAL;
};

void load_llama_family(Model &model, const LlamaVariant &variant);
void forward_llama_family(Batch &batch, float *logits);

} // namespace llm4all
