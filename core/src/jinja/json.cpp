// json.cpp — JSON text to template values (the render context) and values to
// JSON text the way Python's json.dumps writes them (HF's tojson filter):
// ", "/": " separators, indent, ensure_ascii, float repr, NaN/Infinity.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "error.h"
#include "bigint.h"
#include "interp.h"
#include "unicode.h"

namespace llm4all::jinja {

namespace {

struct JsonParser {
    std::string_view s;
    size_t i = 0;
    int depth = 0;

    [[noreturn]] void bad(const char *what) {
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string("context JSON: ") + what + " at offset " + std::to_string(i));
    }
    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    uint32_t hex4() {
        if (i + 4 > s.size()) bad("truncated \\u escape");
        uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = s[i++];
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0) bad("bad \\u escape");
            v = v * 16 + static_cast<uint32_t>(d);
        }
        return v;
    }
    std::string str() {
        ++i;  // opening quote
        std::string out;
        for (;;) {
            if (i >= s.size()) bad("unterminated string");
            char c = s[i];
            if (c == '"') { ++i; return out; }
            if (static_cast<unsigned char>(c) < 0x20) bad("control character in string");
            if (c != '\\') {
                size_t j = i;
                while (j < s.size() && s[j] != '"' && s[j] != '\\' && static_cast<unsigned char>(s[j]) >= 0x20) ++j;
                out.append(s.substr(i, j - i));
                i = j;
                continue;
            }
            if (++i >= s.size()) bad("unterminated string");
            char e = s[i++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                uint32_t cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
                    size_t save = i;
                    i += 2;
                    uint32_t lo = hex4();
                    if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    else i = save;
                }
                if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;  // lone surrogate
                utf8_append(out, cp);
                break;
            }
            default: bad("bad escape");
            }
        }
    }
    Value value() {
        ws();
        if (i >= s.size()) bad("unexpected end");
        char c = s[i];
        if (c == '{' || c == '[') {
            if (++depth > static_cast<int>(k_max_value_depth) - 1) bad("nested too deeply");
            ++i;
            Value r;
            if (c == '{') {
                auto d = std::make_shared<DictObj>();
                ws();
                if (i < s.size() && s[i] == '}') ++i;
                else
                    for (;;) {
                        ws();
                        if (i >= s.size() || s[i] != '"') bad("expected a string key");
                        std::string k = str();
                        ws();
                        if (i >= s.size() || s[i] != ':') bad("expected ':'");
                        ++i;
                        Value v = value();
                        d->set(Value::string(std::move(k)), std::move(v));
                        ws();
                        if (i < s.size() && s[i] == ',') { ++i; continue; }
                        if (i < s.size() && s[i] == '}') { ++i; break; }
                        bad("expected ',' or '}'");
                    }
                d->finish();
                r = Value::dict(d);
            } else {
                std::vector<Value> items;
                ws();
                if (i < s.size() && s[i] == ']') ++i;
                else
                    for (;;) {
                        items.push_back(value());
                        ws();
                        if (i < s.size() && s[i] == ',') { ++i; continue; }
                        if (i < s.size() && s[i] == ']') { ++i; break; }
                        bad("expected ',' or ']'");
                    }
                r = Value::list(std::move(items));
            }
            --depth;
            return r;
        }
        if (c == '"') return Value::string(str());
        if (s.compare(i, 4, "true") == 0) { i += 4; return Value::boolean(true); }
        if (s.compare(i, 5, "false") == 0) { i += 5; return Value::boolean(false); }
        if (s.compare(i, 4, "null") == 0) { i += 4; return Value::none(); }
        if (s.compare(i, 3, "NaN") == 0) { i += 3; return Value::number(NAN); }
        if (s.compare(i, 8, "Infinity") == 0) { i += 8; return Value::number(INFINITY); }
        if (s.compare(i, 9, "-Infinity") == 0) { i += 9; return Value::number(-INFINITY); }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            if (s[j] == '-') ++j;
            if (j >= s.size() || !std::isdigit(static_cast<unsigned char>(s[j]))) bad("bad number");
            while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
            bool fl = false;
            if (j < s.size() && s[j] == '.') {
                fl = true;
                ++j;
                if (j >= s.size() || !std::isdigit(static_cast<unsigned char>(s[j]))) bad("bad number");
                while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
            }
            if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
                fl = true;
                ++j;
                if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
                if (j >= s.size() || !std::isdigit(static_cast<unsigned char>(s[j]))) bad("bad number");
                while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
            }
            std::string num(s.substr(i, j - i));
            i = j;
            if (!fl) {
                errno = 0;
                long long v = std::strtoll(num.c_str(), nullptr, 10);
                if (errno == 0) return Value::integer(v);
                BigInt b;
                bool negative = num[0] == '-';
                if (num.size() <= k_bigint_max_digits + 1 && BigInt::parse(num.substr(negative ? 1 : 0), 10, negative, b))
                    return Value::big(b);
                bad("integer too large");
            }
            return Value::number(std::strtod(num.c_str(), nullptr));
        }
        bad("unexpected character");
    }
};

