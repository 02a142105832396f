// wordpiece.cpp — BERT's BasicTokenizer as llama.cpp applies it: each code point
// is reduced to the first code point of its NFD decomposition and lower-cased;
// white space ends a word; punctuation, ASCII symbols and CJK ideographs become
// one-character words; NUL, U+FFFD and control characters are dropped. Then
// WordPiece itself: greedy longest matches within each word.
#include "wordpiece.h"

#include "unicode.h"
#include "vocab_impl.h"

#include <algorithm>

namespace llm4all {

namespace {

// The CJK Unified Ideograph blocks BERT splits (the upper bound of Extension D
// follows Hugging Face's implementation, as llama.cpp does).
bool is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

} // namespace

std::vector<std::string> bert_words(const std::vector<uint32_t> &in) {
    std::vector<std::string> words(1);
    for (uint32_t raw : in) {
        const uint32_t cp = unicode_nfd_first(raw);
        if (unicode_is_space(cp)) {
            if (!words.back().empty()) words.emplace_back();
            continue;
        }
        const UCat cat = unicode_cat(cp);
        if (cp == 0 || cp == 0xFFFD || cat == UCat::Control) continue;
        std::string s;
        utf8_append(s, unicode_tolower(cp));
        if (cat == UCat::Punctuation || (cp < 0x7F && cat == UCat::Symbol) || is_cjk(cp)) {
            if (!words.back().empty()) words.emplace_back();
            words.back() = std::move(s);
            words.emplace_back();
        } else {
            words.back() += s;
        }
    }
    if (words.back().empty()) words.pop_back();
    return words;
}

// WordPiece: each normalised word, with the "▁" word-start marker the GGUF
// converter puts on word-initial pieces, is covered by greedy longest matches
// from the left; a word with any unmatched part becomes UNK as a whole.
void Vocab::Impl::tokenize_wpm(std::string_view text, std::vector<int32_t> &out) const {
    std::string word;
    for (const std::string &w : bert_words(utf8_decode(text))) {
        word = k_space_marker + w;
        const size_t n = word.size(), start = out.size();
        for (size_t i = 0; i < n;) {
            size_t j = std::min(n, i + max_token_len);
            int32_t id = -1;
            for (; j > i; --j) {
                id = find(std::string_view(word).substr(i, j - i));
                if (id >= 0) break;
            }
            if (id < 0) {
                out.resize(start);
                break;
            }
            out.push_back(id);
            i = j;
        }
        if (out.size() == start && unk >= 0) out.push_back(unk);
    }
}

} // namespace llm4all
