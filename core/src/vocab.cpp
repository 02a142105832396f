// vocab.cpp — the tokenizer described by a GGUF file's tokenizer.ggml.* keys.
// Follows llama.cpp's behaviour (its test vectors are the reference): special
// token partitioning, SentencePiece-style BPE by score for "llama" vocabularies,
// byte-level BPE by merge rank for "gpt2" ones, and the matching detokenizers.
#include "vocab.h"

#include "error.h"
#include "pretokenize.h"
#include "unicode.h"
#include "wordpiece.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <queue>
#include <set>
#include <string_view>
#include <unordered_map>

namespace llm4all {

namespace {

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

uint32_t attr_of_type(int32_t type) {
    switch (type) {   // tokenizer.ggml.token_type values
    case 1: return ATTR_NORMAL;
    case 2: return ATTR_UNKNOWN;
    case 3: return ATTR_CONTROL;
    case 4: return ATTR_USER_DEFINED;
    case 5: return ATTR_UNUSED;
    case 6: return ATTR_BYTE;
    default: return ATTR_UNDEFINED;
    }
}

enum class VocabType { Spm, Bpe, Wpm };

const std::string k_space_marker = "\xE2\x96\x81";   // U+2581, SentencePiece's visible space

void replace_all(std::string &s, const std::string &from, const std::string &to) {
    std::string out;
    out.reserve(s.size());
    size_t pos = 0;
    for (;;) {
        size_t hit = s.find(from, pos);
        if (hit == std::string::npos) break;
        out.append(s, pos, hit - pos);
        out += to;
        pos = hit + from.size();
    }
    out.append(s, pos, std::string::npos);
    s.swap(out);
}

bool c_isspace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// A piece of the input during special-token partitioning: raw text or a token.
struct Fragment {
    int32_t token;       // -1 for raw text
    size_t off, len;     // raw text span
};

struct Symbol {          // a run of bytes that BPE may still merge
    int prev, next;
    const char *text;
    size_t n;
};

} // namespace

struct Vocab::Impl {
    struct TokenData {
        std::string text;
        float score = 0.0f;
        uint32_t attr = ATTR_NORMAL;
    };

    VocabType type = VocabType::Spm;
    std::string model, pre;
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
    std::vector<std::vector<int32_t>> special_by_byte;  // special_cache ids by first byte
    std::vector<std::string> pieces;                    // token_to_piece(id, true)

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

    void load(const GgufFile &f);
    void load_special_ids(const GgufFile &f);
    void detect_special_tokens();
    void apply_model_attrs(const GgufFile &f);
    std::string make_piece(int32_t id) const;

