// fuzz_tokenize_wpm.cpp — the tokenizer on hostile text (invalid UTF-8, special-token
// look-alikes, huge runs) with the the WordPiece (BERT) vocabulary of bge
// (tokenizer_target.h: modes from the first byte, ids checked to lie in the vocabulary).
#include "tokenizer_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const auto vocabs = fuzz::load_vocabs({"ggml-vocab-bert-bge.gguf"});
    return fuzz::tokenizer_one_input(vocabs, data, size);
}
