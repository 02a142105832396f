// wordpiece.h — the BERT normaliser and word splitter that WordPiece ("bert")
// vocabularies run before matching: lower-casing, accent stripping, control
// characters dropped, and punctuation and CJK ideographs as words of their own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llm4all {

// Splits already-validated UTF-8 into normalised words (each non-empty).
std::vector<std::string> bert_words(const std::vector<uint32_t> &cps);

} // namespace llm4all