    void partition(std::string_view text, bool parse_special, std::vector<Fragment> &out) const;
    void tokenize_spm(const std::string &text, std::vector<int32_t> &out) const;
    void tokenize_bpe(std::string_view text, std::vector<int32_t> &out) const;
    void tokenize_wpm(std::string_view text, std::vector<int32_t> &out) const;
    int32_t spm_byte_token(uint8_t b) const;
    int32_t bpe_rank(const char *l, size_t ln, const char *r, size_t rn, std::string &buf) const;
};

void Vocab::Impl::load(const GgufFile &f) {
    model = f.get_string("tokenizer.ggml.model", "");
    pre = f.get_string("tokenizer.ggml.pre", "");
    const std::string where = f.path() + ": ";
    if (model.empty()) fail(LLM4ALL_ERR_BAD_GGUF, where + "missing key tokenizer.ggml.model");

    if (model == "llama") {
        type = VocabType::Spm;
        bos = 1; eos = 2; unk = 0;   // SentencePiece defaults, overridden by the keys below
        add_space_prefix = true;
        add_bos = true;
    } else if (model == "gpt2") {
        type = VocabType::Bpe;
        bos = 11; eos = 11;          // llama.cpp's historical defaults
        clean_spaces = true;
        bool known = true;
        pretok = std::make_unique<PreTokenizer>(pre, known);
        if (pre.empty()) {
            log_message(LLM4ALL_LOG_WARN, where + "no tokenizer.ggml.pre; using the default pre-tokenizer (quality may suffer)");
        } else if (!known) {
            log_message(LLM4ALL_LOG_WARN, where + "unknown pre-tokenizer '" + pre + "'; using the default one");
        }
        static const char *const llama3_like[] = {"llama3", "llama-v3", "llama-bpe", "falcon3"};
        for (const char *p : llama3_like) {
            if (pre == p) { ignore_merges = true; add_bos = true; }
        }
        static const char *const keep_spaces[] = {"deepseek-llm", "deepseek-coder", "deepseek-v3", "command-r", "qwen2",
                                                  "deepseek-r1-qwen", "poro-chat", "viking", "tekken", "smollm", "chameleon"};
        for (const char *p : keep_spaces) {
            if (pre == p) clean_spaces = false;
        }
        if (pre == "tekken") { ignore_merges = true; add_bos = true; }
        if (pre == "chameleon") add_bos = true;
        if (pre == "chatglm-bpe") bos = -1;
    } else if (model == "bert") {
        // WordPiece: [CLS] text [SEP] (BOS = CLS, SEP appended), as llama.cpp does.
        type = VocabType::Wpm;
        bos = 101; unk = 100; sep = 102; pad = 0; mask = 103;
        clean_spaces = true;
        add_bos = true;
    } else {
        fail(LLM4ALL_ERR_UNSUPPORTED, where + "tokenizer model '" + model + "' is not supported (only 'llama', 'gpt2' and 'bert')");
    }
    add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix", add_space_prefix);

    std::vector<std::string> texts = f.get_string_array("tokenizer.ggml.tokens");
    if (texts.empty()) fail(LLM4ALL_ERR_BAD_GGUF, where + "tokenizer.ggml.tokens is empty");
    if (texts.size() > 0x7FFFFFFF) fail(LLM4ALL_ERR_BAD_GGUF, where + "tokenizer.ggml.tokens is too long");
    std::vector<float> scores;
    std::vector<int32_t> types;
    if (f.find("tokenizer.ggml.scores")) {
        scores = f.get_float_array("tokenizer.ggml.scores");
        if (scores.size() != texts.size())
            fail(LLM4ALL_ERR_BAD_GGUF, where + "tokenizer.ggml.scores has " + std::to_string(scores.size()) +
                                           " entries for " + std::to_string(texts.size()) + " tokens");
    }
    if (f.find("tokenizer.ggml.token_type")) {
        types = f.get_int_array("tokenizer.ggml.token_type");
        if (types.size() != texts.size())
            fail(LLM4ALL_ERR_BAD_GGUF, where + "tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                                           " entries for " + std::to_string(texts.size()) + " tokens");
    }
    tokens.resize(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
        TokenData &t = tokens[i];
        t.text = std::move(texts[i]);
        if (t.text.empty()) t.text = "[EMPTY_" + std::to_string(i) + "]";   // as llama.cpp does
        t.score = scores.empty() ? 0.0f : scores[i];
        t.attr = types.empty() ? ATTR_NORMAL : attr_of_type(types[i]);
    }
    size_t cap = 16;
    while (cap < tokens.size() * 2) cap <<= 1;   // load factor <= 1/2: short probe runs
    index.assign(cap, Slot{0, -1});
    index_mask = cap - 1;
    for (size_t i = 0; i < tokens.size(); ++i) {
        // A repeated text maps to its last id, as llama.cpp's map assignment does.
        const std::string_view text = tokens[i].text;
        const size_t h = std::hash<std::string_view>{}(text);
        const uint32_t tag = static_cast<uint32_t>(static_cast<uint64_t>(h) >> 32) | 1u;
        size_t j = h & index_mask;
        while (index[j].id >= 0 && !(index[j].tag == tag && tokens[index[j].id].text == text)) j = (j + 1) & index_mask;
        index[j] = Slot{tag, static_cast<int32_t>(i)};
        max_token_len = std::max(max_token_len, tokens[i].text.size());
    }

    if (type == VocabType::Bpe) {
        if (!f.find("tokenizer.ggml.merges")) fail(LLM4ALL_ERR_BAD_GGUF, where + "missing key tokenizer.ggml.merges");
        std::vector<std::string> merges = f.get_string_array("tokenizer.ggml.merges");
        merge_keys.reserve(merges.size());
        for (std::string &m : merges) {
            // The two parts are separated by the first space after the first byte.
            size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
            if (sp == std::string::npos) {
                merge_keys.emplace_back();   // keeps ranks aligned; never matched
                continue;
            }
            m[sp] = '\0';
            merge_keys.push_back(std::move(m));
        }
        merge_rank.reserve(merge_keys.size());
        for (size_t i = 0; i < merge_keys.size(); ++i) {
            if (!merge_keys[i].empty()) merge_rank.emplace(merge_keys[i], static_cast<int32_t>(i));   // first rank wins
        }
    }

    load_special_ids(f);
    add_bos = f.get_bool("tokenizer.ggml.add_bos_token", add_bos);
    add_eos = f.get_bool("tokenizer.ggml.add_eos_token", add_eos);
    detect_special_tokens();

    for (int32_t id = 0; id < n(); ++id) {
        if (tokens[id].attr & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) special_cache.push_back(id);
    }
    std::stable_sort(special_cache.begin(), special_cache.end(), [&](int32_t a, int32_t b) {
        return tokens[a].text.size() > tokens[b].text.size();
    });
    special_by_byte.assign(256, {});
    for (int32_t id : special_cache) special_by_byte[static_cast<uint8_t>(tokens[id].text[0])].push_back(id);

    pieces.resize(tokens.size());
    for (int32_t id = 0; id < n(); ++id) pieces[id] = make_piece(id);
    apply_model_attrs(f);
}

void Vocab::Impl::load_special_ids(const GgufFile &f) {
    const struct { const char *key; int32_t *id; } keys[] = {
        {"tokenizer.ggml.bos_token_id", &bos}, {"tokenizer.ggml.eos_token_id", &eos},
        {"tokenizer.ggml.eot_token_id", &eot}, {"tokenizer.ggml.eom_token_id", &eom},
        {"tokenizer.ggml.unknown_token_id", &unk}, {"tokenizer.ggml.seperator_token_id", &sep},
        {"tokenizer.ggml.padding_token_id", &pad}, {"tokenizer.ggml.mask_token_id", &mask},
        {"tokenizer.ggml.fim_pre_token_id", &fim_pre}, {"tokenizer.ggml.fim_suf_token_id", &fim_suf},
        {"tokenizer.ggml.fim_mid_token_id", &fim_mid}, {"tokenizer.ggml.fim_pad_token_id", &fim_pad},
        {"tokenizer.ggml.fim_rep_token_id", &fim_rep}, {"tokenizer.ggml.fim_sep_token_id", &fim_sep},
        {"tokenizer.ggml.prefix_token_id", &fim_pre}, {"tokenizer.ggml.suffix_token_id", &fim_suf},
        {"tokenizer.ggml.middle_token_id", &fim_mid},
    };
    for (const auto &k : keys) {
        if (!f.find(k.key)) continue;
        int64_t v = f.get_int(k.key);
        // 0xFFFFFFFF / -1 are how converters write "none"; other out-of-range
        // values are broken files, which we also treat as "none" (with a warning).
        if (v < 0 || v >= n()) {
            if (v != 0xFFFFFFFFll && v != -1)
                log_message(LLM4ALL_LOG_WARN, f.path() + ": " + k.key + " = " + std::to_string(v) +
                                                  " is out of range; treating it as absent");
            *k.id = -1;
        } else {
            *k.id = static_cast<int32_t>(v);
        }
    }
    // Defaults that point past a tiny vocabulary mean nothing.
    for (int32_t *id : {&bos, &eos, &unk, &sep, &pad, &mask}) {
        if (*id >= n()) *id = -1;
    }
}

// Finds end-of-turn, FIM and end-of-generation tokens by their text, the way
// llama.cpp does for files whose converter did not record them, and marks such
// tokens as control tokens.
void Vocab::Impl::detect_special_tokens() {
    auto force_control = [&](int32_t id) {
        if (!(tokens[id].attr & ATTR_CONTROL)) {
            log_message(LLM4ALL_LOG_DEBUG, "token " + std::to_string(id) + " '" + tokens[id].text +
                                               "' looks like a control token; treating it as one");
            tokens[id].attr = ATTR_CONTROL;
        }
    };
    auto detect = [&](int32_t &slot, std::initializer_list<const char *> texts) {
        if (slot != -1) return;
        for (const char *t : texts) {
            int32_t id = find(t);
            if (id >= 0) {
                slot = id;
                force_control(id);
                return;
            }
        }
    };
    detect(eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
                 "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"});
    detect(eom, {"<|eom_id|>"});
    detect(fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>", "<PRE>"});
    detect(fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>", "<SUF>"});
    detect(fim_mid, {"<|fim_middle|>", "<fim-middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>", "<MID>"});
    detect(fim_pad, {"<|fim_pad|>", "<fim-pad>", "<PAD>"});
    detect(fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"});
    detect(fim_sep, {"<|file_sep|>"});

    eog.clear();
    for (int32_t id : {fim_pad, fim_rep, fim_sep}) {
        if (id != -1) eog.insert(id);
    }
    for (const char *t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"}) {
        int32_t id = find(t);
        if (id >= 0) {
            eog.insert(id);
            force_control(id);
        }
    }
    for (int32_t id : {eos, eot, eom}) {
        if (id != -1) eog.insert(id);
    }
}

// Per-model token attributes that GGUF does not store (llama.cpp hard-codes them).
void Vocab::Impl::apply_model_attrs(const GgufFile &f) {
    std::string name = f.get_string("general.name", "");
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    });
    auto set = [&](const char *text, uint32_t attr, bool on) {
        int32_t id = find(text);
        if (id < 0) return;
        if (on) tokens[id].attr |= attr;
        else tokens[id].attr &= ~attr;
    };
    if (pre.find("jina-v2-de") != std::string::npos || pre.find("jina-v2-es") != std::string::npos ||
        pre.find("jina-v2-code") != std::string::npos) {
        set("<mask>", ATTR_LSTRIP, true);
    } else if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
        for (int32_t id : special_cache) tokens[id].attr |= ATTR_RSTRIP;
        set("</s>", ATTR_RSTRIP, true);
        for (const char *t : {"<unk>", "<s>", "<|endoftext|>"}) set(t, ATTR_RSTRIP, false);
    }
}

std::string Vocab::Impl::make_piece(int32_t id) const {
    const TokenData &t = tokens[id];
    if (t.attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) return t.text;
    if (type == VocabType::Spm || type == VocabType::Wpm) {
        if (t.attr & ATTR_NORMAL) {
            std::string s = t.text;
            replace_all(s, k_space_marker, " ");
            return s;
        }
        if ((t.attr & ATTR_BYTE) && t.text.size() >= 6) {
            return std::string(1, static_cast<char>(std::strtol(t.text.substr(3, 2).c_str(), nullptr, 16)));
        }
        return {};
    }
    if (!(t.attr & ATTR_NORMAL)) return {};
    // Byte-level BPE: each code point of the token text stands for one byte.
    std::string out;
    std::vector<uint32_t> cps = utf8_find_invalid(t.text) == std::string_view::npos ? utf8_decode(t.text)
                                                                                   : std::vector<uint32_t>{};
    for (uint32_t cp : cps) {
        int b = gpt2_cp_to_byte(cp);
        if (b >= 0) {
            out += static_cast<char>(b);
        } else {   // llama.cpp's marker for a code point that is not a byte image
            std::string enc;
            utf8_append(enc, cp);
            out += "[UNK_BYTE_0x";
            char hex[4];
            for (unsigned char c : enc) {
                std::snprintf(hex, sizeof hex, "%02x", c);
                out += hex;
            }
            out += t.text + "]";
        }
    }
    return out;
}

// Splits text at the special tokens it contains. Tokens are taken longest
// first over the whole text (not leftmost first), as llama.cpp does. Without
// parse_special only user-defined tokens are split out.
void Vocab::Impl::partition(std::string_view text, bool parse_special, std::vector<Fragment> &out) const {
    out.clear();
    if (text.empty()) return;
    out.push_back({-1, 0, text.size()});
    if (special_cache.empty()) return;

    // Which special tokens occur at all (cheap pre-pass keyed by first byte).
    std::vector<char> present(tokens.size(), 0);
    bool any = false;
    for (size_t p = 0; p < text.size(); ++p) {
        for (int32_t id : special_by_byte[static_cast<uint8_t>(text[p])]) {
            const std::string &s = tokens[id].text;
            if (!present[id] && s.size() <= text.size() - p && std::memcmp(text.data() + p, s.data(), s.size()) == 0) {
                present[id] = 1;
                any = true;
            }
        }
    }
    if (!any) return;

    std::vector<Fragment> next;
    for (int32_t id : special_cache) {
        if (!present[id]) continue;
        const TokenData &tok = tokens[id];
        if (!parse_special && (tok.attr & (ATTR_CONTROL | ATTR_UNKNOWN))) continue;
        const std::string &s = tok.text;
        next.clear();
        for (const Fragment &fr : out) {
            if (fr.token >= 0) {
                next.push_back(fr);
                continue;
            }
            size_t off = fr.off, len = fr.len;
            for (;;) {
                // Search this fragment only (searching on to the end of the
                // text would make many fragments quadratic).
                size_t hit = text.substr(off, len).find(s);
                if (hit != std::string_view::npos) hit += off;
                if (hit == std::string_view::npos) {
                    if (len > 0) next.push_back({-1, off, len});
                    break;
                }
                size_t left_len = hit - off;
                if (tok.attr & ATTR_LSTRIP) {
                    while (left_len > 0 && c_isspace(text[off + left_len - 1])) --left_len;
                }
                if (left_len > 0) next.push_back({-1, off, left_len});
                next.push_back({id, 0, 0});
                size_t r_off = hit + s.size();
                size_t r_len = off + len - r_off;
                if (tok.attr & ATTR_RSTRIP) {
                    while (r_len > 0 && c_isspace(text[r_off])) { ++r_off; --r_len; }
                }
                off = r_off;
                len = r_len;
                if (len == 0) break;
            }
        }
        out.swap(next);
    }
}

int32_t Vocab::Impl::spm_byte_token(uint8_t b) const {
    static const char *hex = "0123456789ABCDEF";
    const char buf[6] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
    int32_t id = find(std::string_view(buf, 6));
    if (id >= 0) return id;
    const char raw = static_cast<char>(b);
    id = find(std::string_view(&raw, 1));
    return id >= 0 ? id : unk;
}

// SentencePiece BPE: start from single characters and repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring token.
void Vocab::Impl::tokenize_spm(const std::string &text, std::vector<int32_t> &out) const {
    std::vector<Symbol> sym;
    sym.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        size_t len = std::min(utf8_len(static_cast<unsigned char>(text[off])), text.size() - off);
        int idx = static_cast<int>(sym.size());
        sym.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, text.data() + off, len});
        off += len;
    }
    struct Bigram {
        int left, right;
        float score;
        size_t size;
    };
    auto worse = [](const Bigram &a, const Bigram &b) {   // max-heap on score, then leftmost
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    auto try_add = [&](int l, int r) {
        if (l == -1 || r == -1) return;
        int32_t id = find(std::string_view(sym[l].text, sym[l].n + sym[r].n));
        if (id < 0) return;
        queue.push({l, r, tokens[id].score, sym[l].n + sym[r].n});
    };
    for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
    while (!queue.empty()) {
        Bigram b = queue.top();
        queue.pop();
        Symbol &l = sym[b.left], &r = sym[b.right];
        if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;   // stale
        l.n += r.n;
        r.n = 0;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = b.left;
        try_add(l.prev, b.left);
        try_add(b.left, l.next);
    }
    if (sym.empty()) return;
    for (int i = 0; i != -1; i = sym[i].next) {
        int32_t id = find(std::string_view(sym[i].text, sym[i].n));
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        // Only single characters can be missing (merges always make tokens):
        // fall back to byte tokens.
        for (size_t j = 0; j < sym[i].n; ++j) {
            int32_t bt = spm_byte_token(static_cast<uint8_t>(sym[i].text[j]));
            if (bt >= 0) out.push_back(bt);
        }
    }
}

