// qwen2.cpp — the Qwen2 / Qwen2.5 architecture: a llama-family decoder with
// biases on the q/k/v projections and NeoX-style (half-split) RoPE.
#include "arch/llama.h"

namespace llm4all {
namespace {

void load_qwen2(Model &model) {
    LlamaVariant v;
    v.qkv_bias = true;
    v.rope_mode = LLM4ALL_ROPE_NEOX;
    load_llama_family(model, v);
}

const Arch k_qwen2{"qwen2", load_qwen2, forward_llama_family};
const ArchRegistrar reg_qwen2(&k_qwen2);

} // namespace
} // namespace llm4all
