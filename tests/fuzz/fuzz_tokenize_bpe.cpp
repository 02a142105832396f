// fuzz_tokenize_bpe.cpp — the tokenizer on hostile text (invalid UTF-8, special-token
// look-alikes, huge runs) with byte-level BPE vocabularies, one per pre-tokenizer:
// GPT-2, DeepSeek Coder and LLM, Falcon, StarCoder, Refact, MPT, GPT-NeoX
// (tokenizer_target.h: modes from the first byte, ids checked to lie in the vocabulary).
#include "tokenizer_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const auto vocabs = fuzz::load_vocabs(
        {"ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-coder.gguf", "ggml-vocab-deepseek-llm.gguf",
         "ggml-vocab-falcon.gguf", "ggml-vocab-starcoder.gguf", "ggml-vocab-refact.gguf", "ggml-vocab-mpt.gguf",
         "ggml-vocab-gpt-neox.gguf"});
    return fuzz::tokenizer_one_input(vocabs, data, size);
}
