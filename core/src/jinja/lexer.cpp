// lexer.cpp — jinja2's lexer rules (see lexer.h) written as a hand scanner: no
// regular expressions, one pass, positions kept for error messages.
#include "lexer.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "interp.h"
#include "unicode.h"

namespace llm4all::jinja {

namespace {

[[noreturn]] void lex_fail(uint32_t line, uint32_t col, std::string msg) {
    TemplateError e{std::move(msg)};
    e.line = line;
    e.col = col ? col : 1;
    throw e;
}

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Length of the Python-whitespace code point ending at s[end-1], 0 if none.
size_t trailing_space_len(std::string_view s, size_t end) {
    if (end == 0) return 0;
    unsigned char c = static_cast<unsigned char>(s[end - 1]);
    if (c < 0x80) return (ascii_space(static_cast<char>(c)) || (c >= 0x1c && c <= 0x1f)) ? 1 : 0;
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && end - start < 4) --start;
    auto cps = utf8_decode(s.substr(start, end - start));
    return (cps.size() == 1 && py_isspace(cps[0])) ? end - start : 0;
}
size_t leading_space_len(std::string_view s, size_t pos) {
    if (pos >= s.size()) return 0;
    unsigned char c = static_cast<unsigned char>(s[pos]);
    if (c < 0x80) return (ascii_space(static_cast<char>(c)) || (c >= 0x1c && c <= 0x1f)) ? 1 : 0;
    size_t n = utf8_len(c);
    if (pos + n > s.size()) return 0;
    auto cps = utf8_decode(s.substr(pos, n));
    return (cps.size() == 1 && py_isspace(cps[0])) ? n : 0;
}
std::string_view rstrip_py(std::string_view s) {
    size_t end = s.size(), k;
    while ((k = trailing_space_len(s, end)) > 0) end -= k;
    return s.substr(0, end);
}
bool all_space(std::string_view s) {
    size_t pos = 0, k;
    while (pos < s.size() && (k = leading_space_len(s, pos)) > 0) pos += k;
    return pos == s.size();
}

struct Lexer {
    std::string src;
    std::vector<Token> toks;
    size_t pos = 0;
    uint32_t line = 1;
    size_t line_start = 0;  // offset of the current line's first byte
    bool line_starting = true;

    uint32_t col_of(size_t off) const { return static_cast<uint32_t>(off - line_start + 1); }
    void advance_to(size_t off) {  // moves pos, counting newlines
        for (size_t i = pos; i < off; ++i)
            if (src[i] == '\n') { ++line; line_start = i + 1; }
        pos = off;
    }
    void push(Tok t, size_t off, std::string text) {
        Token k;
        k.type = t;
        // line/col of off: off >= pos is assumed handled by caller via advance_to
        k.line = line;
        k.col = col_of(off);
        k.text = std::move(text);
        toks.push_back(std::move(k));
    }
    void push_data(size_t off, std::string_view text) {
        if (text.empty()) return;
        Token k;
        k.type = Tok::Data;
        k.line = line;
        k.col = col_of(off);
        k.text.assign(text);
        toks.push_back(std::move(k));
    }
    size_t skip_ws_after(size_t p) {  // \s* after a '-' end marker
        size_t k;
        while ((k = leading_space_len(src, p)) > 0) p += k;
        return p;
    }

    // Applies the -/+ and lstrip_blocks rules to text preceding a tag.
    std::string_view strip_before(std::string_view text, char sign, bool is_var) {
        if (sign == '-') return rstrip_py(text);
        if (sign != '+' && !is_var) {
            size_t l_pos = text.rfind('\n');
            l_pos = l_pos == std::string_view::npos ? 0 : l_pos + 1;
            if ((l_pos > 0 || line_starting) && l_pos < text.size() && all_space(text.substr(l_pos)))
                return text.substr(0, l_pos);
        }
        return text;
    }

