// vocab_special.cpp — special tokens as llama.cpp's llama-vocab.cpp treats them:
// ids found by their text when the converter did not record them, the
// end-of-generation set, the attribute fix-ups done at load time, the cache of
// special tokens (longest first) and the partitioning of text at those tokens.
#include "vocab_impl.h"

#include "error.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>

namespace llm4all {

namespace {

bool c_isspace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// DeepSeek's markers use U+FF5C (fullwidth bar) and U+2581 (SentencePiece space).
#define FW_BAR "\xEF\xBD\x9C"
#define SP_MARK "\xE2\x96\x81"

// Texts that end generation, whatever the file says (llama.cpp, issue 9606).
const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<" FW_BAR "end" SP_MARK "of" SP_MARK "sentence" FW_BAR ">",
    "[e~[",
};

} // namespace

// Fills the end-of-turn, end-of-message and fill-in-the-middle ids the file
// left out from their usual texts, makes such tokens control tokens, and
// builds the end-of-generation set, with llama.cpp's exceptions.
void Vocab::Impl::detect_special_tokens() {
    auto force_control = [&](int32_t id) {
        if (!(tokens[id].attr & ATTR_CONTROL)) {
            log_message(LLM4ALL_LOG_DEBUG, "token " + std::to_string(id) + " '" + tokens[id].text +
                                               "' looks like a control token; treating it as one");
            tokens[id].attr |= ATTR_CONTROL;
        }
    };

    struct Detect {
        int32_t *id;
        std::initializer_list<const char *> texts;
    };
    const Detect slots[] = {
        {&eot, {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
                "_<EOT>", "[EOT]", "<" FW_BAR "end" SP_MARK "of" SP_MARK "sentence" FW_BAR ">", "<end_of_utterance>"}},
        {&eom, {"<|eom_id|>"}},
        {&fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<" FW_BAR "fim" SP_MARK "begin" FW_BAR ">", "<PRE>",
                    SP_MARK "<PRE>", "<|code_prefix|>", "<|prefix|>"}},
        {&fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<" FW_BAR "fim" SP_MARK "hole" FW_BAR ">", "<SUF>",
                    SP_MARK "<SUF>", "<|code_suffix|>", "<|suffix|>"}},
        {&fim_mid, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<" FW_BAR "fim" SP_MARK "end" FW_BAR ">", "<MID>",
                    SP_MARK "<MID>", "<|code_middle|>", "<|middle|>"}},
        {&fim_pad, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
        {&fim_rep, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
        {&fim_sep, {"<|file_sep|>"}},
    };
    const size_t n_slots = sizeof slots / sizeof slots[0];

    // The tokens that could fill a slot the file left empty.
    struct Candidate {
        int32_t id;
        size_t slot;
    };
    std::vector<Candidate> cands;
    bool contested = false;   // two texts present for one slot
    for (size_t s = 0; s < n_slots; ++s) {
        if (*slots[s].id != -1) continue;
        size_t found = 0;
        for (const char *t : slots[s].texts) {
            int32_t id = find(t);
            if (id < 0) continue;
            cands.push_back({id, s});
            ++found;
        }
        contested |= found > 1;
    }
    if (contested) {
        // llama.cpp takes the first candidate in the iteration order of its
        // std::unordered_map<std::string, llama_token> of token texts, filled
        // in id order; the same map here gives the same order (same standard
        // library), so the same token wins.
        std::unordered_map<std::string, int32_t> by_text;
        for (int32_t id = 0; id < n(); ++id) by_text[tokens[id].text] = id;
        std::vector<int32_t> rank(tokens.size(), 0);
        int32_t r = 0;
        for (const auto &kv : by_text) rank[kv.second] = r++;
        std::stable_sort(cands.begin(), cands.end(),
                         [&](const Candidate &a, const Candidate &b) { return rank[a.id] < rank[b.id]; });
    }
    for (const Candidate &c : cands) {
        if (*slots[c.slot].id != -1) continue;
        *slots[c.slot].id = c.id;
        force_control(c.id);
    }

    // Control tokens named "unused..." are placeholders (Gemma's <unusedNN>).
    for (TokenData &t : tokens) {
        if ((t.attr & ATTR_CONTROL) && std::strstr(t.text.c_str(), "unused")) t.attr |= ATTR_UNUSED;
    }

    eog.clear();
    for (int32_t id : {fim_pad, fim_rep, fim_sep}) {
        if (id != -1) eog.insert(id);
    }
    for (const char *t : k_eog_texts) {
        int32_t id = find(t);
        if (id < 0) continue;
        eog.insert(id);
        force_control(id);
    }
    // gpt-oss's channel markers are always rendered (user-defined, not control).
    for (const char *t : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}) {
        int32_t id = find(t);
        if (id >= 0) tokens[id].attr = ATTR_USER_DEFINED;
    }
    for (int32_t id : {eos, eot, eom}) {
        if (id != -1) eog.insert(id);
    }

    // With <|return|> and <|call|> (o200k_harmony), or <|calls|> and <|flush|>
    // (solar-open), <|end|> only ends a message, not the generation.
    bool has_return = false, has_call = false, has_flush = false;
    int32_t end_id = -1;
    for (int32_t id : eog) {
        const std::string &t = tokens[id].text;
        if (t == "<|return|>") has_return = true;
        else if (t == "<|call|>" || t == "<|calls|>") has_call = true;
        else if (t == "<|flush|>") has_flush = true;
        else if (t == "<|end|>") end_id = id;
    }
    if (end_id != -1 && has_call && (has_return || has_flush)) {
        eog.erase(end_id);
        tokens[end_id].attr = ATTR_USER_DEFINED;
    }

    // </s> is ordinary text where <|tool_response> (Gemma 4) or <|plamo:eos|> ends generation.
    bool has_normal_s_marker = false;
    int32_t s_id = -1;
    for (int32_t id : eog) {
        const std::string &t = tokens[id].text;
        if (t == "<|tool_response>" || t == "<|plamo:eos|>") has_normal_s_marker = true;
        else if (t == "</s>") s_id = id;
    }
    if (has_normal_s_marker && s_id != -1) {
        eog.erase(s_id);
        tokens[s_id].attr = ATTR_NORMAL;
    }
}

