// pretokenize.cpp — hand-written matchers for the pre-tokenizer regexes of the
// byte-level BPE vocabularies (see pretokenize.h). Each matcher follows the
// regex's ECMAScript semantics: ordered alternatives, greedy repeats, leftmost
// match; positions are code point indices.
#include "pretokenize.h"

#include "unicode.h"

#include <algorithm>
#include <cstdint>

namespace llm4all {

namespace {

// deepseek-llm spells out its letters instead of using \p{L}.
struct CpRange { uint32_t lo, hi; };
const CpRange k_deepseek_letters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA},
    {0x1BC, 0x1BF}, {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x376}, {0x377, 0x377},
    {0x37B, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1},
    {0x3A3, 0x3F5}, {0x3F7, 0x481}, {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5},
    {0x13F8, 0x13FD}, {0x1C90, 0x1CBA}, {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A},
    {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE},
    {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4},
    {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D},
    {0x2124, 0x2124}, {0x2126, 0x2126}, {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139},
    {0x213C, 0x213F}, {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2183}, {0x2184, 0x2184}, {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF2}, {0x2CF3, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B},
    {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2},
    {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

bool in_deepseek_letters(uint32_t cp) {
    for (const auto &r : k_deepseek_letters) {
        if (cp >= r.lo && cp <= r.hi) return true;
    }
    return false;
}

bool is_cjk(uint32_t cp) {   // [一-龥ࠀ-一가-퟿]
    return (cp >= 0x0800 && cp <= 0x9FA5) || (cp >= 0xAC00 && cp <= 0xD7FF);
}

bool is_deepseek_punct(uint32_t cp) {   // [!-/:-~！-／：-～‘-‟　-。]
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x7E) ||
           (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF5E) ||
           (cp >= 0x2018 && cp <= 0x201F) || (cp >= 0x3000 && cp <= 0x3002);
}

bool is_poro_stop(uint32_t cp) {   // the set (\s|.,!?…。，、।۔،) of [^...]
    switch (cp) {
    case '(': case ')': case '|': case '.': case ',': case '!': case '?':
    case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
        return true;
    default:
        return unicode_is_space(cp);
    }
}

// One chunk [ini, end) of the code points, with out-of-range reads answering
// "no class" like the end of the regex's subject.
struct Chunk {
    const uint32_t *cp;
    size_t ini, end;
    bool in(size_t p) const { return p >= ini && p < end; }
    uint32_t at(size_t p) const { return in(p) ? cp[p] : 0xFFFFFFFFu; }
    bool space(size_t p) const { return in(p) && unicode_is_space(cp[p]); }
    bool letter(size_t p) const { return in(p) && unicode_cat(cp[p]) == UCat::Letter; }
    bool number(size_t p) const { return in(p) && unicode_cat(cp[p]) == UCat::Number; }
    bool punct(size_t p) const { return in(p) && unicode_cat(cp[p]) == UCat::Punctuation; }
    // [^\s\p{L}\p{N}]
    bool other(size_t p) const {
        if (!in(p)) return false;
        uint8_t f = unicode_flags(cp[p]);
        UCat c = static_cast<UCat>(f & 7);
        return !(f & 8) && c != UCat::Letter && c != UCat::Number;
    }
    // Non-ASCII white space is seen as \v by the explicit-class regexes.
    uint32_t wide(size_t p) const {
        uint32_t c = at(p);
        return (in(p) && c > 0x7F && unicode_is_space(c)) ? 0x0B : c;
    }
};

uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// 's|'t|'re|'ve|'m|'ll|'d (optionally ASCII case-insensitive): match length or 0.
size_t contraction(const Chunk &c, size_t pos, bool icase) {
    if (c.at(pos) != '\'' || !c.in(pos + 1)) return 0;
    uint32_t n1 = icase ? ascii_lower(c.at(pos + 1)) : c.at(pos + 1);
    if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') return 2;
    if (!c.in(pos + 2)) return 0;
    uint32_t n2 = icase ? ascii_lower(c.at(pos + 2)) : c.at(pos + 2);
    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) return 3;
    return 0;
}

