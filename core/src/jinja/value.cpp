// value.cpp — Value construction and the Python semantics of values: truth,
// equality, ordering, str() and repr() (floats printed as Python's repr prints them).
#include "value.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bigint.h"
#include "interp.h"
#include "unicode.h"

namespace llm4all::jinja {

void throw_error(std::string message) { throw TemplateError{std::move(message)}; }

bool StrObj::is_ascii() const {
    if (ascii < 0) {
        ascii = 1;
        for (unsigned char c : s)
            if (c >= 0x80) { ascii = 0; break; }
    }
    return ascii == 1;
}

Value Value::undefined(std::string hint, bool security) {
    Value v;
    if (!hint.empty() || security) v.p_ = std::make_shared<const UndefInfo>(UndefInfo{std::move(hint), security});
    return v;
}
Value Value::big(const BigInt &b) {
    if (b.fits_int64()) return integer(b.to_int64_saturated());
    Value v;
    v.kind_ = Kind::Int;
    v.i_ = b.to_int64_saturated();
    v.p_ = std::make_shared<const BigInt>(b);
    return v;
}
BigInt Value::big_value() const {
    if (is_big()) return *static_cast<const BigInt *>(p_.get());
    return BigInt::from_int(as_int());
}
double Value::as_double() const {
    if (kind_ == Kind::Float) return f_;
    if (is_big()) return static_cast<const BigInt *>(p_.get())->to_double();
    return static_cast<double>(as_int());
}
Value Value::string(std::string s) { return string(std::make_shared<const StrObj>(std::move(s))); }
Value Value::string(std::shared_ptr<const StrObj> s) { Value v; v.kind_ = Kind::String; v.p_ = std::move(s); return v; }
Value Value::list(std::vector<Value> items, bool tuple) {
    auto l = std::make_shared<ListObj>();
    l->items = std::move(items);
    l->tuple = tuple;
    l->finish();
    return list(std::move(l));
}
Value Value::list(std::shared_ptr<ListObj> l) { Value v; v.kind_ = Kind::List; v.p_ = std::move(l); return v; }
Value Value::dict(std::shared_ptr<DictObj> d) { Value v; v.kind_ = Kind::Dict; v.p_ = std::move(d); return v; }
Value Value::make_namespace(std::shared_ptr<DictObj> d) { Value v; v.kind_ = Kind::Namespace; v.p_ = std::move(d); return v; }
Value Value::callable(std::shared_ptr<CallableObj> c) { Value v; v.kind_ = Kind::Callable; v.p_ = std::move(c); return v; }
Value Value::loop(std::shared_ptr<LoopObj> l) { Value v; v.kind_ = Kind::Loop; v.p_ = std::move(l); return v; }

const std::string &Value::str() const { return static_cast<const StrObj *>(p_.get())->s; }
const StrObj *Value::str_obj() const { return static_cast<const StrObj *>(p_.get()); }
const ListObj &Value::list_obj() const { return *static_cast<const ListObj *>(p_.get()); }
const DictObj &Value::dict_obj() const { return *static_cast<const DictObj *>(p_.get()); }
DictObj &Value::ns_obj() const { return *const_cast<DictObj *>(static_cast<const DictObj *>(p_.get())); }
std::shared_ptr<ListObj> Value::list_ptr() const {
    return std::static_pointer_cast<ListObj>(std::const_pointer_cast<void>(p_));
}
std::shared_ptr<DictObj> Value::dict_ptr() const {
    return std::static_pointer_cast<DictObj>(std::const_pointer_cast<void>(p_));
}
CallableObj &Value::callable_obj() const { return *const_cast<CallableObj *>(static_cast<const CallableObj *>(p_.get())); }
std::shared_ptr<LoopObj> Value::loop_ptr() const {
    return std::static_pointer_cast<LoopObj>(std::const_pointer_cast<void>(p_));
}
LoopObj &Value::loop_obj() const { return *const_cast<LoopObj *>(static_cast<const LoopObj *>(p_.get())); }
const UndefInfo *Value::undef_info() const {
    return kind_ == Kind::Undefined ? static_cast<const UndefInfo *>(p_.get()) : nullptr;
}

uint32_t Value::depth() const {
    if (kind_ == Kind::List) return list_obj().depth;
    if (kind_ == Kind::Dict || kind_ == Kind::Namespace) return dict_obj().depth;
    return 1;
}
bool Value::holds_namespace() const {
    if (kind_ == Kind::Namespace) return true;
    if (kind_ == Kind::List) return list_obj().has_ns;
    if (kind_ == Kind::Dict) return dict_obj().has_ns;
    return kind_ == Kind::Callable || kind_ == Kind::Loop;  // may reach frames: treat alike
}
bool Value::is_tuple() const { return kind_ == Kind::List && list_obj().tuple; }
bool Value::is_markup() const { return kind_ == Kind::String && str_obj()->markup; }
bool Value::is_generator() const { return kind_ == Kind::List && list_obj().generator; }

bool Value::truthy() const {
    switch (kind_) {
    case Kind::Undefined: case Kind::None: return false;
    case Kind::Bool: return b_;
    case Kind::Int: return i_ != 0;
    case Kind::Float: return f_ != 0.0;
    case Kind::String: return !str().empty();
    case Kind::List: return list_obj().generator || !list_obj().items.empty();
    case Kind::Dict: return !dict_obj().items.empty();
    default: return true;
    }
}

void ListObj::finish() {
    uint32_t d = 0;
    bool ns = false;
    for (const Value &v : items) {
        d = std::max(d, v.depth());
        ns = ns || v.holds_namespace();
    }
    depth = d + 1;
    has_ns = ns;
    if (depth > k_max_value_depth) throw_error("value nested too deeply (sandbox limit)");
}

void DictObj::finish() {
    uint32_t d = 0;
    bool ns = false;
    for (const auto &kv : items) {
        d = std::max(d, std::max(kv.first.depth(), kv.second.depth()));
        ns = ns || kv.second.holds_namespace() || kv.first.holds_namespace();
    }
    depth = d + 1;
    has_ns = ns;
    if (depth > k_max_value_depth) throw_error("value nested too deeply (sandbox limit)");
}

static constexpr size_t k_index_from = 8;

void DictObj::reindex() {
    index_.clear();
    for (size_t i = 0; i < items.size(); ++i)
        if (items[i].first.is_string()) index_.emplace(std::string_view(items[i].first.str()), i);
}

const Value *DictObj::find(std::string_view key) const {
    if (items.size() >= k_index_from) {
        if (index_.size() == 0) const_cast<DictObj *>(this)->reindex();
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &items[it->second].second;
    }
    for (const auto &kv : items)
        if (kv.first.is_string() && kv.first.str() == key) return &kv.second;
    return nullptr;
}

const Value *DictObj::find(const Value &key) const {
    if (key.is_string()) return find(std::string_view(key.str()));
    for (const auto &kv : items)
        if (values_equal(kv.first, key)) return &kv.second;
    return nullptr;
}

void DictObj::set(Value key, Value value) {
    if (key.is_string()) {
        if (const Value *v = find(std::string_view(key.str()))) {
            *const_cast<Value *>(v) = std::move(value);
            return;
        }
        if (items.size() + 1 >= k_index_from && !index_.empty()) index_.emplace(std::string_view(key.str()), items.size());
        items.emplace_back(std::move(key), std::move(value));
        if (items.size() == k_index_from) reindex();
        return;
    }
    for (auto &kv : items)
        if (values_equal(kv.first, key)) { kv.second = std::move(value); return; }
    items.emplace_back(std::move(key), std::move(value));
}

// ---- equality and ordering ---------------------------------------------------

bool values_equal(const Value &a, const Value &b) {
    using K = Value::Kind;
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
        if (a.is_big() || b.is_big()) return BigInt::compare(a.big_value(), b.big_value()) == 0;
        return a.as_int() == b.as_int();
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
    case K::Undefined: case K::None: return true;
    case K::String: return a.str() == b.str();
    case K::List: {
        const auto &x = a.list_obj(), &y = b.list_obj();
        if (x.generator || y.generator) return &x == &y;
        if (x.tuple != y.tuple || x.items.size() != y.items.size()) return false;
        for (size_t i = 0; i < x.items.size(); ++i)
            if (!values_equal(x.items[i], y.items[i])) return false;
        return true;
    }
    case K::Dict: {
        const auto &x = a.dict_obj(), &y = b.dict_obj();
        if (x.items.size() != y.items.size()) return false;
        for (const auto &kv : x.items) {
            const Value *o = y.find(kv.first);
            if (!o || !values_equal(kv.second, *o)) return false;
        }
        return true;
    }
    case K::Namespace: return &a.dict_obj() == &b.dict_obj();
    case K::Callable: return &a.callable_obj() == &b.callable_obj();
    case K::Loop: return &a.loop_obj() == &b.loop_obj();
    default: return false;
    }
}

