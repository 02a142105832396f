// strings.cpp — the Python str behaviour templates depend on: code-point
// indexing and slicing, str.isspace/upper/lower on Unicode, printf-style
// "%s" % x formatting, and HTML escaping for the escape filter.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <mutex>

#include "interp.h"
#include "unicode.h"

namespace llm4all::jinja {

std::u32string to_u32(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) { out += c; ++i; continue; }
        size_t n = std::min(utf8_len(c), s.size() - i);
        uint32_t cp;
        if (n == 2) cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
        else if (n == 3) cp = ((c & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
        else if (n == 4) cp = ((c & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12) | ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
        else cp = 0xFFFD;
        out += static_cast<char32_t>(cp);
        i += n;
    }
    return out;
}

std::string from_u32(std::u32string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) {
        if (c < 0x80) out += static_cast<char>(c);
        else utf8_append(out, static_cast<uint32_t>(c));
    }
    return out;
}

size_t py_len(const std::string &s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

bool py_isspace(uint32_t cp) {
    if (cp < 0x80) return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint32_t py_lower(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return unicode_tolower(cp);
}

uint32_t py_upper(uint32_t cp) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
    static std::vector<UnicodePair> rev;
    static std::once_flag once;
    std::call_once(once, [] {
        for (size_t i = 0; i < k_unicode_lower_count; ++i) rev.push_back({k_unicode_lower[i].to, k_unicode_lower[i].from});
        std::stable_sort(rev.begin(), rev.end(), [](const UnicodePair &a, const UnicodePair &b) { return a.from < b.from; });
    });
    if (cp == 0x3C2) return 0x3A3;  // final sigma
    if (cp == 0x1C5 || cp == 0x1C8 || cp == 0x1CB || cp == 0x1F2) return cp - 1;  // titlecase digraphs
    if (cp == 0xB5) return 0x39C;   // micro sign
    auto it = std::lower_bound(rev.begin(), rev.end(), cp, [](const UnicodePair &p, uint32_t v) { return p.from < v; });
    if (it != rev.end() && it->from == cp) return it->to;
    return cp;
}

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

// ---- slicing -------------------------------------------------------------------------

static int64_t slice_index(const Value &v, const char *) {
    if (!v.is_integral()) throw_error("slice indices must be integers or None or have an __index__ method");
    return v.as_int();
}

Value slice_value(Interp &in, const Value &obj, const Value &a, const Value &b, const Value &c) {
    if (obj.is_undefined()) throw_undefined(obj);
    int64_t step = c.is_none() ? 1 : slice_index(c, "step");
    if (step == 0) throw_error("slice step cannot be zero");
    int64_t len;
    std::u32string u;
    bool ascii = false;
    if (obj.is_string()) {
        ascii = obj.str_obj()->is_ascii();
        if (ascii) len = static_cast<int64_t>(obj.str().size());
        else { u = to_u32(obj.str()); len = static_cast<int64_t>(u.size()); }
    } else if (obj.is_list() && !obj.is_generator() && !obj.list_obj().view) len = static_cast<int64_t>(obj.list_obj().items.size());
    else throw_error("'" + type_name(obj) + "' object is not subscriptable");
    int64_t start, stop;
    auto adjust = [&](const Value &v, int64_t dflt, bool is_start) -> int64_t {
        if (v.is_none()) return dflt;
        int64_t x = slice_index(v, "");
        if (x < 0) {
            x += len;
            if (x < 0) x = step < 0 ? -1 : 0;
        } else if (x >= len) x = step < 0 ? len - 1 : len;
        (void)is_start;
        return x;
    };
    if (step > 0) { start = adjust(a, 0, true); stop = adjust(b, len, false); }
    else { start = adjust(a, len - 1, true); stop = adjust(b, -1, false); }
    std::vector<int64_t> idx;
    if (step > 0) for (int64_t i = start; i < stop; i += step) idx.push_back(i);
    else for (int64_t i = start; i > stop; i += step) idx.push_back(i);
    in.steps_add(idx.size() / 16);
    if (obj.is_string()) {
        if (ascii) {
            std::string r;
            r.reserve(idx.size());
            for (int64_t i : idx) r += obj.str()[static_cast<size_t>(i)];
            return in.make_string(std::move(r));
        }
        std::u32string r;
        for (int64_t i : idx) r += u[static_cast<size_t>(i)];
        return in.make_string(from_u32(r));
    }
    std::vector<Value> r;
    r.reserve(idx.size());
    for (int64_t i : idx) r.push_back(obj.list_obj().items[static_cast<size_t>(i)]);
    return in.make_list(std::move(r), obj.is_tuple());
}

// ---- "%s" % x ------------------------------------------------------------------------

static std::string pad(std::string s, long width, bool left, char fill = ' ') {
    size_t n = py_len(s);
    if (width <= 0 || static_cast<size_t>(width) <= n) return s;
    std::string p(static_cast<size_t>(width) - n, fill);
    return left ? s + p : p + s;
}

Value py_percent_format(Interp &in, const std::string &fmt, const Value &args) {
    std::vector<Value> list;
    const DictObj *mapping = nullptr;
    if (args.is_tuple()) list = args.list_obj().items;
    else {
        list.push_back(args);
        if (args.is_dict()) mapping = &args.dict_obj();
    }
    size_t next = 0;
    bool used_mapping = false;
    std::string out;
    auto take = [&]() -> Value {
        if (next >= list.size()) throw_error("not enough arguments for format string");
        return list[next++];
    };
    for (size_t i = 0; i < fmt.size(); ++i) {
        char ch = fmt[i];
        if (ch != '%') { out += ch; continue; }
        if (++i >= fmt.size()) throw_error("incomplete format");
        Value arg;
        bool have_arg = false;
        if (fmt[i] == '(') {
            size_t close = fmt.find(')', i);
            if (close == std::string::npos) throw_error("incomplete format key");
            if (!mapping) throw_error("format requires a mapping");
            const Value *v = mapping->find(std::string_view(fmt).substr(i + 1, close - i - 1));
            if (!v) throw_error("KeyError: '" + fmt.substr(i + 1, close - i - 1) + "'");
            arg = *v;
            have_arg = true;
            used_mapping = true;
            i = close + 1;
        }
        bool left = false, plus = false, space = false, alt = false, zero = false;
        for (; i < fmt.size(); ++i) {
            char f = fmt[i];
            if (f == '-') left = true;
            else if (f == '+') plus = true;
            else if (f == ' ') space = true;
            else if (f == '#') alt = true;
            else if (f == '0') zero = true;
            else break;
        }
        long width = -1, prec = -1;
        if (i < fmt.size() && fmt[i] == '*') {
            Value w = take();
            if (!w.is_integral()) throw_error("* wants int");
            if (w.as_int() > static_cast<int64_t>(in.lim.max_string_bytes) || w.as_int() < -static_cast<int64_t>(in.lim.max_string_bytes))
                throw_error("format width too large (sandbox limit)");
            width = static_cast<long>(w.as_int());
            if (width < 0) { left = true; width = -width; }
            ++i;
        } else {
            while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) {
                width = (width < 0 ? 0 : width) * 10 + (fmt[i++] - '0');
                if (static_cast<uint64_t>(width) > in.lim.max_string_bytes) throw_error("format width too large (sandbox limit)");
            }
        }
        if (i < fmt.size() && fmt[i] == '.') {
            ++i;
            prec = 0;
            if (i < fmt.size() && fmt[i] == '*') {
                Value p = take();
                if (!p.is_integral()) throw_error("* wants int");
                if (p.as_int() > 10000) throw_error("format precision too large (sandbox limit)");
                prec = static_cast<long>(p.as_int());
                ++i;
            } else
                while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i]))) {
                    prec = prec * 10 + (fmt[i++] - '0');
                    if (prec > 10000) throw_error("format precision too large (sandbox limit)");
                }
        }
        while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
        if (i >= fmt.size()) throw_error("incomplete format");
        char conv = fmt[i];
        if (conv == '%') { out += '%'; continue; }
        if (!have_arg) arg = take();
        std::string piece;
        switch (conv) {
        case 's': case 'r': case 'a': {
            piece = conv == 's' ? py_str(arg) : py_repr(arg);
            if (prec >= 0) {
                std::u32string u = to_u32(piece);
                if (static_cast<size_t>(prec) < u.size()) piece = from_u32(u.substr(0, static_cast<size_t>(prec)));
            }
            piece = pad(piece, width, left);
            break;
        }
        case 'd': case 'i': case 'u': case 'o': case 'x': case 'X': case 'c': {
            int64_t v;
            if (arg.is_integral()) v = arg.as_int();
            else if (arg.is_float() && conv != 'o' && conv != 'x' && conv != 'X' && conv != 'c') {
                double d = arg.as_double();
                if (!std::isfinite(d)) throw_error("cannot convert float to integer");
                v = static_cast<int64_t>(d);
            } else if (conv == 'c' && arg.is_string() && py_len(arg.str()) == 1) {
                piece = pad(arg.str(), width, left);
                break;
            } else
                throw_error(std::string("%") + conv + " format: a real number is required, not " + type_name(arg));
            if (conv == 'c') {
                std::string s;
                utf8_append(s, static_cast<uint32_t>(v));
                piece = pad(s, width, left);
                break;
            }
            char spec[32];
            const char *len = PRId64;
            std::string cspec = std::string("%") + (left ? "-" : "") + (plus ? "+" : "") + (space ? " " : "") +
                                (alt ? "#" : "") + (zero && !left ? "0" : "");
            if (width >= 0) cspec += std::to_string(width);
            if (prec >= 0) cspec += "." + std::to_string(prec);
            if (conv == 'o') len = PRIo64;
            else if (conv == 'x') len = PRIx64;
            else if (conv == 'X') len = PRIX64;
            std::snprintf(spec, sizeof spec, "%s%s", cspec.c_str(), len);
            std::vector<char> buf(static_cast<size_t>(std::max<long>(width, 0) + std::max<long>(prec, 0) + 64));
            if ((conv == 'o' || conv == 'x' || conv == 'X') && v < 0) {
                // Python prints a sign and the magnitude
                std::string s = std::string("%") + (alt ? "#" : "") + len;
                std::snprintf(buf.data(), buf.size(), s.c_str(), static_cast<uint64_t>(-(v + 1)) + 1);
                std::string body = std::string("-") + buf.data();
                if (alt && conv == 'o') body = "-0o" + body.substr(2);
                piece = pad(body, width, left, zero && !left ? '0' : ' ');
            } else {
                std::snprintf(buf.data(), buf.size(), spec, v);
                piece = buf.data();
                if (alt && conv == 'o' && v != 0) {  // Python: 0o17, C: 017
                    size_t p = piece.find('0');
                    if (p != std::string::npos) piece.insert(p + 1, "o");
                }
            }
            break;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
            if (!arg.is_number()) throw_error(std::string("must be real number, not ") + type_name(arg));
            double d = arg.as_double();
            std::string cspec = std::string("%") + (left ? "-" : "") + (plus ? "+" : "") + (space ? " " : "") +
                                (alt ? "#" : "") + (zero && !left ? "0" : "");
            if (width >= 0) cspec += std::to_string(width);
            cspec += "." + std::to_string(prec >= 0 ? prec : 6);
            cspec += conv;
            std::vector<char> buf(static_cast<size_t>(std::max<long>(width, 0) + std::max<long>(prec, 6) + 400));
            std::snprintf(buf.data(), buf.size(), cspec.c_str(), d);
            piece = buf.data();
            break;
        }
        default: throw_error(std::string("unsupported format character '") + conv + "'");
        }
        out += piece;
        if (out.size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
    }
    // Python checks leftovers only for a tuple or a non-mapping (a list counts as a mapping)
    bool mapping_like = !args.is_tuple() && (args.is_dict() || args.is_list());
    if (!used_mapping && !mapping_like && next < list.size()) throw_error("not all arguments converted during string formatting");
    return in.make_string(std::move(out));
}

} // namespace llm4all::jinja
