// methods.cpp — the methods of str, list and dict values that templates call
// (message.content.strip(), text.split('\n'), tool.get('x'), d.items() ...),
// with Python's semantics. Methods that mutate (append, update, pop ...) do not
// exist here: the immutable sandbox refuses them (see is_mutating_method).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "bigint.h"
#include "interp.h"
#include "unicode.h"

namespace llm4all::jinja {

namespace {

const char *const k_str_methods[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
    "title", "capitalize", "swapcase", "casefold", "replace", "find", "rfind", "index", "rindex", "count", "join",
    "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "istitle", "isnumeric", "isdecimal",
    "center", "ljust", "rjust", "zfill", "partition", "rpartition", "removeprefix", "removesuffix", "format",
    "expandtabs", "isidentifier", "isascii", "isprintable"};
const char *const k_list_methods[] = {"count", "index", "copy"};
const char *const k_dict_methods[] = {"keys", "values", "items", "get", "copy"};
const char *const k_list_mutating[] = {"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse"};
const char *const k_dict_mutating[] = {"clear", "pop", "popitem", "setdefault", "update", "fromkeys"};

template <size_t N>
bool in_table(const char *const (&t)[N], std::string_view name) {
    for (const char *m : t)
        if (name == m) return true;
    return false;
}

struct BoundMethod : CallableObj {
    Value self;
    Value call(Interp &in, CallArgs &args) override {
        Value r;
        if (!call_method(in, self, name, args, r)) throw_error("'" + type_name(self) + "' object has no attribute '" + name + "'");
        return r;
    }
};

std::string arg_str(const CallArgs &a, size_t i, const char *name, const char *what) {
    const Value *v = a.get(i, name);
    if (!v || !v->is_string()) throw_error(std::string(what) + " argument must be str");
    return v->str();
}

bool is_space_str(const std::u32string &u) {
    for (char32_t c : u)
        if (!py_isspace(c)) return false;
    return !u.empty();
}

bool is_cased_upper(uint32_t c) { return py_lower(c) != c; }
bool is_cased_lower(uint32_t c) { return py_upper(c) != c; }
bool is_alpha(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return unicode_cat(c) == UCat::Letter;
}
bool is_digit(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return unicode_cat(c) == UCat::Number;
}

std::string strip_impl(const std::string &s, const Value *chars, bool left, bool right) {
    std::u32string u = to_u32(s);
    std::u32string set;
    bool ws = !chars || chars->is_none();
    if (!ws) {
        if (!chars->is_string()) throw_error("strip arg must be None or str");
        set = to_u32(chars->str());
    }
    auto strip_it = [&](char32_t c) { return ws ? py_isspace(c) : set.find(c) != std::u32string::npos; };
    size_t b = 0, e = u.size();
    if (left) while (b < e && strip_it(u[b])) ++b;
    if (right) while (e > b && strip_it(u[e - 1])) --e;
    return from_u32(std::u32string_view(u).substr(b, e - b));
}

std::vector<std::string> split_ws(Interp &in, const std::string &s, int64_t maxsplit, bool from_right) {
    std::u32string u = to_u32(s);
    std::vector<std::string> parts;
    if (!from_right) {
        size_t i = 0, n = u.size();
        while (true) {
            while (i < n && py_isspace(u[i])) ++i;
            if (i >= n) break;
            if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
                size_t e = n;
                while (e > i && py_isspace(u[e - 1])) --e;
                parts.push_back(from_u32(std::u32string_view(u).substr(i, e - i)));
                break;
            }
            size_t j = i;
            while (j < n && !py_isspace(u[j])) ++j;
            in.charge(128);
            parts.push_back(from_u32(std::u32string_view(u).substr(i, j - i)));
            i = j;
        }
        return parts;
    }
    int64_t e = static_cast<int64_t>(u.size());
    while (true) {
        while (e > 0 && py_isspace(u[static_cast<size_t>(e - 1)])) --e;
        if (e <= 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) {
            size_t b = 0;
            while (b < static_cast<size_t>(e) && py_isspace(u[b])) ++b;
            parts.push_back(from_u32(std::u32string_view(u).substr(b, static_cast<size_t>(e) - b)));
            break;
        }
        int64_t b = e;
        while (b > 0 && !py_isspace(u[static_cast<size_t>(b - 1)])) --b;
        parts.push_back(from_u32(std::u32string_view(u).substr(static_cast<size_t>(b), static_cast<size_t>(e - b))));
        e = b;
    }
    std::reverse(parts.begin(), parts.end());
    return parts;
}

std::vector<std::string> split_sep(Interp &in, const std::string &s, const std::string &sep, int64_t maxsplit, bool from_right) {
    if (sep.empty()) throw_error("empty separator");
    std::vector<std::string> parts;
    if (!from_right) {
        size_t start = 0;
        while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
            size_t p = s.find(sep, start);
            if (p == std::string::npos) break;
            in.charge(128);  // each piece becomes a string value
            parts.push_back(s.substr(start, p - start));
            start = p + sep.size();
        }
        parts.push_back(s.substr(start));
        return parts;
    }
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
        if (end < sep.size()) break;
        size_t p = s.rfind(sep, end - sep.size());
        if (p == std::string::npos) break;
        in.charge(128);
        parts.push_back(s.substr(p + sep.size(), end - p - sep.size()));
        end = p;
    }
    parts.push_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
    return parts;
}

