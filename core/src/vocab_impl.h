// vocab_impl.h — the tokenizer's shared state, seen only by the files that
// implement it: vocab.cpp (loading, the public calls, detokenizing),
// vocab_special.cpp (special tokens: attributes, end-of-generation set,
// partitioning), spm.cpp, bpe.cpp and wordpiece.cpp (one per tokenizer kind).
#pragma once

#include "vocab.h"

#include "pretokenize.h"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace llm4all {

// Token attributes, as llama.cpp names them (llama_token_attr). GGUF stores only
// a token type; the strip flags and some types are set at load time.
enum TokenAttr : uint32_t {
    ATTR_UNDEFINED = 1u << 0,
    ATTR_UNKNOWN = 1u << 1,
    ATTR_UNUSED = 1u << 2,
    ATTR_NORMAL = 1u << 3,
    ATTR_CONTROL = 1u << 4,
    ATTR_USER_DEFINED = 1u << 5,
    ATTR_BYTE = 1u << 6,
    ATTR_LSTRIP = 1u << 8,    // eat white space before the token when partitioning
    ATTR_RSTRIP = 1u << 9,    // eat white space after it
};

enum class VocabType { Spm, Bpe, Wpm };

inline const std::string k_space_marker = "\xE2\x96\x81";   // U+2581, SentencePiece's visible space

void replace_all(std::string &s, const std::string &from, const std::string &to);

// A piece of the input during special-token partitioning: raw text or a token.
struct Fragment {
    int32_t token;       // -1 for raw text
    size_t off, len;     // raw text span
};

struct Vocab::Impl {
    struct TokenData {
        std::string text;
        float score = 0.0f;
        uint32_t attr = ATTR_NORMAL;
    };

    VocabType type = VocabType::Spm;
    std::string model, pre, arch, name;   // name: general.name, lower-cased
    std::vector<TokenData> tokens;
    // Token text -> id: open addressing over (hash, id) slots. The SPM and WordPiece
    // tokenizers look up every candidate piece, and a node-based map of a 262k-token
    // vocabulary spends most of their time in cache misses.
    struct Slot {
        uint32_t tag;    // high bits of the hash, to skip most string compares
        int32_t id;      // -1: empty
    };
    std::vector<Slot> index;
    size_t index_mask = 0;
    std::vector<std::string> merge_keys;                       // "left\0right"
    std::unordered_map<std::string_view, int32_t> merge_rank;  // views into merge_keys
    std::unique_ptr<PreTokenizer> pretok;

    int32_t bos = -1, eos = -1, eot = -1, eom = -1, unk = -1, sep = -1, pad = -1, mask = -1;
    int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
    bool add_space_prefix = false, add_bos = false, add_eos = false;
    bool ignore_merges = false, clean_spaces = false;
    size_t max_token_len = 0;                           // bytes; bounds WordPiece's longest-match search
    std::set<int32_t> eog;
    std::vector<int32_t> special_cache;                 // longest text first
    // Positions in special_cache sorted by token text, and the range of those
    // starting with each byte: finds the special tokens a text holds without
    // comparing it with every one (Gemma 3 has 6,000 starting with '<').
    std::vector<uint32_t> special_sorted;
    std::vector<std::pair<uint32_t, uint32_t>> special_by_byte;
    std::vector<std::string> pieces;                    // token_to_piece(id, true)

    // The id of a token text (the last one when a text repeats, as llama.cpp's map keeps); -1 if none.
    int32_t find(std::string_view text) const {
        const size_t h = std::hash<std::string_view>{}(text);
        const uint32_t tag = static_cast<uint32_t>(static_cast<uint64_t>(h) >> 32) | 1u;
        for (size_t i = h & index_mask;; i = (i + 1) & index_mask) {
            const Slot &s = index[i];
            if (s.id < 0) return -1;
            if (s.tag == tag && tokens[s.id].text == text) return s.id;
        }
    }
    int32_t n() const { return static_cast<int32_t>(tokens.size()); }

    // vocab.cpp
    void load(const GgufFile &f);
    void load_special_ids(const GgufFile &f);
    std::string make_piece(int32_t id) const;

    // vocab_special.cpp
    void detect_special_tokens();
    void build_special_cache();
    void apply_model_attrs();
    void partition(std::string_view text, bool parse_special, std::vector<Fragment> &out) const;

    // spm.cpp
    void tokenize_spm(const std::string &text, std::vector<int32_t> &out) const;
    int32_t spm_byte_token(uint8_t b) const;

    // bpe.cpp
    void load_merges(const GgufFile &f);
    void tokenize_bpe(std::string_view text, std::vector<int32_t> &out) const;
    int32_t bpe_rank(const char *l, size_t ln, const char *r, size_t rn, std::string &buf) const;

    // wordpiece.cpp
    void tokenize_wpm(std::string_view text, std::vector<int32_t> &out) const;
};

} // namespace llm4all