int32_t Vocab::Impl::bpe_rank(const char *l, size_t ln, const char *r, size_t rn, std::string &buf) const {
    buf.assign(l, ln);
    buf += '\0';
    buf.append(r, rn);
    auto it = merge_rank.find(buf);
    return it == merge_rank.end() ? -1 : it->second;
}

// Byte-level BPE: pre-tokenize into words, map bytes to GPT-2's printable code
// points, then merge adjacent pairs by lowest merge rank within each word.
void Vocab::Impl::tokenize_bpe(std::string_view text, std::vector<int32_t> &out) const {
    std::vector<uint32_t> cps = utf8_decode(text);
    std::vector<size_t> lens;
    pretok->split(cps, lens);

    struct Bigram {
        int left, right;
        int32_t rank;
        size_t ln, rn;
    };
    auto worse = [](const Bigram &a, const Bigram &b) {   // min-heap on rank, then leftmost
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    };
    std::string word, key, raw;
    std::vector<Symbol> sym;
    std::vector<Bigram> heap;
    // Natural text repeats its words: remember each word's tokens for this call.
    std::unordered_map<std::string, std::vector<int32_t>> seen;
    size_t cp_pos = 0;
    for (size_t wl : lens) {
        raw.clear();
        for (size_t k = 0; k < wl; ++k) utf8_append(raw, cps[cp_pos + k]);
        cp_pos += wl;
        auto hit = seen.find(raw);
        if (hit != seen.end()) {
            out.insert(out.end(), hit->second.begin(), hit->second.end());
            continue;
        }
        const size_t out_start = out.size();
        word.clear();
        for (unsigned char b : raw) utf8_append(word, gpt2_byte_to_cp(b));

        sym.clear();
        if (ignore_merges && find(word) >= 0) {
            sym.push_back({-1, -1, word.data(), word.size()});
        } else {
            for (size_t off = 0; off < word.size();) {
                size_t len = std::min(utf8_len(static_cast<unsigned char>(word[off])), word.size() - off);
                int idx = static_cast<int>(sym.size());
                sym.push_back({idx - 1, off + len == word.size() ? -1 : idx + 1, word.data() + off, len});
                off += len;
            }
        }
        heap.clear();
        auto try_add = [&](int l, int r) {
            if (l == -1 || r == -1) return;
            int32_t rank = bpe_rank(sym[l].text, sym[l].n, sym[r].text, sym[r].n, key);
            if (rank < 0) return;
            heap.push_back({l, r, rank, sym[l].n, sym[r].n});
            std::push_heap(heap.begin(), heap.end(), worse);
        };
        for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), worse);
            Bigram b = heap.back();
            heap.pop_back();
            Symbol &l = sym[b.left], &r = sym[b.right];
            // Symbols only grow, from fixed starts: equal sizes mean equal text.
            if (l.n != b.ln || r.n != b.rn) continue;
            l.n += r.n;
            r.n = 0;
            l.next = r.next;
            if (r.next >= 0) sym[r.next].prev = b.left;
            try_add(l.prev, b.left);
            try_add(b.left, l.next);
        }
        for (const Symbol &s : sym) {
            if (s.n == 0) continue;
            int32_t id = find(std::string_view(s.text, s.n));
            if (id >= 0) {
                out.push_back(id);
                continue;
            }
            // No such token: llama.cpp tries each byte of the mapped text alone.
            for (size_t j = 0; j < s.n; ++j) {
                int32_t bt = find(std::string_view(s.text + j, 1));
                if (bt >= 0) out.push_back(bt);
            }
        }
        if (seen.size() < 65536) seen.emplace(raw, std::vector<int32_t>(out.begin() + out_start, out.end()));
    }
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