// The GPT-2 regex, tried at pos; always matches at least one code point.
size_t match_gpt2(const Chunk &c, size_t pos) {
    if (size_t n = contraction(c, pos, false)) return n;
    size_t q = pos + (c.at(pos) == ' ' ? 1 : 0);   // " ?" then a class
    if (c.letter(q)) { while (c.letter(q)) ++q; return q - pos; }
    if (c.number(q)) { while (c.number(q)) ++q; return q - pos; }
    if (c.other(q)) { while (c.other(q)) ++q; return q - pos; }
    size_t n = 0;
    while (c.space(pos + n)) ++n;
    if (n > 1 && c.in(pos + n)) return n - 1;   // \s+(?!\S): leave one space for the next word
    if (n > 0) return n;
    return 1;
}

size_t match_space_tail(const Chunk &c, size_t pos);

// The Llama 3 regex (max_digits 3) and Qwen2's variant (max_digits 1).
size_t match_llama3(const Chunk &c, size_t pos, size_t max_digits) {
    if (size_t n = contraction(c, pos, true)) return n;
    uint32_t cp = c.at(pos);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (cp != '\r' && cp != '\n' && !c.number(pos) && (c.letter(pos) || c.letter(pos + 1))) {
        size_t q = pos + 1;
        while (c.letter(q)) ++q;
        return q - pos;
    }
    // \p{N}{1,max}
    if (c.number(pos)) {
        size_t q = pos;
        while (c.number(q) && q - pos < max_digits) ++q;
        return q - pos;
    }
    // " ?[^\s\p{L}\p{N}]+[\r\n]*"
    size_t q = pos + (cp == ' ' ? 1 : 0);
    if (c.other(q)) {
        while (c.other(q)) ++q;
        while (c.at(q) == '\r' || c.at(q) == '\n') ++q;
        return q - pos;
    }
    return match_space_tail(c, pos);
}

// \s*[\r\n]+ | \s+(?!\S) | \s+  (and one code point when nothing matches)
size_t match_space_tail(const Chunk &c, size_t pos) {
    size_t n = 0, last_nl = 0;
    while (c.space(pos + n)) {
        uint32_t w = c.at(pos + n);
        if (w == '\r' || w == '\n') last_nl = n + 1;
        ++n;
    }
    if (last_nl > 0) return last_nl;
    if (n > 1 && c.in(pos + n)) return n - 1;
    if (n > 0) return n;
    return 1;
}

// Tekken (Mistral Nemo). Its tokenizer.json splits letters into an upper-case run and a
// lower-case run with \p{Lu}/\p{Ll}; llama.cpp runs it as [^a-z] / [^A-Z] over letters,
// so every non-ASCII letter counts as both. We follow llama.cpp:
//   X?U*L+ | X?U+L* | \p{N} |  ?[^\s\p{L}\p{N}]+[\r\n/]* | \s*[\r\n]+ | \s+(?!\S) | \s+
// with X = [^\r\n\p{L}\p{N}], U = a letter but not a-z, L = a letter but not A-Z.
size_t match_tekken(const Chunk &c, size_t pos) {
    auto up = [&](size_t p) { return c.letter(p) && !(c.cp[p] >= 'a' && c.cp[p] <= 'z'); };
    auto lo = [&](size_t p) { return c.letter(p) && !(c.cp[p] >= 'A' && c.cp[p] <= 'Z'); };
    const uint32_t cp = c.at(pos);
    size_t s = SIZE_MAX;
    if (c.letter(pos)) s = pos;
    else if (c.in(pos) && cp != '\r' && cp != '\n' && !c.number(pos) && c.letter(pos + 1)) s = pos + 1;
    if (s != SIZE_MAX) {   // a letter at s: one of the two letter alternatives matches
        size_t u = s;
        while (up(u)) ++u;
        // U* is greedy and gives back code points until L+ can start (only letters that
        // are both U and L, i.e. non-ASCII ones, can be given back usefully).
        for (size_t k = u + 1; k-- > s;) {
            if (lo(k)) {
                size_t q = k;
                while (lo(q)) ++q;
                return q - pos;
            }
        }
        return u - pos;   // U+L* with L* empty (no L follows)
    }
    if (c.number(pos)) return 1;
    size_t q = pos + (cp == ' ' ? 1 : 0);
    if (c.other(q)) {
        while (c.other(q)) ++q;
        while (c.at(q) == '\r' || c.at(q) == '\n' || c.at(q) == '/') ++q;
        return q - pos;
    }
    return match_space_tail(c, pos);
}