bool is_linebreak(char32_t c) {
    return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85 ||
           c == 0x2028 || c == 0x2029;
}

Value list_of_strings(Interp &in, std::vector<std::string> parts) {
    std::vector<Value> items;
    items.reserve(parts.size());
    for (auto &p : parts) items.push_back(in.make_string(std::move(p)));
    return in.make_list(std::move(items));
}

// Python's index arithmetic for find/count/startswith start/end arguments (code points).
void bounds(const CallArgs &a, size_t first, size_t len, size_t &b, size_t &e) {
    auto idx = [&](size_t i, size_t dflt) -> size_t {
        if (i >= a.pos.size() || a.pos[i].is_none()) return dflt;
        if (!a.pos[i].is_integral()) throw_error("slice indices must be integers or None");
        int64_t x = a.pos[i].as_int(), n = static_cast<int64_t>(len);
        if (x < 0) x = std::max<int64_t>(0, x + n);
        return static_cast<size_t>(std::min(x, n));
    };
    b = idx(first, 0);
    e = idx(first + 1, len);
}

// Python's full case mappings where they differ from the simple ones (SpecialCasing.txt).
const char *special_upper(uint32_t cp) {
    switch (cp) {
    case 0xDF: return "SS";
    case 0xFB00: return "FF";
    case 0xFB01: return "FI";
    case 0xFB02: return "FL";
    case 0xFB03: return "FFI";
    case 0xFB04: return "FFL";
    case 0xFB05: case 0xFB06: return "ST";
    case 0x149: return "\u02BCN";
    case 0x1F0: return "J\u030C";
    case 0x587: return "\u0535\u0552";
    case 0x1E96: return "H\u0331";
    case 0x1E97: return "T\u0308";
    case 0x1E98: return "W\u030A";
    case 0x1E99: return "Y\u030A";
    case 0x1E9A: return "A\u02BE";
    case 0x390: return "\u0399\u0308\u0301";
    case 0x3B0: return "\u03A5\u0308\u0301";
    default: return nullptr;
    }
}

bool cased_cp(uint32_t c) { return py_lower(c) != c || py_upper(c) != c; }