Vocab::Vocab(const GgufFile &file) : impl_(new Impl) {
    try {
        impl_->load(file);
    } catch (...) {
        delete impl_;
        throw;
    }
}

Vocab::~Vocab() { delete impl_; }

Vocab::Vocab(Vocab &&other) noexcept : impl_(other.impl_) { other.impl_ = nullptr; }

std::vector<int32_t> Vocab::tokenize(std::string_view text, bool add_special, bool parse_special) const {
    const Impl &v = *impl_;
    size_t bad = utf8_find_invalid(text);
    if (bad != std::string_view::npos)
        fail(LLM4ALL_ERR_BAD_UTF8, "tokenize: the text is not valid UTF-8 (byte offset " + std::to_string(bad) + ")");

    std::vector<Fragment> frags;
    v.partition(text, parse_special, frags);
    std::vector<int32_t> out;
    if (add_special && v.add_bos && v.bos >= 0) out.push_back(v.bos);

    if (v.type == VocabType::Spm) {
        bool prev_special = true;   // the first text fragment gets the dummy prefix space
        for (const Fragment &fr : frags) {
            if (fr.token >= 0) {
                out.push_back(fr.token);
                prev_special = true;
                continue;
            }
            std::string s;
            if (v.add_space_prefix && prev_special) s = " ";
            s.append(text.data() + fr.off, fr.len);
            replace_all(s, " ", k_space_marker);
            v.tokenize_spm(s, out);
            prev_special = false;
        }
    } else if (v.type == VocabType::Wpm) {
        for (const Fragment &fr : frags) {
            if (fr.token >= 0) out.push_back(fr.token);
            else v.tokenize_wpm(text.substr(fr.off, fr.len), out);
        }
        if (add_special && v.sep >= 0) out.push_back(v.sep);
    } else {
        for (const Fragment &fr : frags) {
            if (fr.token >= 0) out.push_back(fr.token);
            else v.tokenize_bpe(text.substr(fr.off, fr.len), out);
        }
    }

    if (add_special && v.add_eos && v.eos >= 0) out.push_back(v.eos);
    if (add_special && v.add_bos && out.size() >= 2 && out[0] == v.bos && out[1] == v.bos)
        log_message(LLM4ALL_LOG_WARN, "tokenize: the text starts with BOS and another BOS was added; the prompt now has two");
    return out;
}