// Classes as llama.cpp's regex runner sees them: ASCII by its fixed tables (where '~'
// is neither \p{P} nor \p{S}), other code points by category, white space first.
bool ds3_ascii_punct(uint32_t x) {   // the explicit [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]
    return (x >= 0x21 && x <= 0x2F) || (x >= 0x3A && x <= 0x40) || (x >= 0x5B && x <= 0x60) || (x >= 0x7B && x <= 0x7E);
}
bool ds3_is(const Chunk &c, size_t p, UCat cat) {
    if (!c.in(p)) return false;
    uint32_t x = c.cp[p];
    if (x < 0x80) {
        switch (cat) {
        case UCat::Letter: return (x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z');
        case UCat::Punctuation:
            return x == '!' || x == '"' || x == '#' || (x >= '%' && x <= '*') || (x >= ',' && x <= '/') || x == ':' ||
                   x == ';' || x == '?' || x == '@' || (x >= '[' && x <= ']') || x == '_' || x == '{' || x == '}';
        case UCat::Symbol: return x == '$' || x == '+' || x == '<' || x == '=' || x == '>' || x == '^' || x == '`' || x == '|';
        default: return false;
        }
    }
    return !unicode_is_space(x) && unicode_cat(x) == cat;
}

// DeepSeek V3's last regex; 0 where it does not match (digits, some controls).
size_t match_deepseek_v3(const Chunk &c, size_t pos) {
    const uint32_t cp = c.at(pos);
    auto ascii_letter = [&](size_t p) {
        uint32_t x = c.at(p);
        return c.in(p) && ((x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z'));
    };
    if (c.in(pos) && ds3_ascii_punct(cp) && ascii_letter(pos + 1)) {
        size_t q = pos + 1;
        while (ascii_letter(q)) ++q;
        return q - pos;
    }
    auto lm = [&](size_t p) { return ds3_is(c, p, UCat::Letter) || ds3_is(c, p, UCat::Mark); };
    auto ps = [&](size_t p) { return ds3_is(c, p, UCat::Punctuation) || ds3_is(c, p, UCat::Symbol); };
    const bool x_class = c.in(pos) && cp != '\r' && cp != '\n' && !ds3_is(c, pos, UCat::Letter) && !ps(pos);
    if (x_class && lm(pos + 1)) {
        size_t q = pos + 1;
        while (lm(q)) ++q;
        return q - pos;
    }
    if (lm(pos)) {
        size_t q = pos;
        while (lm(q)) ++q;
        return q - pos;
    }
    size_t q = pos + (cp == ' ' ? 1 : 0);
    if (ps(q)) {
        while (ps(q)) ++q;
        while (c.at(q) == '\r' || c.at(q) == '\n') ++q;
        return q - pos;
    }
    if (!c.space(pos)) return 0;
    return match_space_tail(c, pos);
}

template <class Pred>
size_t run(const Chunk &c, size_t q, Pred pred) {
    size_t s = q;
    while (c.in(q) && pred(q)) ++q;
    return q - s;
}

// \s?X+ : an optional white space only when X+ follows it.
template <class Pred>
size_t space_then_run(const Chunk &c, size_t pos, Pred pred) {
    if (c.in(pos) && pred(pos)) return run(c, pos, pred);
    if (c.wide(pos) <= 0x20 && c.space(pos) && c.in(pos + 1) && pred(pos + 1)) return 1 + run(c, pos + 1, pred);
    return 0;
}

// A regex that may not match everywhere: matches become pieces and so do the
// stretches of text between them (llama.cpp keeps both).
size_t match_step(PreTokenizer::Step step, const Chunk &c, size_t pos, size_t trail_ws) {
    using S = PreTokenizer::Step;
    switch (step) {
    case S::EachDigit: return c.number(pos) ? 1 : 0;
    case S::DigitRun: return run(c, pos, [&](size_t p) { return c.number(p); });
    case S::ThreeAsciiDigits: {
        for (size_t k = 0; k < 3; ++k) {
            uint32_t d = c.at(pos + k);
            if (d < '0' || d > '9') return 0;
        }
        return 3;
    }
    case S::PunctDefault:
    case S::PunctFalcon: {
        bool falcon = step == S::PunctFalcon;
        return run(c, pos, [&](size_t p) {
            uint32_t x = c.cp[p];
            if (x == '$' || x == '+' || x == '<' || x == '=' || x == '>' || x == '^' || x == '~' || x == '|') return true;
            if (falcon && x == '`') return true;
            return c.punct(p) && !unicode_is_space(x);
        });
    }
    case S::CrOrLf: return (c.at(pos) == '\r' || c.at(pos) == '\n') ? 1 : 0;
    case S::SpaceLetters: return space_then_run(c, pos, [&](size_t p) { return c.letter(p); });
    case S::SpacePunct: return space_then_run(c, pos, [&](size_t p) { return c.punct(p); });
    case S::Cjk: return run(c, pos, [&](size_t p) { return is_cjk(c.wide(p)); });
    case S::DeepseekLetters: return space_then_run(c, pos, [&](size_t p) { return in_deepseek_letters(c.wide(p)); });
    case S::DeepseekPunct: return space_then_run(c, pos, [&](size_t p) { return is_deepseek_punct(c.wide(p)); });
    case S::DigitsUpTo3: {
        size_t q = pos;
        while (c.number(q) && q - pos < 3) ++q;
        return q - pos;
    }
    case S::CjkKana:
        return run(c, pos, [&](size_t p) {
            uint32_t x = c.wide(p);
            return (x >= 0x4E00 && x <= 0x9FA5) || (x >= 0x3040 && x <= 0x30FF);
        });
    case S::DeepseekV3: return match_deepseek_v3(c, pos);
    case S::ChamSentinel: {
        static const char lit[] = "<sentinel:";
        for (size_t k = 0; k < 10; ++k)
            if (c.at(pos + k) != static_cast<uint32_t>(lit[k])) return 0;
        size_t q = pos + 10;
        while (c.at(q) >= '0' && c.at(q) <= '9') ++q;
        return (q > pos + 10 && c.at(q) == '>') ? q + 1 - pos : 0;
    }
    case S::ChamImage: {
        static const char lit[] = "IMGIMG";
        for (size_t k = 0; k < 6; ++k)
            if (c.at(pos + k) != static_cast<uint32_t>(lit[k])) return 0;
        size_t q = pos + 6;
        while (q < pos + 10 && c.at(q) >= 'A' && c.at(q) <= 'I') ++q;   // {1,4}; Z is not in A-I, so no backtracking helps
        return (q > pos + 6 && c.at(q) == 'Z') ? q + 1 - pos : 0;
    }
    case S::ChamSpaces: {
        uint32_t x = c.at(pos);
        if (x == '\t' || x == '\n') return 1;
        if (x != ' ' || c.at(pos + 1) != ' ') return 0;
        return (c.at(pos + 2) == ' ' && c.at(pos + 3) == ' ') ? 4 : 2;
    }
    case S::ChamPunct: {
        uint32_t x = c.at(pos);
        if (!c.in(pos)) return 0;
        if (x < 0x80) return ds3_ascii_punct(x) ? 1 : 0;   // the explicit ASCII ranges cover \p{P} there
        return c.punct(pos) && !unicode_is_space(x) ? 1 : 0;
    }
    case S::TrailingSpace: return pos >= trail_ws && pos < c.end ? c.end - pos : 0;
    case S::Poro: {
        size_t q = pos + (c.at(pos) == ' ' ? 1 : 0);
        size_t n = run(c, q, [&](size_t p) { return !is_poro_stop(c.wide(p)); });
        if (n > 0) return q - pos + n;
        return run(c, pos, [&](size_t p) { return !is_poro_stop(c.wide(p)); });
    }
    default: return 0;
    }
}

} // namespace

PreTokenizer::PreTokenizer(const std::string &pre, bool &known) {
    using S = Step;
    known = true;
    auto is = [&](std::initializer_list<const char *> names) {
        for (const char *n : names) if (pre == n) return true;
        return false;
    };
    if (is({"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"})) {
        steps_ = {S::Llama3};
    } else if (is({"qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"})) {
        steps_ = {S::Qwen2};
    } else if (is({"deepseek-llm"})) {
        steps_ = {S::CrOrLf, S::DeepseekLetters, S::DeepseekPunct, S::TrailingSpace, S::Cjk, S::DigitRun};
    } else if (is({"deepseek-coder"})) {
        steps_ = {S::CrOrLf, S::SpaceLetters, S::SpacePunct, S::Cjk, S::EachDigit};
    } else if (is({"falcon"})) {
        steps_ = {S::PunctFalcon, S::Gpt2, S::ThreeAsciiDigits};
    } else if (is({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"})) {
        steps_ = {S::EachDigit, S::Gpt2};
    } else if (is({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
                   "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais"})) {
        steps_ = {S::Gpt2};
    } else if (is({"poro-chat", "bloom", "gpt3-finnish"})) {
        steps_ = {S::Poro};
    } else if (is({"tekken"})) {
        steps_ = {S::Tekken};
    } else if (is({"chameleon"})) {
        // The last of its regexes is GPT-2's without the final \s+; what that \s+ would
        // take is left unmatched and becomes a piece of its own, the same pieces.
        steps_ = {S::ChamSentinel, S::ChamImage, S::ChamSpaces, S::EachDigit, S::ChamPunct, S::Gpt2};
    } else if (is({"deepseek-v3"})) {
        steps_ = {S::DigitsUpTo3, S::CjkKana, S::DeepseekV3};
    } else if (is({"viking"})) {
        steps_ = {S::Poro, S::EachDigit};
    } else {
        known = pre.empty() || pre == "default";
        steps_ = {S::PunctDefault, S::Gpt2, S::DigitRun, S::ThreeAsciiDigits};
    }
}

void PreTokenizer::split(const std::vector<uint32_t> &cps, std::vector<size_t> &lengths) const {
    std::vector<size_t> cur{cps.size()}, next;
    if (cps.empty()) return;
    for (Step step : steps_) {
        next.clear();
        size_t start = 0;
        for (size_t len : cur) {
            Chunk c{cps.data(), start, start + len};
            if (step == Step::Gpt2 || step == Step::Llama3 || step == Step::Qwen2 || step == Step::Tekken) {
                // These regexes match at every position: no gaps.
                for (size_t pos = c.ini; pos < c.end;) {
                    size_t n = step == Step::Gpt2     ? match_gpt2(c, pos)
                               : step == Step::Tekken ? match_tekken(c, pos)
                                                      : match_llama3(c, pos, step == Step::Llama3 ? 3 : 1);
                    next.push_back(n);
                    pos += n;
                }
            } else {
                size_t trail = c.end;
                while (trail > c.ini && unicode_is_space(cps[trail - 1])) --trail;
                size_t gap = c.ini;
                for (size_t pos = c.ini; pos < c.end;) {
                    size_t n = match_step(step, c, pos, trail);
                    if (n == 0) { ++pos; continue; }
                    if (pos > gap) next.push_back(pos - gap);
                    next.push_back(n);
                    pos += n;
                    gap = pos;
                }
                if (c.end > gap) next.push_back(c.end - gap);
            }
            start += len;
        }
        cur.swap(next);
    }
    lengths.insert(lengths.end(), cur.begin(), cur.end());
}

} // namespace llm4all