void dump_string(std::string &out, std::string_view s, bool ensure_ascii) {
    out += '"';
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    out += b;
                } else out += static_cast<char>(c);
            }
            continue;
        }
        size_t n = std::min(utf8_len(c), s.size() - i);
        if (!ensure_ascii) {
            out.append(s.substr(i, n));
        } else {
            auto cps = utf8_decode(s.substr(i, n));
            uint32_t cp = cps.empty() ? 0xFFFD : cps[0];
            char b[16];
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else std::snprintf(b, sizeof b, "\\u%04x", cp);
            out += b;
        }
        i += n;
    }
    out += '"';
}

struct Dumper {
    const std::string *indent;
    const std::string &item_sep, &key_sep;
    bool ensure_ascii, sort_keys;
    std::string out;
    uint64_t budget;

    void newline(int level) {
        out += '\n';
        for (int k = 0; k < level; ++k) out += *indent;
    }
    void check() {
        if (out.size() > budget) throw_error("tojson output too large (sandbox limit)");
    }
    void key(const Value &k) {
        switch (k.kind()) {
        case Value::Kind::String: dump_string(out, k.str(), ensure_ascii); return;
        case Value::Kind::Bool: out += k.as_bool() ? "\"true\"" : "\"false\""; return;
        case Value::Kind::None: out += "\"null\""; return;
        case Value::Kind::Int: case Value::Kind::Float: {
            std::string t = py_str(k);
            if (k.is_float() && std::isnan(k.as_double())) t = "NaN";
            else if (k.is_float() && std::isinf(k.as_double())) t = k.as_double() > 0 ? "Infinity" : "-Infinity";
            out += '"' + t + '"';
            return;
        }
        default: throw_error("keys must be str, int, float, bool or None, not " + type_name(k));
        }
    }
    void value(const Value &v, int level) {
        check();
        switch (v.kind()) {
        case Value::Kind::None: out += "null"; return;
        case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
        case Value::Kind::Int: out += py_str(v); return;
        case Value::Kind::Float: {
            double d = v.as_double();
            if (std::isnan(d)) out += "NaN";
            else if (std::isinf(d)) out += d > 0 ? "Infinity" : "-Infinity";
            else out += float_repr(d);
            return;
        }
        case Value::Kind::String: dump_string(out, v.str(), ensure_ascii); return;
        case Value::Kind::List: {
            if (v.is_generator() || v.list_obj().is_range || v.list_obj().view)
                throw_error("Object of type " + type_name(v) + " is not JSON serializable");
            const auto &items = v.list_obj().items;
            if (items.empty()) { out += "[]"; return; }
            out += '[';
            for (size_t k = 0; k < items.size(); ++k) {
                if (k) out += item_sep;
                if (indent) newline(level + 1);
                value(items[k], level + 1);
            }
            if (indent) newline(level);
            out += ']';
            return;
        }
        case Value::Kind::Dict: {
            const auto &items = v.dict_obj().items;
            if (items.empty()) { out += "{}"; return; }
            std::vector<const std::pair<Value, Value> *> order;
            for (const auto &kv : items) order.push_back(&kv);
            if (sort_keys)
                std::stable_sort(order.begin(), order.end(), [](auto *a, auto *b) { return values_compare(a->first, b->first) < 0; });
            out += '{';
            bool first = true;
            for (auto *kv : order) {
                if (!first) out += item_sep;
                first = false;
                if (indent) newline(level + 1);
                key(kv->first);
                out += key_sep;
                value(kv->second, level + 1);
            }
            if (indent) newline(level);
            out += '}';
            return;
        }
        default: throw_error("Object of type " + type_name(v) + " is not JSON serializable");
        }
    }
};

} // namespace

std::string json_dump(const Value &v, const std::string *indent, const std::string &item_sep, const std::string &key_sep,
                      bool ensure_ascii, bool sort_keys) {
    Dumper d{indent, item_sep, key_sep, ensure_ascii, sort_keys, std::string(), 64u << 20};
    d.value(v, 0);
    return std::move(d.out);
}

Value context_from_json(std::string_view json) {
    size_t bad = utf8_find_invalid(json);
    if (bad != std::string_view::npos)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "context JSON is not valid UTF-8 (byte " + std::to_string(bad) + ")");
    JsonParser p{json};
    Value v = p.value();
    p.ws();
    if (p.i != json.size()) p.bad("trailing characters");
    if (!v.is_dict()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "context JSON must be an object");
    return v;
}

} // namespace llm4all::jinja
