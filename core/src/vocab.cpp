// vocab.cpp — the tokenizer described by a GGUF file's tokenizer.ggml.* keys:
// loading (token table, special ids, per-tokenizer defaults), the public calls
// and the detokenizer. Follows llama.cpp's behaviour (its test vectors are the
// reference); special tokens are in vocab_special.cpp, the tokenizers
// themselves in spm.cpp, bpe.cpp and wordpiece.cpp.
#include "vocab_impl.h"

#include "error.h"
#include "unicode.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace llm4all {

namespace {

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


} // namespace

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

void Vocab::Impl::load(const GgufFile &f) {
    model = f.get_string("tokenizer.ggml.model", "");
    pre = f.get_string("tokenizer.ggml.pre", "");
    arch = f.get_string("general.architecture", "");
    name = f.get_string("general.name", "");
    std::transform(name.begin(), name.end(), name.begin(), [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    });
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
        // llama.cpp's per-pre-tokenizer flags (llama_vocab::impl::load).
        auto is_one_of = [&](std::initializer_list<const char *> names) {
            for (const char *p : names) {
                if (pre == p) return true;
            }
            return false;
        };
        if (is_one_of({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                       "jina-v5-nano", "tekken"})) {
            ignore_merges = true;
            add_bos = true;
        }
        if (is_one_of({"minicpm5", "youtu", "glm4", "glm5", "granite-embed-multi-97m"})) ignore_merges = true;
        if (is_one_of({"chameleon"})) add_bos = true;
        if (is_one_of({"chatglm-bpe", "glm4", "glm5"})) bos = -1;
        if (is_one_of({"deepseek-llm", "deepseek-coder", "deepseek-v3", "spark2_5", "youtu", "sarvam-moe", "command-r",
                       "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "qwen35", "poro-chat", "viking", "tekken",
                       "smollm", "chameleon", "gpt-4o", "llama4", "kanana2", "talkie", "granite-embed-multi-97m",
                       "tiny_aya", "cohere2moe", "superbpe", "trillion", "granite-docling", "bailingmoe",
                       "bailingmoe2", "llada-moe", "seed-coder", "hunyuan", "hunyuan-dense", "hy_v4", "joyai-llm",
                       "kimi-k2", "ufakzeka", "grok-2", "afmoe", "laguna", "minimax-m2", "solar-open"}))
            clean_spaces = false;
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

    if (type == VocabType::Bpe) load_merges(f);

    // The order of llama.cpp's load: special ids, add_bos/add_eos, special
    // tokens by text (which may change types), the special-token cache, the
    // pieces, then the strip attributes.
    load_special_ids(f);
    add_bos = f.get_bool("tokenizer.ggml.add_bos_token", add_bos);
    add_eos = f.get_bool("tokenizer.ggml.add_eos_token", add_eos);
    detect_special_tokens();
    build_special_cache();
    pieces.resize(tokens.size());
    for (int32_t id = 0; id < n(); ++id) pieces[id] = make_piece(id);
    apply_model_attrs();
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
        // A default that points past a tiny vocabulary means nothing.
        if (*k.id >= n()) *k.id = -1;
        if (!f.find(k.key)) continue;
        int64_t v = f.get_int(k.key);
        // An id out of range (0xFFFFFFFF / -1 is how converters write "none")
        // leaves the tokenizer's default in place, as llama.cpp does.
        if (v < 0 || v >= n()) {
            if (v != 0xFFFFFFFFll && v != -1)
                log_message(LLM4ALL_LOG_WARN, f.path() + ": " + k.key + " = " + std::to_string(v) +
                                                  " is out of range; keeping the default (" + std::to_string(*k.id) + ")");
        } else {
            *k.id = static_cast<int32_t>(v);
        }
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
    // What add_special adds, per tokenizer kind as llama.cpp does: WordPiece
    // always wraps the text in [CLS] ... [SEP]; the others follow add_bos/add_eos.
    const bool wpm = v.type == VocabType::Wpm;
    const bool bos_first = add_special && v.bos >= 0 && (wpm || v.add_bos);
    const bool eos_last = add_special && !wpm && v.add_eos && v.eos >= 0;
    std::vector<int32_t> out;
    if (bos_first) out.push_back(v.bos);

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

    if (eos_last) out.push_back(v.eos);
    if (bos_first && out.size() >= 2 && out[1] == v.bos)
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
