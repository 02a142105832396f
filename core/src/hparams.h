// hparams.h — the hyper-parameters every architecture shares, read from a GGUF
// header alone and checked for sense: each count within a plausible range, heads
// that divide, and the keys agreeing with the shapes of the tensors they describe.
// Model loading, `llm4all info` (llm4all_gguf_check_model) and anything that sizes
// memory from a header read them here, so a nonsense file is refused everywhere.
#pragma once

#include <cstdint>
#include <string>

#include "gguf.h"
#include "llm4all/backend.h"

namespace llm4all {

struct Hparams {
    std::string arch;          // general.architecture
    int32_t n_vocab = 0;
    int32_t n_ctx_train = 0;
    int32_t n_embd = 0;
    int32_t n_layer = 0;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    int32_t head_dim = 0;      // n_embd / n_head unless the file says otherwise
    int32_t n_ff = 0;
    int32_t n_rot = 0;         // rotary dimensions per head
    float rms_eps = 1e-5f;
    float rope_base = 10000.0f;
    float rope_scale = 1.0f;   // positions are multiplied by this
    // LongRoPE (phi3): sessions with n_ctx above n_ctx_orig turn by the long factors, the
    // others by the short ones; cos and sin are scaled by rope_attn_factor.
    int32_t n_ctx_orig = 0;
    float rope_attn_factor = 1.0f;
    int32_t rope_mode = LLM4ALL_ROPE_NORMAL;
    // Sliding-window attention (Gemma 3): window length, 0 = none; every
    // swa_pattern-th layer (il % swa_pattern == swa_pattern - 1) stays global.
    int32_t n_swa = 0;
    int32_t swa_pattern = 0;
    float rope_base_swa = 10000.0f;  // RoPE base of the sliding-window layers
    float attn_scale = 0.0f;         // query scale; 0 = 1/sqrt(head_dim)
    float final_softcap = 0.0f;      // logits = c * tanh(logits / c) when > 0
    float attn_softcap = 0.0f;       // scores = c * tanh(scores / c) when > 0 (Gemma 2)
    // Encoders (embedding models, encode.h): how token vectors pool into one (GGUF's
    // pooling_type: 1 mean, 2 CLS, 3 last) and the length of the pooled vector after
    // the dense projections; n_embd_out 0 = not an embedding model.
    int32_t pooling = 0;
    int32_t n_embd_out = 0;
    float norm_eps = 1e-12f;         // LayerNorm epsilon (BERT)
};

// The shared hyper-parameters of the model in f (architecture-specific ones are
// left to the architecture's loader), n_vocab from tokenizer.ggml.tokens. Throws
// Error(BAD_GGUF) naming the key and its value when one is missing, out of range,
// or disagrees with a tensor's shape (token_embd/output rows, attention and FFN
// widths, the number of blk.N layers present). Reads only the header.
Hparams read_hparams(const GgufFile &f);

} // namespace llm4all