std::string case_map(const std::string &s, int mode) {  // 0 lower, 1 upper, 2 swap
    std::string out;
    out.reserve(s.size());
    bool ascii = true;
    for (unsigned char c : s)
        if (c >= 0x80) { ascii = false; break; }
    if (!ascii) {
        std::u32string u = to_u32(s);
        for (size_t i = 0; i < u.size(); ++i) {
            uint32_t cp = u[i];
            bool to_lower = mode == 0 || (mode == 2 && py_lower(cp) != cp);
            if (to_lower) {
                if (cp == 0x130) { out += "i\u0307"; continue; }
                if (cp == 0x3A3) {  // final sigma: after a cased letter and not before one
                    size_t b = i;
                    bool before = false, after = false;
                    while (b > 0) { --b; if (cased_cp(u[b])) { before = true; break; } if (unicode_cat(u[b]) != UCat::Mark) break; }
                    for (size_t a = i + 1; a < u.size(); ++a) { if (cased_cp(u[a])) { after = true; break; } if (unicode_cat(u[a]) != UCat::Mark) break; }
                    utf8_append(out, before && !after ? 0x3C2 : 0x3C3);
                    continue;
                }
                utf8_append(out, py_lower(cp));
            } else if (mode != 0 && (mode == 1 || py_upper(cp) != cp)) {
                if (const char *sp = special_upper(cp)) out += sp;
                else utf8_append(out, py_upper(cp));
            } else utf8_append(out, cp);
        }
        return out;
    }
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            char32_t m = mode == 0 ? py_lower(c) : mode == 1 ? py_upper(c) : (py_lower(c) != c ? py_lower(c) : py_upper(c));
            out += static_cast<char>(m);
            ++i;
            continue;
        }
        size_t n = std::min(utf8_len(c), s.size() - i);
        std::u32string u = to_u32(s.substr(i, n));
        for (char32_t cp : u) {
            uint32_t m = mode == 0 ? py_lower(cp) : mode == 1 ? py_upper(cp) : (py_lower(cp) != cp ? py_lower(cp) : py_upper(cp));
            if (mode == 1 && cp == 0xDF) out += "SS";
            else utf8_append(out, m);
        }
        i += n;
    }
    return out;
}

std::string title_case(const std::string &s) {
    std::u32string u = to_u32(s), r;
    bool prev_cased = false;
    for (char32_t c : u) {
        bool cased = is_cased_upper(c) || is_cased_lower(c);
        r += prev_cased ? static_cast<char32_t>(py_lower(c)) : static_cast<char32_t>(py_upper(c));
        prev_cased = cased;
    }
    return from_u32(r);
}

Value str_format(Interp &in, const std::string &fmt, CallArgs &a, int depth = 0);