// The tokens the partitioner looks for: control, user-defined and unknown
// ones, longest text first. std::sort with llama.cpp's comparator over the
// same id-ordered input keeps its order among tokens of equal length too
// (which decides between overlapping matches of equal length).
void Vocab::Impl::build_special_cache() {
    special_cache.clear();
    for (int32_t id = 0; id < n(); ++id) {
        if (tokens[id].attr & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) special_cache.push_back(id);
    }
    std::sort(special_cache.begin(), special_cache.end(),
              [&](int32_t a, int32_t b) { return tokens[a].text.size() > tokens[b].text.size(); });
    special_sorted.resize(special_cache.size());
    for (uint32_t r = 0; r < special_sorted.size(); ++r) special_sorted[r] = r;
    std::sort(special_sorted.begin(), special_sorted.end(), [&](uint32_t a, uint32_t b) {
        const std::string &x = tokens[special_cache[a]].text, &y = tokens[special_cache[b]].text;
        return x != y ? x < y : a < b;
    });
    special_by_byte.assign(256, {0, 0});
    for (uint32_t i = 0; i < special_sorted.size();) {
        const uint8_t b = static_cast<uint8_t>(tokens[special_cache[special_sorted[i]]].text[0]);
        uint32_t j = i;
        while (j < special_sorted.size() && static_cast<uint8_t>(tokens[special_cache[special_sorted[j]]].text[0]) == b) ++j;
        special_by_byte[b] = {i, j};
        i = j;
    }
}

// Per-model strip attributes that GGUF does not store (llama.cpp hard-codes
// them by tokenizer, architecture or model name).
void Vocab::Impl::apply_model_attrs() {
    auto set = [&](const char *text, uint32_t attr, bool on) {
        int32_t id = find(text);
        if (id < 0) return;
        if (on) tokens[id].attr |= attr;
        else tokens[id].attr &= ~attr;
    };
    auto contains_any = [](const std::string &s, std::initializer_list<const char *> parts) {
        for (const char *p : parts) {
            if (s.find(p) != std::string::npos) return true;
        }
        return false;
    };
    if (contains_any(pre, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
        contains_any(arch, {"nomic-bert-moe", "jina-bert-v3"})) {
        set("<mask>", ATTR_LSTRIP, true);
    } else if (contains_any(name, {"phi-3", "phi3"})) {
        for (int32_t id : special_cache) tokens[id].attr |= ATTR_RSTRIP;
        set("</s>", ATTR_RSTRIP, true);
        for (const char *t : {"<unk>", "<s>", "<|endoftext|>"}) set(t, ATTR_RSTRIP, false);
    } else if (contains_any(name, {"modern-bert"})) {
        set("[MASK]", ATTR_LSTRIP, true);
    }
}

// Splits text at the special tokens it contains. Tokens are taken longest
// first over the whole text (not leftmost first), as llama.cpp does. Without
// parse_special, control and unknown tokens stay text; user-defined tokens are
// split out either way (as Hugging Face tokenizers does with added tokens).
void Vocab::Impl::partition(std::string_view text, bool parse_special, std::vector<Fragment> &out) const {
    out.clear();
    if (text.empty()) return;
    out.push_back({-1, 0, text.size()});
    if (special_cache.empty()) return;

    // Which special tokens occur at all: from each byte, walk down the sorted
    // texts that start with it (a prefix sorts before its extensions).
    std::vector<uint32_t> found;   // positions in special_cache
    auto text_of = [&](uint32_t i) -> const std::string & { return tokens[special_cache[special_sorted[i]]].text; };
    for (size_t p = 0; p < text.size(); ++p) {
        auto [lo, hi] = special_by_byte[static_cast<uint8_t>(text[p])];
        for (size_t d = 1; lo < hi; ++d) {
            // Every text in [lo, hi) equals text[p, p + d) in its first d bytes.
            while (lo < hi && text_of(lo).size() == d) found.push_back(special_sorted[lo++]);
            if (lo == hi || p + d >= text.size()) break;
            const char c = text[p + d];
            lo = static_cast<uint32_t>(std::lower_bound(special_sorted.begin() + lo, special_sorted.begin() + hi, c,
                                                        [&](uint32_t i, char v) {
                                                            return static_cast<uint8_t>(tokens[special_cache[i]].text[d]) <
                                                                   static_cast<uint8_t>(v);
                                                        }) - special_sorted.begin());
            hi = static_cast<uint32_t>(std::upper_bound(special_sorted.begin() + lo, special_sorted.begin() + hi, c,
                                                        [&](char v, uint32_t i) {
                                                            return static_cast<uint8_t>(v) <
                                                                   static_cast<uint8_t>(tokens[special_cache[i]].text[d]);
                                                        }) - special_sorted.begin());
        }
    }
    if (found.empty()) return;
    std::sort(found.begin(), found.end());   // special_cache order: longest first
    found.erase(std::unique(found.begin(), found.end()), found.end());

    std::vector<Fragment> next;
    for (uint32_t rank : found) {
        const int32_t id = special_cache[rank];
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

} // namespace llm4all