    void run();
    void lex_tag(bool block);
    bool try_raw(size_t tag_start, size_t after_sign, std::string_view pending);
    void lex_string(size_t p);
    void lex_number(size_t p);
};

void Lexer::run() {
    while (pos < src.size()) {
        size_t start = pos;
        size_t t = std::string::npos;
        for (size_t i = src.find('{', pos); i != std::string::npos; i = src.find('{', i + 1)) {
            if (i + 1 < src.size() && (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#')) { t = i; break; }
        }
        if (t == std::string::npos) {
            push_data(start, std::string_view(src).substr(start));
            advance_to(src.size());
            break;
        }
        char kind = src[t + 1];
        size_t p = t + 2;
        char sign = 0;
        if (p < src.size() && (src[p] == '-' || src[p] == '+')) sign = src[p];
        std::string_view text = std::string_view(src).substr(start, t - start);
        if (kind == '%' && try_raw(t, p + (sign ? 1 : 0), text)) continue;
        std::string_view kept = strip_before(text, sign, kind == '{');
        push_data(start, kept);
        advance_to(t);
        if (sign) ++p;
        if (kind == '#') {
            size_t e = src.find("#}", p);
            if (e == std::string::npos) lex_fail(line, col_of(t), "missing end of comment tag");
            size_t after = e + 2;
            if (e > p && src[e - 1] == '-') after = skip_ws_after(after);
            else if (after < src.size() && src[after] == '\n') ++after;
            line_starting = after > 0 && src[after - 1] == '\n';
            advance_to(after);
            continue;
        }
        push(kind == '%' ? Tok::BlockBegin : Tok::VarBegin, t, "");
        advance_to(p);
        lex_tag(kind == '%');
    }
    Token eof;
    eof.type = Tok::Eof;
    eof.line = line;
    eof.col = col_of(pos);
    toks.push_back(eof);
}

static bool match_word(const std::string &s, size_t &p, const char *w) {
    size_t n = std::strlen(w);
    if (s.compare(p, n, w) != 0) return false;
    size_t q = p + n;
    if (q < s.size() && (std::isalnum(static_cast<unsigned char>(s[q])) || s[q] == '_')) return false;
    p = q;
    return true;
}

// {% raw %}...{% endraw %}: the content is text, untouched except for the
// whitespace rules at both ends.
bool Lexer::try_raw(size_t tag_start, size_t q, std::string_view pending) {
    size_t p = q;
    while (p < src.size() && ascii_space(src[p])) ++p;
    if (!match_word(src, p, "raw")) return false;
    while (p < src.size() && ascii_space(src[p])) ++p;
    bool strip_after = false;
    if (p < src.size() && src[p] == '-') { strip_after = true; ++p; }
    if (src.compare(p, 2, "%}") != 0) return false;
    char sign = src[tag_start + 2] == '-' || src[tag_start + 2] == '+' ? src[tag_start + 2] : 0;
    size_t start_of_pending = tag_start - pending.size();
    push_data(start_of_pending, strip_before(pending, sign, false));
    advance_to(tag_start);
    p += 2;
    if (strip_after) p = skip_ws_after(p);
    line_starting = p > 0 && src[p - 1] == '\n';
    // find {%[-+]?\s*endraw\s*[-+]?%}
    size_t content = p;
    for (size_t i = src.find("{%", p); i != std::string::npos; i = src.find("{%", i + 1)) {
        size_t k = i + 2;
        char esign = 0;
        if (k < src.size() && (src[k] == '-' || src[k] == '+')) esign = src[k++];
        while (k < src.size() && ascii_space(src[k])) ++k;
        if (!match_word(src, k, "endraw")) continue;
        while (k < src.size() && ascii_space(src[k])) ++k;
        char tsign = 0;
        if (k < src.size() && (src[k] == '-' || src[k] == '+')) tsign = src[k++];
        if (src.compare(k, 2, "%}") != 0) continue;
        k += 2;
        advance_to(content);
        std::string_view body = std::string_view(src).substr(content, i - content);
        push_data(content, strip_before(body, esign, false));
        if (tsign == '-') k = skip_ws_after(k);
        else if (tsign != '+' && k < src.size() && src[k] == '\n') ++k;
        line_starting = k > 0 && src[k - 1] == '\n';
        advance_to(k);
        return true;
    }
    lex_fail(line, col_of(tag_start), "missing end of raw directive");
}

void Lexer::lex_tag(bool block) {
    std::vector<char> balance;
    size_t tag_line = line, tag_col = col_of(pos);
    for (;;) {
        for (size_t k; pos < src.size() && (k = leading_space_len(src, pos)) > 0;) advance_to(pos + k);
        if (pos >= src.size())
            lex_fail(static_cast<uint32_t>(tag_line), static_cast<uint32_t>(tag_col), block ? "unexpected end of template: missing '%}'" : "unexpected end of template: missing '}}'");
        size_t p = pos;
        if (balance.empty()) {
            if (block) {
                if (src.compare(p, 3, "-%}") == 0 || src.compare(p, 3, "+%}") == 0 || src.compare(p, 2, "%}") == 0) {
                    push(Tok::BlockEnd, p, "");
                    size_t after;
                    if (src[p] == '-') after = skip_ws_after(p + 3);
                    else if (src[p] == '+') after = p + 3;
                    else {
                        after = p + 2;
                        if (after < src.size() && src[after] == '\n') ++after;
                    }
                    line_starting = after > 0 && src[after - 1] == '\n';
                    advance_to(after);
                    return;
                }
            } else if (src.compare(p, 3, "-}}") == 0 || src.compare(p, 2, "}}") == 0) {
                push(Tok::VarEnd, p, "");
                size_t after = src[p] == '-' ? skip_ws_after(p + 3) : p + 2;
                line_starting = after > 0 && src[after - 1] == '\n';
                advance_to(after);
                return;
            }
        }
        unsigned char c = static_cast<unsigned char>(src[p]);
        if (std::isdigit(c)) { lex_number(p); continue; }
        if (std::isalpha(c) || c == '_' || c >= 0x80) {
            size_t q = p;
            while (q < src.size() && (std::isalnum(static_cast<unsigned char>(src[q])) || src[q] == '_' ||
                                      static_cast<unsigned char>(src[q]) >= 0x80))
                ++q;
            push(Tok::Name, p, src.substr(p, q - p));
            advance_to(q);
            continue;
        }
        if (c == '\'' || c == '"') { lex_string(p); continue; }
        static const char *ops[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
                                    "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
        const char *op = nullptr;
        for (const char *o : ops)
            if (src.compare(p, std::strlen(o), o) == 0) { op = o; break; }
        if (!op) lex_fail(line, col_of(p), std::string("unexpected character '") + static_cast<char>(c) + "'");
        char oc = op[0];
        if (op[1] == 0) {
            if (oc == '(' || oc == '[' || oc == '{') balance.push_back(oc);
            else if (oc == ')' || oc == ']' || oc == '}') {
                char want = oc == ')' ? '(' : oc == ']' ? '[' : '{';
                if (balance.empty() || balance.back() != want)
                    lex_fail(line, col_of(p), std::string("unexpected '") + oc + "'");
                balance.pop_back();
            }
        }
        push(Tok::Op, p, op);
        advance_to(p + std::strlen(op));
    }
}

static void append_utf8(std::string &out, uint32_t cp) { utf8_append(out, cp); }

// \N{NAME} escapes: a small table of the names templates are likely to use (the full
// Unicode name list would be most of a megabyte).
static const struct { const char *name; uint32_t cp; } k_unicode_names[] = {
    {"BULLET", 0x2022},
    {"EM DASH", 0x2014},
    {"EN DASH", 0x2013},
    {"NO-BREAK SPACE", 0xA0},
    {"HORIZONTAL ELLIPSIS", 0x2026},
    {"LEFT DOUBLE QUOTATION MARK", 0x201C},
    {"RIGHT DOUBLE QUOTATION MARK", 0x201D},
    {"LEFT SINGLE QUOTATION MARK", 0x2018},
    {"RIGHT SINGLE QUOTATION MARK", 0x2019},
    {"ZERO WIDTH SPACE", 0x200B},
    {"ZERO WIDTH JOINER", 0x200D},
    {"ZERO WIDTH NON-JOINER", 0x200C},
    {"BYTE ORDER MARK", 0xFEFF},
    {"ZERO WIDTH NO-BREAK SPACE", 0xFEFF},
    {"REPLACEMENT CHARACTER", 0xFFFD},
    {"LINE FEED", 0xA},
    {"CARRIAGE RETURN", 0xD},
    {"CHARACTER TABULATION", 0x9},
    {"SPACE", 0x20},
    {"NULL", 0x0},
    {"ESCAPE", 0x1B},
    {"DEGREE SIGN", 0xB0},
    {"COPYRIGHT SIGN", 0xA9},
    {"REGISTERED SIGN", 0xAE},
    {"TRADE MARK SIGN", 0x2122},
    {"MIDDLE DOT", 0xB7},
    {"RIGHTWARDS ARROW", 0x2192},
    {"LEFTWARDS ARROW", 0x2190},
    {"CHECK MARK", 0x2713},
    {"HEAVY CHECK MARK", 0x2714},
    {"BLACK STAR", 0x2605},
    {"WHITE STAR", 0x2606},
    {"EURO SIGN", 0x20AC},
    {"POUND SIGN", 0xA3},
    {"SECTION SIGN", 0xA7},
    {"PILCROW SIGN", 0xB6},
    {"MULTIPLICATION SIGN", 0xD7},
    {"DIVISION SIGN", 0xF7},
    {"PLUS-MINUS SIGN", 0xB1},
    {"NARROW NO-BREAK SPACE", 0x202F},
    {"IDEOGRAPHIC SPACE", 0x3000},
    {"LINE SEPARATOR", 0x2028},
    {"PARAGRAPH SEPARATOR", 0x2029},
    {"WORD JOINER", 0x2060},
    {"SOFT HYPHEN", 0xAD},
    {"BOX DRAWINGS LIGHT HORIZONTAL", 0x2500},
    {"BLACK CIRCLE", 0x25CF},
    {"WHITE CIRCLE", 0x25CB},
    {"BLACK SQUARE", 0x25A0},
    {"WHITE SQUARE", 0x25A1},
};


void Lexer::lex_string(size_t p) {
    char q = src[p];
    std::string out;
    size_t i = p + 1;
    for (;;) {
        if (i >= src.size()) lex_fail(line, col_of(p), "unterminated string");
        char c = src[i];
        if (c == q) break;
        if (c != '\\') { out += c; ++i; continue; }
        if (i + 1 >= src.size()) lex_fail(line, col_of(p), "unterminated string");
        char e = src[i + 1];
        i += 2;
        auto hex = [&](int n) -> uint32_t {
            if (i + n > src.size()) lex_fail(line, col_of(p), "truncated \\x/\\u escape in string");
            uint32_t v = 0;
            for (int k = 0; k < n; ++k) {
                char h = src[i + k];
                int d = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                        : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                if (d < 0) lex_fail(line, col_of(p), "truncated \\x/\\u escape in string");
                v = v * 16 + static_cast<uint32_t>(d);
            }
            i += n;
            return v;
        };
        switch (e) {
        case '\n': break;  // line continuation
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': append_utf8(out, hex(2)); break;
        case 'u': append_utf8(out, hex(4)); break;
        case 'N': {
            size_t close = src.find('}', i);
            if (i >= src.size() || src[i] != '{' || close == std::string::npos)
                lex_fail(line, col_of(p), "malformed \\N character escape");
            std::string nm = src.substr(i + 1, close - i - 1);
            for (char &ch : nm) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            uint32_t cp = 0;
            for (const auto &e : k_unicode_names)
                if (nm == e.name) cp = e.cp;
            if (!cp && nm != "NULL") lex_fail(line, col_of(p), "unknown Unicode character name '" + nm + "'");
            append_utf8(out, cp);
            i = close + 1;
            break;
        }
        case 'U': {
            uint32_t v = hex(8);
            if (v > 0x10FFFF) lex_fail(line, col_of(p), "illegal Unicode character in string");
            append_utf8(out, v);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                uint32_t v = static_cast<uint32_t>(e - '0');
                for (int k = 0; k < 2 && i < src.size() && src[i] >= '0' && src[i] <= '7'; ++k) v = v * 8 + static_cast<uint32_t>(src[i++] - '0');
                append_utf8(out, v);
            } else {
                out += '\\';
                out += e;
            }
        }
    }
    Token k;
    k.type = Tok::String;
    k.line = line;
    k.col = col_of(p);
    k.text = std::move(out);
    toks.push_back(std::move(k));
    advance_to(i + 1);
}

void Lexer::lex_number(size_t p) {
    size_t i = p;
    std::string digits;
    auto take_digits = [&](auto ok) {
        while (i < src.size() && (ok(src[i]) || (src[i] == '_' && i + 1 < src.size() && ok(src[i + 1])))) {
            if (src[i] != '_') digits += src[i];
            ++i;
        }
    };
    auto dec = [](char c) { return c >= '0' && c <= '9'; };
    Token k;
    k.line = line;
    k.col = col_of(p);
    if (src[i] == '0' && i + 1 < src.size() && std::strchr("bBoOxX", src[i + 1]) && src[i + 1] != 0) {
        char b = static_cast<char>(std::tolower(static_cast<unsigned char>(src[i + 1])));
        int base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
        i += 2;
        if (i < src.size() && src[i] == '_') ++i;
        take_digits([base](char c) {
            return base == 2 ? (c == '0' || c == '1') : base == 8 ? (c >= '0' && c <= '7') : std::isxdigit(static_cast<unsigned char>(c)) != 0;
        });
        errno = 0;
        k.type = Tok::Int;
        if (digits.empty()) lex_fail(line, col_of(p), "invalid integer literal");
        unsigned long long v = std::strtoull(digits.c_str(), nullptr, base);
        k.ival = static_cast<int64_t>(v);
        k.text = src.substr(p, i - p);
        if (errno || v > static_cast<unsigned long long>(INT64_MAX)) { k.base = base; k.text = digits; }
        toks.push_back(std::move(k));
        advance_to(i);
        return;
    }
    take_digits(dec);
    bool is_float = false;
    if (i + 1 < src.size() && src[i] == '.' && dec(src[i + 1])) {
        is_float = true;
        digits += '.';
        ++i;
        take_digits(dec);
    }
    if (i < src.size() && (src[i] == 'e' || src[i] == 'E')) {
        size_t j = i + 1;
        if (j < src.size() && (src[j] == '+' || src[j] == '-')) ++j;
        if (j < src.size() && dec(src[j])) {
            is_float = true;
            digits += 'e';
            digits.append(src, i + 1, j - i - 1);
            i = j;
            take_digits(dec);
        }
    }
    k.text = src.substr(p, i - p);
    if (is_float) {
        k.type = Tok::Float;
        k.fval = std::strtod(digits.c_str(), nullptr);
    } else {
        k.type = Tok::Int;
        errno = 0;
        unsigned long long v = std::strtoull(digits.c_str(), nullptr, 10);
        k.ival = static_cast<int64_t>(v);
        if (errno || v > static_cast<unsigned long long>(INT64_MAX)) { k.base = 10; k.text = digits; }
    }
    toks.push_back(std::move(k));
    advance_to(i);
}

} // namespace

std::vector<Token> lex_template(std::string_view in) {
    Lexer lx;
    lx.src.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\r') {
            lx.src += '\n';
            if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
        } else lx.src += in[i];
    }
    if (!lx.src.empty() && lx.src.back() == '\n') lx.src.pop_back();
    lx.run();
    return std::move(lx.toks);
}

} // namespace llm4all::jinja