Value str_method(Interp &in, const Value &self, std::string_view m, CallArgs &a) {
    const std::string &s = self.str();
    if (m == "strip" || m == "lstrip" || m == "rstrip")
        return in.make_string(strip_impl(s, a.get(0, "chars"), m != "rstrip", m != "lstrip"));
    if (m == "split" || m == "rsplit") {
        const Value *sep = a.get(0, "sep");
        const Value *mx = a.get(1, "maxsplit");
        int64_t maxsplit = mx && mx->is_integral() ? mx->as_int() : -1;
        in.steps_add(s.size() / 64);
        if (!sep || sep->is_none()) return list_of_strings(in, split_ws(in, s, maxsplit, m == "rsplit"));
        if (!sep->is_string()) throw_error("must be str or None, not " + type_name(*sep));
        return list_of_strings(in, split_sep(in, s, sep->str(), maxsplit, m == "rsplit"));
    }
    if (m == "splitlines") {
        const Value *ke = a.get(0, "keepends");
        bool keep = ke && ke->truthy();
        std::u32string u = to_u32(s);
        std::vector<std::string> parts;
        size_t i = 0;
        while (i < u.size()) {
            size_t j = i;
            while (j < u.size() && !is_linebreak(u[j])) ++j;
            size_t eol = j;
            if (j < u.size()) {
                if (u[j] == '\r' && j + 1 < u.size() && u[j + 1] == '\n') j += 2;
                else ++j;
            }
            parts.push_back(from_u32(std::u32string_view(u).substr(i, (keep ? j : eol) - i)));
            i = j;
        }
        return list_of_strings(in, std::move(parts));
    }
    if (m == "startswith" || m == "endswith") {
        const Value *p = a.get(0, "prefix");
        if (!p) throw_error(std::string(m) + "() takes at least 1 argument");
        std::vector<std::string> cands;
        if (p->is_string()) cands.push_back(p->str());
        else if (p->is_tuple()) {
            for (const Value &v : p->list_obj().items) {
                if (!v.is_string()) throw_error("tuple for " + std::string(m) + " must only contain str");
                cands.push_back(v.str());
            }
        } else throw_error(std::string(m) + " first arg must be str or a tuple of str, not " + type_name(*p));
        std::string sub = s;
        if (a.pos.size() > 1) {
            std::u32string u = to_u32(s);
            size_t b, e;
            bounds(a, 1, u.size(), b, e);
            sub = b <= e ? from_u32(std::u32string_view(u).substr(b, e - b)) : std::string();
            if (b > u.size()) return Value::boolean(false);
        }
        for (const auto &c : cands) {
            if (c.size() > sub.size()) continue;
            if (m == "startswith" ? sub.compare(0, c.size(), c) == 0 : sub.compare(sub.size() - c.size(), c.size(), c) == 0)
                return Value::boolean(true);
        }
        return Value::boolean(false);
    }
    if (m == "upper") return in.make_string(case_map(s, 1));
    if (m == "lower" || m == "casefold") return in.make_string(case_map(s, 0));
    if (m == "swapcase") return in.make_string(case_map(s, 2));
    if (m == "title") return in.make_string(title_case(s));
    if (m == "capitalize") {
        std::u32string u = to_u32(s);
        for (size_t k = 0; k < u.size(); ++k) u[k] = k == 0 ? py_upper(u[k]) : py_lower(u[k]);
        return in.make_string(from_u32(u));
    }
    if (m == "replace") {
        std::string old = arg_str(a, 0, "old", "replace() first"), nw = arg_str(a, 1, "new", "replace() second");
        const Value *cnt = a.get(2, "count");
        int64_t count = cnt && cnt->is_integral() ? cnt->as_int() : -1;
        std::string out;
        if (old.empty()) {
            std::u32string u = to_u32(s);
            int64_t done = 0;
            for (size_t k = 0; k <= u.size(); ++k) {
                if (count < 0 || done < count) { out += nw; ++done; }
                if (k < u.size()) out += from_u32(u.substr(k, 1));
                if (out.size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
            }
            return in.make_string(std::move(out));
        }
        size_t start = 0;
        int64_t done = 0;
        for (;;) {
            size_t p = (count >= 0 && done >= count) ? std::string::npos : s.find(old, start);
            if (p == std::string::npos) break;
            out.append(s, start, p - start);
            out += nw;
            if (out.size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
            start = p + old.size();
            ++done;
        }
        out.append(s, start, std::string::npos);
        return in.make_string(std::move(out));
    }
    if (m == "find" || m == "rfind" || m == "index" || m == "rindex" || m == "count") {
        std::string sub = arg_str(a, 0, "sub", "must be str:");
        std::u32string u = to_u32(s), su = to_u32(sub);
        size_t b, e;
        bounds(a, 1, u.size(), b, e);
        if (m == "count") {
            if (b > e) return Value::integer(0);
            if (su.empty()) return Value::integer(static_cast<int64_t>(e - b + 1));
            int64_t n = 0;
            for (size_t p = b; p + su.size() <= e;) {
                if (u.compare(p, su.size(), su) == 0) { ++n; p += su.size(); }
                else ++p;
            }
            return Value::integer(n);
        }
        int64_t found = -1;
        if (b <= e && su.size() <= e - b) {
            if (m == "find" || m == "index") {
                for (size_t p = b; p + su.size() <= e; ++p)
                    if (u.compare(p, su.size(), su) == 0) { found = static_cast<int64_t>(p); break; }
            } else {
                for (size_t p = e - su.size() + 1; p-- > b;)
                    if (u.compare(p, su.size(), su) == 0) { found = static_cast<int64_t>(p); break; }
            }
        }
        if (found < 0 && (m == "index" || m == "rindex")) throw_error("substring not found");
        return Value::integer(found);
    }
    if (m == "join") {
        const Value *it = a.get(0, "iterable");
        if (!it) throw_error("join() takes exactly one argument");
        std::string out;
        bool first = true;
        for (const Value &v : in.iterate(*it)) {
            if (!v.is_string()) throw_error("sequence item: expected str instance, " + type_name(v) + " found");
            if (!first) out += s;
            first = false;
            out += v.str();
            if (out.size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
        }
        return in.make_string(std::move(out));
    }
    if (m == "isdigit" || m == "isalpha" || m == "isalnum" || m == "isspace" || m == "isnumeric" || m == "isdecimal" ||
        m == "isupper" || m == "islower" || m == "istitle" || m == "isascii" || m == "isidentifier" || m == "isprintable") {
        std::u32string u = to_u32(s);
        if (m == "isascii") return Value::boolean(self.str_obj()->is_ascii());
        if (m == "isspace") return Value::boolean(is_space_str(u));
        if (m == "isupper" || m == "islower") {
            bool cased = false;
            for (char32_t c : u) {
                if (is_cased_upper(c)) { cased = true; if (m == "islower") return Value::boolean(false); }
                else if (is_cased_lower(c)) { cased = true; if (m == "isupper") return Value::boolean(false); }
            }
            return Value::boolean(cased);
        }
        if (m == "istitle") return Value::boolean(!u.empty() && title_case(s) == s && case_map(s, 0) != s);
        if (m == "isprintable") {
            for (char32_t c : u)
                if (c < 0x20 || c == 0x7f) return Value::boolean(false);
            return Value::boolean(true);
        }
        if (u.empty()) return Value::boolean(false);
        if (m == "isidentifier") {
            if (is_digit(u[0])) return Value::boolean(false);
            for (char32_t c : u)
                if (!(is_alpha(c) || is_digit(c) || c == '_')) return Value::boolean(false);
            return Value::boolean(true);
        }
        for (char32_t c : u) {
            bool ok = m == "isalpha" ? is_alpha(c) : m == "isalnum" ? (is_alpha(c) || is_digit(c)) : is_digit(c);
            if (!ok) return Value::boolean(false);
        }
        return Value::boolean(true);
    }
    if (m == "center" || m == "ljust" || m == "rjust" || m == "zfill") {
        const Value *w = a.get(0, "width");
        if (!w || !w->is_integral()) throw_error(std::string(m) + "() width must be an integer");
        int64_t width = w->as_int();
        if (width > static_cast<int64_t>(in.lim.max_string_bytes)) throw_error("string too long (sandbox limit)");
        std::string fill = " ";
        if (m != "zfill") {
            const Value *f = a.get(1, "fillchar");
            if (f) {
                if (!f->is_string() || py_len(f->str()) != 1) throw_error("The fill character must be exactly one character long");
                fill = f->str();
            }
        }
        int64_t len = static_cast<int64_t>(py_len(s));
        if (width <= len) return self;
        int64_t marg = width - len;
        auto rep = [&](int64_t n) { std::string r; for (int64_t k = 0; k < n; ++k) r += fill; return r; };
        if (m == "ljust") return in.make_string(s + rep(marg));
        if (m == "rjust") return in.make_string(rep(marg) + s);
        if (m == "zfill") {
            std::string body = s, sign;
            if (!body.empty() && (body[0] == '+' || body[0] == '-')) { sign = body.substr(0, 1); body = body.substr(1); }
            return in.make_string(sign + std::string(static_cast<size_t>(marg), '0') + body);
        }
        int64_t left = marg / 2 + (marg & width & 1);
        return in.make_string(rep(left) + s + rep(marg - left));
    }
    if (m == "partition" || m == "rpartition") {
        std::string sep = arg_str(a, 0, "sep", "partition()");
        if (sep.empty()) throw_error("empty separator");
        size_t p = m == "partition" ? s.find(sep) : s.rfind(sep);
        std::vector<Value> r;
        if (p == std::string::npos) {
            if (m == "partition") r = {in.make_string(s), in.make_string(""), in.make_string("")};
            else r = {in.make_string(""), in.make_string(""), in.make_string(s)};
        } else r = {in.make_string(s.substr(0, p)), in.make_string(sep), in.make_string(s.substr(p + sep.size()))};
        return in.make_list(std::move(r), true);
    }
    if (m == "removeprefix" || m == "removesuffix") {
        std::string x = arg_str(a, 0, "prefix", std::string(m).c_str());
        if (m == "removeprefix" && s.compare(0, x.size(), x) == 0 && x.size() <= s.size()) return in.make_string(s.substr(x.size()));
        if (m == "removesuffix" && !x.empty() && x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
            return in.make_string(s.substr(0, s.size() - x.size()));
        return self;
    }
    if (m == "expandtabs") {
        const Value *t = a.get(0, "tabsize");
        int64_t ts = t && t->is_integral() ? t->as_int() : 8;
        std::u32string u = to_u32(s), r;
        int64_t col = 0;
        for (char32_t c : u) {
            if (c == '\t') {
                if (ts > 0) { int64_t n = ts - col % ts; r.append(static_cast<size_t>(n), U' '); col += n; }
            } else { r += c; col = (c == '\n' || c == '\r') ? 0 : col + 1; }
            if (r.size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
        }
        return in.make_string(from_u32(r));
    }
    if (m == "format") return str_format(in, s, a);
    throw_error("'str' object has no attribute '" + std::string(m) + "'");
}

std::string group_digits(const std::string &digits, char sep) {
    std::string out;
    size_t n = digits.size();
    for (size_t i = 0; i < n; ++i) {
        if (i && (n - i) % 3 == 0) out += sep;
        out += digits[i];
    }
    return out;
}

// Python's format-spec mini-language: [[fill]align][sign][#][0][width][,|_][.precision][type]
std::string format_spec(Interp &in, const Value &v, const std::string &spec_in) {
    if (spec_in.empty()) return py_str(v);
    std::u32string spec = to_u32(spec_in);
    size_t p = 0;
    std::string fill = " ";
    char align = 0, sign = '-', grouping = 0, type = 0;
    bool alt = false, zero = false;
    auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
    if (spec.size() >= 2 && is_align(spec[1])) { fill = from_u32(spec.substr(0, 1)); align = static_cast<char>(spec[1]); p = 2; }
    else if (!spec.empty() && is_align(spec[0])) { align = static_cast<char>(spec[0]); p = 1; }
    if (p < spec.size() && (spec[p] == '+' || spec[p] == '-' || spec[p] == ' ')) sign = static_cast<char>(spec[p++]);
    if (p < spec.size() && spec[p] == '#') { alt = true; ++p; }
    if (p < spec.size() && spec[p] == '0') { zero = true; ++p; }
    uint64_t width = 0;
    while (p < spec.size() && spec[p] >= '0' && spec[p] <= '9') {
        width = width * 10 + (spec[p++] - '0');
        if (width > in.lim.max_string_bytes) throw_error("format width too large (sandbox limit)");
    }
    if (p < spec.size() && (spec[p] == ',' || spec[p] == '_')) grouping = static_cast<char>(spec[p++]);
    int prec = -1;
    if (p < spec.size() && spec[p] == '.') {
        ++p;
        prec = 0;
        while (p < spec.size() && spec[p] >= '0' && spec[p] <= '9') {
            prec = prec * 10 + static_cast<int>(spec[p++] - '0');
            if (prec > 1000) throw_error("format precision too large (sandbox limit)");
        }
    }
    if (p < spec.size()) type = static_cast<char>(spec[p++]);
    if (p != spec.size()) throw_error("Invalid format specifier");
    std::string body, prefix;
    bool numeric = v.is_number();
    if (!numeric) {
        if (type && type != 's') throw_error(std::string("Unknown format code '") + type + "' for object of type '" + type_name(v) + "'");
        body = py_str(v);
        if (prec >= 0) {
            std::u32string u = to_u32(body);
            if (static_cast<size_t>(prec) < u.size()) body = from_u32(u.substr(0, static_cast<size_t>(prec)));
        }
        if (!align) align = '<';
    } else {
        bool is_int = v.is_integral() && (type == 0 || std::strchr("dnboxXc", type));
        bool neg;
        if (is_int) {
            if (prec >= 0) throw_error("Precision not allowed in integer format specifier");
            BigInt b = v.big_value();
            neg = b.neg;
            b.neg = false;
            if (type == 'c') body = from_u32(std::u32string(1, static_cast<char32_t>(b.to_int64_saturated())));
            else if (type == 'b' || type == 'o' || type == 'x' || type == 'X') {
                uint64_t m = static_cast<uint64_t>(b.to_int64_saturated());
                int base = type == 'b' ? 2 : type == 'o' ? 8 : 16;
                const char *dig = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
                do { body.insert(body.begin(), dig[m % base]); m /= base; } while (m);
                if (alt) prefix = type == 'b' ? "0b" : type == 'o' ? "0o" : type == 'x' ? "0x" : "0X";
            } else body = b.to_string();
            if (grouping && type != 'c') body = group_digits(body, grouping);
        } else {
            double d = v.as_double();
            neg = std::signbit(d) && !std::isnan(d);
            d = std::fabs(d);
            char t = type == 0 ? 'g' : type == 'n' ? 'g' : type;
            if (!std::strchr("eEfFgG%", t)) throw_error(std::string("Unknown format code '") + type + "' for object of type 'float'");
            if (type == 0 && prec < 0) {
                body = float_repr(d);
            } else {
                double x = t == '%' ? d * 100 : d;
                std::string cspec = std::string("%") + (alt ? "#" : "") + "." + std::to_string(prec < 0 ? 6 : prec) + (t == '%' ? 'f' : t);
                std::vector<char> buf(static_cast<size_t>(prec < 0 ? 6 : prec) + 400);
                std::snprintf(buf.data(), buf.size(), cspec.c_str(), x);
                body = buf.data();
                if (type == 0 && body.find_first_of(".eEn") == std::string::npos) body += ".0";
                if (t == '%') body += '%';
            }
            if (grouping) {
                size_t end = body.find_first_not_of("0123456789");
                body = group_digits(body.substr(0, end), grouping) + (end == std::string::npos ? "" : body.substr(end));
            }
        }
        std::string sg = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
        prefix = sg + prefix;
        if (zero && !align) { align = '='; fill = "0"; }
        if (!align) align = '>';
    }
    size_t n = py_len(prefix) + py_len(body);
    std::string pad;
    auto rep = [&](uint64_t k) { std::string r; for (uint64_t j = 0; j < k; ++j) r += fill; return r; };
    if (width > n) {
        uint64_t marg = width - n;
        if (align == '<') return prefix + body + rep(marg);
        if (align == '>') return rep(marg) + prefix + body;
        if (align == '=') return prefix + rep(marg) + body;
        return rep(marg / 2) + prefix + body + rep(marg - marg / 2);
    }
    return prefix + body;
}

// str.format with positional/keyword fields (and .attr/[key] on them), !r/!s and format specs.
Value str_format(Interp &in, const std::string &fmt, CallArgs &a, int depth) {
    std::string out;
    size_t auto_idx = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
        char c = fmt[i];
        if (c == '}' ) {
            if (i + 1 < fmt.size() && fmt[i + 1] == '}') { out += '}'; ++i; continue; }
            throw_error("Single '}' encountered in format string");
        }
        if (c != '{') { out += c; continue; }
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') { out += '{'; ++i; continue; }
        size_t close = i + 1;
        for (int nest = 1; close < fmt.size(); ++close) {  // a spec may hold {fields} of its own
            if (fmt[close] == '{') ++nest;
            else if (fmt[close] == '}' && --nest == 0) break;
        }
        if (close >= fmt.size()) throw_error("Single '{' encountered in format string");
        std::string field = fmt.substr(i + 1, close - i - 1);
        i = close;
        std::string spec, conv;
        size_t colon = field.find(':');
        if (colon != std::string::npos) { spec = field.substr(colon + 1); field = field.substr(0, colon); }
        size_t bang = field.find('!');
        if (bang != std::string::npos) { conv = field.substr(bang + 1); field = field.substr(0, bang); }
        if (spec.find('{') != std::string::npos) {
            if (depth > 0) throw_error("Max string recursion exceeded");
            spec = str_format(in, spec, a, depth + 1).str();
        }
        // arg_name then .attr / [key] parts, each checked like template attribute access
        size_t name_end = field.find_first_of(".[");
        std::string head = field.substr(0, name_end);
        Value v;
        if (head.empty()) {
            if (auto_idx >= a.pos.size()) throw_error("Replacement index " + std::to_string(auto_idx) + " out of range");
            v = a.pos[auto_idx++];
        } else if (std::isdigit(static_cast<unsigned char>(head[0]))) {
            size_t k = static_cast<size_t>(std::stoul(head));
            if (k >= a.pos.size()) throw_error("Replacement index " + head + " out of range");
            v = a.pos[k];
        } else {
            const Value *kv = a.kwarg(head);
            if (!kv) throw_error("KeyError: '" + head + "'");
            v = *kv;
        }
        for (size_t q = name_end; q != std::string::npos && q < field.size();) {
            if (field[q] == '.') {
                size_t e = field.find_first_of(".[", q + 1);
                std::string attr = field.substr(q + 1, e == std::string::npos ? std::string::npos : e - q - 1);
                v = in.attribute(v, attr);
                if (v.is_undefined()) {
                    if (v.undef_info() && v.undef_info()->security) throw_undefined(v);
                    throw_error("AttributeError: '" + attr + "'");
                }
                q = e;
            } else {
                size_t e = field.find(']', q);
                if (e == std::string::npos) throw_error("Missing ']' in format string");
                std::string key = field.substr(q + 1, e - q - 1);
                bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
                v = in.subscript(v, digits ? Value::integer(std::stoll(key)) : in.make_string(key));
                if (v.is_undefined()) throw_error("KeyError: '" + key + "'");
                q = e + 1;
            }
        }
        if (conv == "r") v = in.make_string(py_repr(v));
        else if (conv == "s") v = in.make_string(py_str(v));
        std::string piece = format_spec(in, v, spec);
        out += piece;
        if (out.size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
    }
    return in.make_string(std::move(out));
}

Value list_method(Interp &in, const Value &self, std::string_view m, CallArgs &a) {
    const auto &items = self.list_obj().items;
    if (m == "copy") return in.make_list(items, self.is_tuple());
    const Value *x = a.get(0, "value");
    if (!x) throw_error(std::string(m) + "() takes exactly one argument");
    if (m == "count") {
        int64_t n = 0;
        for (const Value &v : items) n += values_equal(v, *x);
        return Value::integer(n);
    }
    for (size_t k = 0; k < items.size(); ++k)
        if (values_equal(items[k], *x)) return Value::integer(static_cast<int64_t>(k));
    throw_error(py_repr(*x) + " is not in list");
}

Value dict_method(Interp &in, const Value &self, std::string_view m, CallArgs &a) {
    const DictObj &d = self.dict_obj();
    if (m == "get") {
        const Value *k = a.get(0, "key");
        if (!k) throw_error("get expected at least 1 argument, got 0");
        if (const Value *v = d.find(*k)) return *v;
        const Value *dflt = a.get(1, "default");
        return dflt ? *dflt : Value::none();
    }
    if (m == "copy") {
        auto c = std::make_shared<DictObj>(d);
        in.charge(c->items.size() * 64 + 64);
        return Value::dict(c);
    }
    std::vector<Value> r;
    r.reserve(d.items.size());
    for (const auto &kv : d.items) {
        if (m == "keys") r.push_back(kv.first);
        else if (m == "values") r.push_back(kv.second);
        else r.push_back(in.make_list({kv.first, kv.second}, true));
    }
    Value v = in.make_list(std::move(r));
    const_cast<ListObj &>(v.list_obj()).view = m == "keys" ? 1 : m == "values" ? 2 : 3;
    return v;
}

} // namespace

bool has_method(const Value &obj, std::string_view name) {
    switch (obj.kind()) {
    case Value::Kind::String: return in_table(k_str_methods, name);
    case Value::Kind::List: return in_table(k_list_methods, name);
    case Value::Kind::Dict: return in_table(k_dict_methods, name);
    default: return false;
    }
}

bool is_mutating_method(const Value &obj, std::string_view name) {
    if (obj.is_list()) return in_table(k_list_mutating, name);
    if (obj.is_dict()) return in_table(k_dict_mutating, name);
    return false;
}

Value bound_method(const Value &obj, std::string_view name) {
    auto b = std::make_shared<BoundMethod>();
    b->name = std::string(name);
    b->self = obj;
    return Value::callable(b);
}

bool call_method(Interp &in, const Value &obj, std::string_view name, CallArgs &args, Value &result) {
    if (!has_method(obj, name)) {
        if (is_mutating_method(obj, name))
            throw_error("access to attribute '" + std::string(name) + "' of '" + type_name(obj) + "' object is unsafe.");
        return false;
    }
    switch (obj.kind()) {
    case Value::Kind::String: result = str_method(in, obj, name, args); return true;
    case Value::Kind::List: result = list_method(in, obj, name, args); return true;
    case Value::Kind::Dict: result = dict_method(in, obj, name, args); return true;
    default: return false;
    }
}

} // namespace llm4all::jinja
