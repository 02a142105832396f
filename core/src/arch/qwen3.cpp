// qwen3.cpp — the Qwen3 architecture (dense models): Qwen2's decoder without the q/k/v
// biases and with an RMSNorm over each head of q and k before NeoX-style RoPE.
#include "arch/llama.h"

namespace llm4all {
namespace {

void load_qwen3(Model &model) {
    LlamaVariant v;
    v.qk_norm = true;
    v.rope_mode = LLM4ALL_ROPE_NEOX;
    load_llama_family(model, v);
}

const Arch k_qwen3{"qwen3", load_qwen3, forward_llama_family};
const ArchRegistrar reg_qwen3(&k_qwen3);

} // namespace
} // namespace llm4all