int values_compare(const Value &a, const Value &b) {
    if (a.is_number() && b.is_number()) {
        if (a.is_float() || b.is_float()) {
            double x = a.as_double(), y = b.as_double();
            return x < y ? -1 : x > y ? 1 : 0;
        }
        if (a.is_big() || b.is_big()) return BigInt::compare(a.big_value(), b.big_value());
        int64_t x = a.as_int(), y = b.as_int();
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        int c = a.str().compare(b.str());  // UTF-8 byte order is code point order
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        const auto &x = a.list_obj().items, &y = b.list_obj().items;
        for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
            if (values_equal(x[i], y[i])) continue;
            return values_compare(x[i], y[i]);
        }
        return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    if (a.is_undefined() || b.is_undefined()) {
        const Value &u = a.is_undefined() ? a : b;
        throw_undefined(u);
    }
    throw_error("'<' not supported between instances of '" + type_name(a) + "' and '" + type_name(b) + "'");
}

std::string type_name(const Value &v) {
    using K = Value::Kind;
    switch (v.kind()) {
    case K::Undefined: return "Undefined";
    case K::None: return "NoneType";
    case K::Bool: return "bool";
    case K::Int: return "int";
    case K::Float: return "float";
    case K::String: return "str";
    case K::List:
        if (v.list_obj().view) return v.list_obj().view == 1 ? "dict_keys" : v.list_obj().view == 2 ? "dict_values" : "dict_items";
        return v.is_generator() ? "generator" : v.list_obj().is_range ? "range" : v.is_tuple() ? "tuple" : "list";
    case K::Dict: return "dict";
    case K::Namespace: return "Namespace";
    case K::Callable: return "function";
    case K::Loop: return "LoopContext";
    }
    return "object";
}