std::string Vocab::token_to_piece(int32_t id, bool render_special) const {
    const Impl &v = *impl_;
    if (id < 0 || id >= v.n())
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "token id " + std::to_string(id) + " is out of range (vocabulary of " +
                                               std::to_string(v.n()) + ")");
    if (!render_special && (v.tokens[id].attr & (ATTR_UNKNOWN | ATTR_CONTROL))) return {};
    return v.pieces[id];
}

std::string Vocab::detokenize(const std::vector<int32_t> &ids, bool render_special) const {
    const Impl &v = *impl_;
    std::string text;
    // SentencePiece's dummy prefix: drop the leading space of the first piece.
    // llama.cpp does this for the very first token only; when BOS starts the
    // list and is not rendered we skip over it, so that text -> tokens (with
    // BOS) -> text gives the text back (as llama-cpp-python does).
    bool remove_space = v.add_space_prefix || v.type == VocabType::Wpm;   // WordPiece: the first word's marker
    size_t first = 0;
    if (!render_special && !ids.empty() && ids[0] == v.bos && v.bos >= 0) {
        first = 1;
        (void)token_to_piece(ids[0], false);   // validates the id
    }
    for (size_t i = first; i < ids.size(); ++i) {
        std::string piece = token_to_piece(ids[i], render_special);
        size_t skip = (remove_space && !piece.empty() && piece[0] == ' ') ? 1 : 0;
        text.append(piece, skip, std::string::npos);
        remove_space = false;
    }
    if (!v.clean_spaces || text.empty()) return text;

    // clean_up_tokenization_spaces, in llama.cpp's three passes.
    std::string a;
    a += text[0];
    for (size_t i = 1; i < text.size(); ++i) {
        char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) a.pop_back();
        a += x;
    }
    std::string b;
    b += a[0];
    bool after_drop = false;   // llama.cpp blanks the dropped space, so it no longer counts as one
    for (size_t i = 1; i < a.size(); ++i) {
        char x = a[i];
        bool prev_space = a[i - 1] == ' ' && !after_drop;
        after_drop = false;
        if (x == '\'' && i + 1 < a.size() && prev_space && a[i + 1] == ' ') {   // " ' " -> "'"
            b.pop_back();
            b += x;
            ++i;   // drop the following space
            after_drop = true;
            continue;
        }
        b += x;
    }
    std::string c;
    c += b[0];
    for (size_t i = 1; i < b.size(); ++i) {
        char x = b[i];
        if (b[i - 1] == ' ' && x == '\'' && i + 1 < b.size()) {
            char x1 = b[i + 1];
            if (x1 == 's' || x1 == 'm') {
                c.pop_back();   // " 's", " 'm"
            } else if (i + 2 < b.size()) {
                char x2 = b[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) c.pop_back();   // " 're", " 've"
            }
        }
        c += x;
    }
    return c;
}

int32_t Vocab::n_tokens() const { return impl_->n(); }
int32_t Vocab::bos() const { return impl_->bos; }
int32_t Vocab::eos() const { return impl_->eos; }
bool Vocab::add_bos() const { return impl_->add_bos && impl_->bos >= 0; }
bool Vocab::add_eos() const { return impl_->add_eos && impl_->eos >= 0; }
bool Vocab::is_eog(int32_t id) const { return id >= 0 && impl_->eog.count(id) > 0; }
bool Vocab::is_control(int32_t id) const {
    return id >= 0 && id < impl_->n() && (impl_->tokens[id].attr & ATTR_CONTROL) != 0;
}

const std::string &Vocab::token_text(int32_t id) const {
    if (id < 0 || id >= impl_->n())
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "token id " + std::to_string(id) + " is out of range");
    return impl_->tokens[id].text;
}

std::string Vocab::model_name() const { return impl_->model; }
std::string Vocab::pre_name() const { return impl_->pre; }

} // namespace llm4all
