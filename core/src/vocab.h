// vocab.h — the tokenizer: text <-> token ids, as the GGUF file describes it.
// Supports SentencePiece-style ("llama"), byte-level BPE ("gpt2", with the
// pre-tokenizer named by tokenizer.ggml.pre) and WordPiece ("bert") vocabularies.
// Special tokens follow llama.cpp: control tokens are matched in the text only
// with parse_special, user-defined ones always (vocab_special.cpp has the rules).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gguf.h"

namespace llm4all {

class Vocab {
public:
    explicit Vocab(const GgufFile &file);   // throws Error(BAD_GGUF/UNSUPPORTED)
    ~Vocab();
    Vocab(Vocab &&) noexcept;

    // Throws Error(BAD_UTF8) for invalid UTF-8 input.
    std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const;
    // Raw bytes of one token (byte tokens give their byte; may be a partial UTF-8 char).
    std::string token_to_piece(int32_t id, bool render_special) const;
    // Whole text; handles SPM's leading-space removal after BOS.
    std::string detokenize(const std::vector<int32_t> &ids, bool render_special) const;

    int32_t n_tokens() const;
    int32_t bos() const;     // -1 when none
    int32_t eos() const;     // -1 when none
    bool add_bos() const;
    bool add_eos() const;
    bool is_eog(int32_t id) const;     // llama.cpp's end-of-generation set (EOS, EOT, <|im_end|>, </s>, ...)
    bool is_control(int32_t id) const;
    const std::string &token_text(int32_t id) const;
    std::string model_name() const;     // tokenizer.ggml.model: "llama", "gpt2", ...
    std::string pre_name() const;       // tokenizer.ggml.pre (may be empty)

    struct Impl;
private:
    Impl *impl_;
};

} // namespace llm4all
