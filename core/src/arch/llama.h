// llama.h — the llama-family decoder shared by architectures that differ only
// in details (biases, RoPE style): llama, mistral, qwen2, ...
#pragma once

#include "model.h"
#include "batch.h"
#include "session.h"

namespace llm4all {

struct LlamaVariant {
    bool qkv_bias = false;   // qwen2 adds biases to q, k and v
    int32_t rope_mode = LLM4ALL_ROPE_NORMAL;
};

void load_llama_family(Model &model, const LlamaVariant &variant);
void forward_llama_family(Batch &batch, float *logits);

} // namespace llm4all
