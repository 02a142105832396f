// fuzz_tokenize_spm.cpp — the tokenizer on hostile text (invalid UTF-8, special-token
// look-alikes, huge runs) with the SentencePiece (llama) vocabularies: Llama 2, Phi-3, Baichuan
// (tokenizer_target.h: modes from the first byte, ids checked to lie in the vocabulary).
#include "tokenizer_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const auto vocabs = fuzz::load_vocabs({"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-baichuan.gguf"});
    return fuzz::tokenizer_one_input(vocabs, data, size);
}