// ---- printing ------------------------------------------------------------------

std::string float_repr(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
    if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
    char buf[64];
    int prec = 1;
    for (; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (std::strtod(buf, nullptr) == d) break;
    }
    // buf: [-]d[.ddd]e[+-]xx
    std::string digits;
    const char *p = buf;
    bool neg = false;
    if (*p == '-') { neg = true; ++p; }
    for (; *p && *p != 'e'; ++p)
        if (*p != '.') digits += *p;
    int exp = std::atoi(p + 1);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    std::string out = neg ? "-" : "";
    int decpt = exp + 1;
    if (decpt > 16 || decpt <= -4) {
        out += digits[0];
        if (digits.size() > 1) { out += '.'; out.append(digits, 1, std::string::npos); }
        char eb[16];
        std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        out += eb;
    } else if (decpt <= 0) {
        out += "0.";
        out.append(static_cast<size_t>(-decpt), '0');
        out += digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
        out += digits;
        out.append(static_cast<size_t>(decpt) - digits.size(), '0');
        out += ".0";
    } else {
        out.append(digits, 0, static_cast<size_t>(decpt));
        out += '.';
        out.append(digits, static_cast<size_t>(decpt), std::string::npos);
    }
    return out;
}

static bool py_printable(uint32_t cp) {
    if (cp == ' ') return true;
    UCat c = unicode_cat(cp);
    if (c == UCat::Control || c == UCat::Undefined || c == UCat::Separator) return false;
    if (cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF)
        return false;  // format characters (Cf)
    return true;
}

void py_repr_string(std::string &out, std::string_view s) {
    bool has_single = s.find('\'') != std::string_view::npos;
    bool has_double = s.find('"') != std::string_view::npos;
    char q = (has_single && !has_double) ? '"' : '\'';
    out += q;
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            if (c == '\\') out += "\\\\";
            else if (c == static_cast<unsigned char>(q)) { out += '\\'; out += q; }
            else if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else if (c == '\t') out += "\\t";
            else if (c < 0x20 || c == 0x7f) {
                char b[8];
                std::snprintf(b, sizeof b, "\\x%02x", c);
                out += b;
            } else out += static_cast<char>(c);
            continue;
        }
        size_t n = utf8_len(c);
        if (i + n > s.size()) n = s.size() - i;
        uint32_t cp = 0;
        auto dec = utf8_decode(s.substr(i, n));
        cp = dec.empty() ? 0xFFFD : dec[0];
        if (py_printable(cp)) out.append(s.substr(i, n));
        else {
            char b[16];
            if (cp < 0x100) std::snprintf(b, sizeof b, "\\x%02x", cp);
            else if (cp < 0x10000) std::snprintf(b, sizeof b, "\\u%04x", cp);
            else std::snprintf(b, sizeof b, "\\U%08x", cp);
            out += b;
        }
        i += n;
    }
    out += q;
}

static void repr_into(std::string &out, const Value &v, size_t limit);

static void str_into(std::string &out, const Value &v, size_t limit) {
    using K = Value::Kind;
    switch (v.kind()) {
    case K::Undefined: return;
    case K::None: out += "None"; return;
    case K::Bool: out += v.as_bool() ? "True" : "False"; return;
    case K::Int: {
        if (v.is_big()) { out += v.big_value().to_string(); return; }
        char b[32];
        std::snprintf(b, sizeof b, "%" PRId64, v.as_int());
        out += b;
        return;
    }
    case K::Float: out += float_repr(v.as_double()); return;
    case K::String: out += v.str(); return;
    default: repr_into(out, v, limit);
    }
}

static void repr_into(std::string &out, const Value &v, size_t limit) {
    if (out.size() > limit) throw_error("string too long (sandbox limit)");
    using K = Value::Kind;
    switch (v.kind()) {
    case K::Undefined: out += "Undefined"; return;
    case K::String:
        if (v.is_markup()) out += "Markup(";
        py_repr_string(out, v.str());
        if (v.is_markup()) out += ")";
        return;
    case K::List: {
        const auto &l = v.list_obj();
        if (l.generator) {
            out += "<generator object>";
            return;
        }
        if (l.view) {
            out += l.view == 1 ? "dict_keys([" : l.view == 2 ? "dict_values([" : "dict_items([";
            for (size_t i = 0; i < l.items.size(); ++i) {
                if (i) out += ", ";
                repr_into(out, l.items[i], limit);
            }
            out += "])";
            return;
        }
        if (l.is_range) {
            out += "range(" + std::to_string(l.r_start) + ", " + std::to_string(l.r_stop);
            if (l.r_step != 1) out += ", " + std::to_string(l.r_step);
            out += ')';
            return;
        }
        out += l.tuple ? '(' : '[';
        for (size_t i = 0; i < l.items.size(); ++i) {
            if (i) out += ", ";
            repr_into(out, l.items[i], limit);
        }
        if (l.tuple && l.items.size() == 1) out += ',';
        out += l.tuple ? ')' : ']';
        return;
    }
    case K::Dict: case K::Namespace: {
        if (v.is_namespace()) out += "<Namespace ";
        out += '{';
        bool first = true;
        for (const auto &kv : v.dict_obj().items) {
            if (!first) out += ", ";
            first = false;
            repr_into(out, kv.first, limit);
            out += ": ";
            repr_into(out, kv.second, limit);
        }
        out += '}';
        if (v.is_namespace()) out += '>';
        return;
    }
    case K::Callable: out += v.callable_obj().repr(); return;
    case K::Loop: out += "<LoopContext>"; return;
    default: str_into(out, v, limit);
    }
}

std::string py_str(const Value &v, size_t limit) {
    if (v.is_string()) return v.str();
    std::string out;
    str_into(out, v, limit);
    if (out.size() > limit) throw_error("string too long (sandbox limit)");
    return out;
}

std::string py_repr(const Value &v, size_t limit) {
    std::string out;
    repr_into(out, v, limit);
    if (out.size() > limit) throw_error("string too long (sandbox limit)");
    return out;
}

} // namespace llm4all::jinja
