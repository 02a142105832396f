// filters.cpp — jinja2's builtin filters (as jinja2 3.1 defines them) plus HF's
// tojson, each taking the filtered value and the call's arguments by position or
// name. Lists they return are plain lists where jinja2 would give a generator
// (templates always consume them with join/list/for).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bigint.h"
#include "interp.h"
#include "unicode.h"

namespace llm4all::jinja {

namespace {

const Value *arg(const CallArgs &a, size_t i, const char *name) { return a.get(i, name); }
bool arg_bool(const CallArgs &a, size_t i, const char *name, bool dflt) {
    const Value *v = a.get(i, name);
    return v ? v->truthy() : dflt;
}
Value str_of(Interp &in, const Value &v) { return v.is_string() ? v : in.make_string(py_str(v)); }

// jinja2's make_attrgetter: "a.b.0" walks items (getitem first, then attribute).
Value get_path(Interp &in, const Value &item, const std::string &path) {
    Value cur = item;
    size_t start = 0;
    for (;;) {
        size_t dot = path.find('.', start);
        std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
        cur = in.subscript(cur, digits ? Value::integer(std::atoll(part.c_str())) : in.make_string(part));
        if (dot == std::string::npos) return cur;
        start = dot + 1;
    }
}

Value lower_if_str(Interp &in, const Value &v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) {
        CallArgs none;
        Value r;
        call_method(in, v, "lower", none, r);
        return r;
    }
    return v;
}

Value key_of(Interp &in, const Value &item, const Value *attribute, bool case_sensitive) {
    if (!attribute || attribute->is_none()) return lower_if_str(in, item, case_sensitive);
    if (attribute->is_integral()) return lower_if_str(in, in.subscript(item, *attribute), case_sensitive);
    std::string attr = py_str(*attribute);
    if (attr.find(',') != std::string::npos) {  // sort's multi-attribute form
        std::vector<Value> keys;
        size_t s = 0;
        for (;;) {
            size_t c = attr.find(',', s);
            keys.push_back(lower_if_str(in, get_path(in, item, attr.substr(s, c == std::string::npos ? std::string::npos : c - s)), case_sensitive));
            if (c == std::string::npos) break;
            s = c + 1;
        }
        return in.make_list(std::move(keys));
    }
    return lower_if_str(in, get_path(in, item, attr), case_sensitive);
}

Value f_abs(Interp &, const Value &v, CallArgs &) {
    if (v.is_float()) return Value::number(std::fabs(v.as_double()));
    if (v.is_integral()) {
        if (v.is_big() || v.as_int() == INT64_MIN) {
            BigInt b = v.big_value();
            b.neg = false;
            return Value::big(b);
        }
        return Value::integer(std::llabs(v.as_int()));
    }
    if (v.is_undefined()) throw_undefined(v);
    throw_error("bad operand type for abs(): '" + type_name(v) + "'");
}

Value f_attr(Interp &in, const Value &v, CallArgs &a) {
    const Value *n = arg(a, 0, "name");
    if (!n || !n->is_string()) throw_error("attr filter expects an attribute name");
    if (v.is_dict() && !has_method(v, n->str())) {
        if (n->str().substr(0, 2) == "__") return in.attribute(v, n->str());
        return Value::undefined("'dict object' has no attribute '" + n->str() + "'");
    }
    return in.attribute(v, n->str());
}

Value f_batch(Interp &in, const Value &v, CallArgs &a) {
    const Value *n = arg(a, 0, "linecount");
    if (!n || !n->is_integral()) throw_error("batch expects an integer line count");
    int64_t count = n->as_int();
    const Value *fill = arg(a, 1, "fill_with");
    std::vector<Value> out, tmp;
    for (const Value &item : in.iterate(v)) {
        if (static_cast<int64_t>(tmp.size()) == count) { out.push_back(in.make_list(std::move(tmp))); tmp.clear(); }
        tmp.push_back(item);
    }
    if (!tmp.empty()) {
        if (fill && !fill->is_none())
            while (static_cast<int64_t>(tmp.size()) < count) tmp.push_back(*fill);
        out.push_back(in.make_list(std::move(tmp)));
    }
    return in.make_generator(std::move(out));
}

// Markup in, Markup out (markupsafe wraps these str methods)
Value call_str_method(Interp &in, const Value &v, const char *m, CallArgs &a) {
    Value s = str_of(in, v), r;
    call_method(in, s, m, a, r);
    if (v.is_markup() && r.is_string() && !r.is_markup()) return in.make_string(r.str(), true);
    return r;
}

Value f_capitalize(Interp &in, const Value &v, CallArgs &) { CallArgs none; return call_str_method(in, v, "capitalize", none); }
Value f_upper(Interp &in, const Value &v, CallArgs &) { CallArgs none; return call_str_method(in, v, "upper", none); }
Value f_lower(Interp &in, const Value &v, CallArgs &) { CallArgs none; return call_str_method(in, v, "lower", none); }
Value f_center(Interp &in, const Value &v, CallArgs &a) {
    CallArgs c;
    const Value *w = arg(a, 0, "width");
    c.pos.push_back(w ? *w : Value::integer(80));
    return call_str_method(in, v, "center", c);
}
Value f_trim(Interp &in, const Value &v, CallArgs &a) {
    CallArgs c;
    if (const Value *ch = arg(a, 0, "chars")) c.pos.push_back(*ch);
    return call_str_method(in, v, "strip", c);
}
Value f_replace(Interp &in, const Value &v, CallArgs &a) {
    CallArgs c;
    const Value *o = arg(a, 0, "old"), *n = arg(a, 1, "new"), *cnt = arg(a, 2, "count");
    if (!o || !n) throw_error("replace expects old and new");
    c.pos.push_back(str_of(in, *o));
    c.pos.push_back(str_of(in, *n));
    if (cnt && !cnt->is_none()) c.pos.push_back(*cnt);
    Value s = str_of(in, v), r;
    call_method(in, s, "replace", c, r);  // plain str: jinja2 replaces on str(s) without autoescape
    return r.is_markup() ? in.make_string(r.str()) : r;
}

Value f_default(Interp &, const Value &v, CallArgs &a) {
    const Value *d = arg(a, 0, "default_value");
    bool boolean = arg_bool(a, 1, "boolean", false);
    if (v.is_undefined() || (boolean && !v.truthy())) return d ? *d : Value::string(std::string());
    return v;
}

Value f_dictsort(Interp &in, const Value &v, CallArgs &a) {
    if (!v.is_dict()) throw_error("dictsort expects a dict");
    bool cs = arg_bool(a, 0, "case_sensitive", false);
    const Value *by = arg(a, 1, "by");
    bool reverse = arg_bool(a, 2, "reverse", false);
    int pos = 0;
    if (by) {
        if (!by->is_string() || (by->str() != "key" && by->str() != "value"))
            throw_error("You can only sort by either \"key\" or \"value\"");
        pos = by->str() == "value";
    }
    std::vector<std::pair<Value, Value>> items = v.dict_obj().items;
    std::vector<Value> keys;
    for (auto &kv : items) keys.push_back(lower_if_str(in, pos ? kv.second : kv.first, cs));
    std::vector<size_t> idx(items.size());
    for (size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) {
        return reverse ? values_compare(keys[y], keys[x]) < 0 : values_compare(keys[x], keys[y]) < 0;
    });
    std::vector<Value> out;
    for (size_t k : idx) out.push_back(in.make_list({items[k].first, items[k].second}, true));
    return in.make_list(std::move(out));
}

Value f_escape(Interp &in, const Value &v, CallArgs &) {
    if (v.is_markup()) return v;
    return in.make_string(html_escape(py_str(v)), true);
}
Value f_forceescape(Interp &in, const Value &v, CallArgs &) { return in.make_string(html_escape(py_str(v)), true); }

Value f_first(Interp &in, const Value &v, CallArgs &) {
    if (v.is_list()) {
        if (v.list_obj().items.empty()) return Value::undefined("No first item, sequence was empty.");
        return v.list_obj().items.front();
    }
    auto items = in.iterate(v);
    if (items.empty()) return Value::undefined("No first item, sequence was empty.");
    return items.front();
}
Value f_last(Interp &in, const Value &v, CallArgs &) {
    if (v.is_generator()) throw_error("'generator' object is not reversible");
    if (v.is_list()) {
        if (v.list_obj().items.empty()) return Value::undefined("No last item, sequence was empty.");
        return v.list_obj().items.back();
    }
    auto items = in.iterate(v);
    if (items.empty()) return Value::undefined("No last item, sequence was empty.");
    return items.back();
}

bool parse_py_float(const std::string &s0, double &out) {
    std::string s = s0;
    size_t b = s.find_first_not_of(" \t\n\r\v\f"), e = s.find_last_not_of(" \t\n\r\v\f");
    if (b == std::string::npos) return false;
    s = s.substr(b, e - b + 1);
    std::string t;
    for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '_') {
            if (k == 0 || k + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[k - 1])) || !std::isdigit(static_cast<unsigned char>(s[k + 1]))) return false;
            continue;
        }
        t += s[k];
    }
    std::string low;
    for (char c : t) low += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string body = (low[0] == '+' || low[0] == '-') ? low.substr(1) : low;
    if (body == "inf" || body == "infinity" || body == "nan") {
        out = body == "nan" ? NAN : INFINITY;
        if (low[0] == '-') out = -out;
        return true;
    }
    if (body.empty() || body.find_first_not_of("0123456789.e+-") != std::string::npos) return false;
    if (body.find("0x") != std::string::npos) return false;
    char *end = nullptr;
    out = std::strtod(t.c_str(), &end);
    return end && *end == 0;
}

bool parse_py_int(const std::string &s0, int64_t base, int64_t &out) {
    size_t b = s0.find_first_not_of(" \t\n\r\v\f"), e = s0.find_last_not_of(" \t\n\r\v\f");
    if (b == std::string::npos) return false;
    std::string s = s0.substr(b, e - b + 1), t;
    bool neg = false;
    size_t k = 0;
    if (s[0] == '+' || s[0] == '-') { neg = s[0] == '-'; k = 1; }
    if (base == 0 || base == 16 || base == 8 || base == 2) {
        if (s.size() > k + 1 && s[k] == '0' && std::strchr("xXoObB", s[k + 1])) {
            char p = static_cast<char>(std::tolower(static_cast<unsigned char>(s[k + 1])));
            int64_t want = p == 'x' ? 16 : p == 'o' ? 8 : 2;
            if (base != 0 && base != want) return false;
            base = want;
            k += 2;
            if (k < s.size() && s[k] == '_') ++k;
        } else if (base == 0) base = 10;
    }
    for (; k < s.size(); ++k) {
        if (s[k] == '_' && !t.empty() && k + 1 < s.size() && s[k + 1] != '_') continue;
        t += s[k];
    }
    if (t.empty()) return false;
    char *end = nullptr;
    errno = 0;
    long long v = std::strtoll(t.c_str(), &end, static_cast<int>(base));
    if (!end || *end || errno || t[0] == '+' || t[0] == '-' || t[0] == ' ') return false;
    out = neg ? -v : v;
    return true;
}

Value f_int(Interp &, const Value &v, CallArgs &a) {
    const Value *d = arg(a, 0, "default");
    const Value *b = arg(a, 1, "base");
    Value dflt = d ? *d : Value::integer(0);
    int64_t base = b && b->is_integral() ? b->as_int() : 10;
    if (v.is_integral()) return v.is_bool() ? Value::integer(v.as_int()) : v;
    if (v.is_float()) {
        double x = v.as_double();
        if (std::isnan(x)) throw_error("cannot convert float NaN to integer");
        if (std::isinf(x)) throw_error("cannot convert float infinity to integer");
        if (std::fabs(x) >= 9.2e18) {
            char buf[400];
            std::snprintf(buf, sizeof buf, "%.0f", std::trunc(x));
            BigInt b;
            BigInt::parse(buf + (x < 0), 10, x < 0, b);
            return Value::big(b);
        }
        return Value::integer(static_cast<int64_t>(x));
    }
    if (v.is_string()) {
        int64_t r;
        if (parse_py_int(v.str(), base, r)) return Value::integer(r);
        {  // decimal beyond int64
            std::string t;
            for (char c : v.str())
                if (c != '_' && c != ' ' && c != '\t' && c != '\n') t += c;
            bool negative = !t.empty() && t[0] == '-';
            if (!t.empty() && (t[0] == '-' || t[0] == '+')) t = t.substr(1);
            BigInt b;
            if (base == 10 && t.size() > 18 && t.size() <= k_bigint_max_digits && BigInt::parse(t, 10, negative, b)) return Value::big(b);
        }
        double f;
        if (parse_py_float(v.str(), f)) {
            if (std::isnan(f) || std::isinf(f)) throw_error("cannot convert float to integer");
            if (std::fabs(f) >= 9.2e18) throw_error("integer overflow");
            return Value::integer(static_cast<int64_t>(f));
        }
    }
    return dflt;
}

Value f_float(Interp &, const Value &v, CallArgs &a) {
    const Value *d = arg(a, 0, "default");
    if (v.is_number()) return Value::number(v.as_double());
    double f;
    if (v.is_string() && parse_py_float(v.str(), f)) return Value::number(f);
    return d ? *d : Value::number(0.0);
}

Value f_format(Interp &in, const Value &v, CallArgs &a) {
    if (!a.kw.empty()) {
        auto d = std::make_shared<DictObj>();
        for (auto &kv : a.kw) d->set(Value::string(kv.first), kv.second);
        d->finish();
        if (v.is_markup()) return arith(in, '%', v, Value::dict(d));
        return py_percent_format(in, py_str(v), Value::dict(d));
    }
    if (v.is_markup()) return arith(in, '%', v, in.make_list(a.pos, true));  // Markup escapes the arguments
    return py_percent_format(in, py_str(v), in.make_list(a.pos, true));
}

Value f_indent(Interp &in, const Value &v, CallArgs &a) {
    const Value *w = arg(a, 0, "width");
    bool first = arg_bool(a, 1, "first", false), blank = arg_bool(a, 2, "blank", false);
    std::string ind;
    if (!w) ind = "    ";
    else if (w->is_string()) ind = w->str();
    else if (w->is_integral()) {
        if (w->as_int() > 10000) throw_error("indent width too large (sandbox limit)");
        ind = std::string(static_cast<size_t>(std::max<int64_t>(0, w->as_int())), ' ');
    } else throw_error("indent width must be an int or str");
    if (!v.is_string()) throw_error("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");  // s += newline
    std::string s = v.str() + "\n";
    CallArgs none;
    Value lines_v;
    call_method(in, in.make_string(s), "splitlines", none, lines_v);
    const auto &lines = lines_v.list_obj().items;
    std::string rv;
    if (blank) {
        for (size_t k = 0; k < lines.size(); ++k) {
            if (k) rv += "\n" + ind;
            rv += lines[k].str();
        }
    } else {
        rv = lines.empty() ? std::string() : lines[0].str();
        for (size_t k = 1; k < lines.size(); ++k) {
            rv += "\n";
            if (!lines[k].str().empty()) rv += ind;
            rv += lines[k].str();
        }
    }
    if (first) rv = ind + rv;
    return in.make_string(std::move(rv), v.is_markup());
}

Value f_items(Interp &in, const Value &v, CallArgs &) {
    if (v.is_undefined()) return in.make_list({});
    if (!v.is_dict()) throw_error("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto &kv : v.dict_obj().items) out.push_back(in.make_list({kv.first, kv.second}, true));
    return in.make_generator(std::move(out));
}

Value f_join(Interp &in, const Value &v, CallArgs &a) {
    const Value *d = arg(a, 0, "d");
    const Value *attr = arg(a, 1, "attribute");
    std::string sep = d ? py_str(*d) : std::string();
    std::string out;
    bool first = true;
    for (const Value &item : in.iterate(v)) {
        if (!first) out += sep;
        first = false;
        Value x = attr && !attr->is_none() ? key_of(in, item, attr, true) : item;
        out += py_str(x);
        if (out.size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
    }
    return in.make_string(std::move(out));
}

Value f_length(Interp &, const Value &v, CallArgs &) {
    switch (v.kind()) {
    case Value::Kind::String: return Value::integer(static_cast<int64_t>(py_len(v.str())));
    case Value::Kind::List:
        if (v.is_generator()) throw_error("object of type 'generator' has no len()");
        return Value::integer(static_cast<int64_t>(v.list_obj().items.size()));
    case Value::Kind::Dict: return Value::integer(static_cast<int64_t>(v.dict_obj().items.size()));
    case Value::Kind::Undefined: return Value::integer(0);
    default: throw_error("object of type '" + type_name(v) + "' has no len()");
    }
}

Value f_list(Interp &in, const Value &v, CallArgs &) {
    if (v.is_list() && !v.is_tuple() && !v.is_generator() && !v.list_obj().is_range && !v.list_obj().view) return v;
    return in.make_list(in.iterate(v));
}

Value f_string(Interp &in, const Value &v, CallArgs &) { return str_of(in, v); }
Value f_safe(Interp &in, const Value &v, CallArgs &) { return v.is_markup() ? v : in.make_string(py_str(v), true); }

Value f_map(Interp &in, const Value &v, CallArgs &a) {
    std::vector<Value> out;
    if (!v.truthy()) return in.make_generator({});  // jinja2: "if value:"
    auto items = in.iterate(v);
    if (const Value *attr = a.kwarg("attribute")) {
        const Value *dflt = a.kwarg("default");
        for (const Value &item : items) {
            Value x = key_of(in, item, attr, true);
            if (x.is_undefined() && dflt) x = *dflt;
            out.push_back(x);
        }
        return in.make_generator(std::move(out));
    }
    if (a.pos.empty()) throw_error("map requires a filter argument");
    if (!a.pos[0].is_string()) throw_error("map filter name must be a string");
    int32_t f = find_filter(a.pos[0].str());
    if (f < 0) throw_error("No filter named '" + a.pos[0].str() + "'");
    CallArgs rest;
    rest.pos.assign(a.pos.begin() + 1, a.pos.end());
    rest.kw = a.kw;
    for (const Value &item : items) {
        CallArgs c = rest;
        out.push_back(in.apply_filter(f, item, c));
    }
    return in.make_generator(std::move(out));
}

Value select_impl(Interp &in, const Value &v, CallArgs &a, bool by_attr, bool keep_when) {
    size_t k = 0;
    std::string attr;
    if (by_attr) {
        if (a.pos.empty()) throw_error("selectattr/rejectattr need an attribute name");
        attr = py_str(a.pos[0]);
        k = 1;
    }
    int32_t test = -1;
    if (a.pos.size() > k) {
        if (!a.pos[k].is_string()) throw_error("test name must be a string");
        test = find_test(a.pos[k].str());
        if (test < 0) throw_error("No test named '" + a.pos[k].str() + "'");
    }
    CallArgs rest;
    if (a.pos.size() > k + 1) rest.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(k + 1), a.pos.end());
    rest.kw = a.kw;
    std::vector<Value> out;
    if (!v.truthy()) return in.make_generator({});  // jinja2: "if seq:"
    for (const Value &item : in.iterate(v)) {
        Value x = by_attr ? get_path(in, item, attr) : item;
        bool r;
        if (test < 0) r = x.truthy();
        else {
            CallArgs c = rest;
            r = in.apply_test(test, x, c);
        }
        if (r == keep_when) out.push_back(item);
    }
    return in.make_generator(std::move(out));
}
Value f_select(Interp &in, const Value &v, CallArgs &a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interp &in, const Value &v, CallArgs &a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interp &in, const Value &v, CallArgs &a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interp &in, const Value &v, CallArgs &a) { return select_impl(in, v, a, true, false); }

Value minmax(Interp &in, const Value &v, CallArgs &a, bool want_max) {
    bool cs = arg_bool(a, 0, "case_sensitive", false);
    const Value *attr = arg(a, 1, "attribute");
    auto items = in.iterate(v);
    if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
    size_t best = 0;
    Value bk = key_of(in, items[0], attr, cs);
    for (size_t k = 1; k < items.size(); ++k) {
        Value kk = key_of(in, items[k], attr, cs);
        int c = values_compare(kk, bk);
        if (want_max ? c > 0 : c < 0) { best = k; bk = kk; }
    }
    return items[best];
}
Value f_max(Interp &in, const Value &v, CallArgs &a) { return minmax(in, v, a, true); }
Value f_min(Interp &in, const Value &v, CallArgs &a) { return minmax(in, v, a, false); }

Value f_groupby(Interp &in, const Value &v, CallArgs &a) {
    const Value *attr = arg(a, 0, "attribute");
    const Value *dflt = arg(a, 1, "default");
    bool cs = arg_bool(a, 2, "case_sensitive", false);
    if (!attr) throw_error("groupby needs an attribute");
    auto items = in.iterate(v);
    auto key = [&](const Value &item, bool fold) {
        Value k = key_of(in, item, attr, !fold);
        if (k.is_undefined() && dflt) k = *dflt;
        return k;
    };
    std::vector<Value> keys;
    for (const Value &it : items) keys.push_back(key(it, !cs));
    std::vector<size_t> idx(items.size());
    for (size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return values_compare(keys[x], keys[y]) < 0; });
    std::vector<Value> out;
    for (size_t k = 0; k < idx.size();) {
        size_t e = k;
        std::vector<Value> group;
        while (e < idx.size() && values_equal(keys[idx[e]], keys[idx[k]])) group.push_back(items[idx[e++]]);
        Value grouper = cs ? keys[idx[k]] : key(items[idx[k]], false);
        Value t = in.make_list({grouper, in.make_list(std::move(group))}, true);
        const_cast<ListObj &>(t.list_obj()).group = true;
        out.push_back(t);
        k = e;
    }
    return in.make_list(std::move(out));
}

// pprint.pformat: dict keys sorted (short values fit one line, as here)
void pformat(std::string &out, const Value &v) {
    if (v.is_dict()) {
        std::vector<const std::pair<Value, Value> *> order;
        for (const auto &kv : v.dict_obj().items) order.push_back(&kv);
        std::stable_sort(order.begin(), order.end(), [](auto *x, auto *y) {
            try { return values_compare(x->first, y->first) < 0; } catch (const TemplateError &) { return false; }
        });
        out += '{';
        for (size_t k = 0; k < order.size(); ++k) {
            if (k) out += ", ";
            pformat(out, order[k]->first);
            out += ": ";
            pformat(out, order[k]->second);
        }
        out += '}';
    } else if (v.is_list() && !v.is_generator() && !v.list_obj().is_range) {
        const auto &l = v.list_obj();
        out += l.tuple ? '(' : '[';
        for (size_t k = 0; k < l.items.size(); ++k) {
            if (k) out += ", ";
            pformat(out, l.items[k]);
        }
        if (l.tuple && l.items.size() == 1) out += ',';
        out += l.tuple ? ')' : ']';
    } else out += py_repr(v);
}
Value f_pprint(Interp &in, const Value &v, CallArgs &) {
    std::string s;
    pformat(s, v);
    return in.make_string(std::move(s));
}

Value f_reverse(Interp &in, const Value &v, CallArgs &) {
    if (v.is_string()) {
        std::u32string u = to_u32(v.str());
        std::reverse(u.begin(), u.end());
        return in.make_string(from_u32(u));
    }
    auto items = in.iterate(v);
    std::reverse(items.begin(), items.end());
    return in.make_generator(std::move(items));  // a list_reverseiterator in jinja2
}

Value f_round(Interp &, const Value &v, CallArgs &a) {
    const Value *p = arg(a, 0, "precision");
    const Value *m = arg(a, 1, "method");
    int64_t prec = p && p->is_integral() ? p->as_int() : 0;
    std::string method = m && m->is_string() ? m->str() : "common";
    if (method != "common" && method != "floor" && method != "ceil")
        throw_error("method must be common, ceil or floor");
    if (!v.is_number()) throw_error("type " + type_name(v) + " doesn't define __round__ method");
    if (prec > 300) prec = 300;
    if (prec < -300) prec = -300;
    if (method == "common") {
        if (v.is_big() || (v.is_integral() && prec < 0)) {
            if (prec >= 0) return v;
            // round half to even at 10**-prec
            BigInt unit = BigInt::pow(BigInt::from_int(10), static_cast<uint64_t>(-prec)), q, r;
            BigInt::divmod(v.big_value(), unit, q, r);
            BigInt twice = BigInt::add(r, r);
            int c = BigInt::compare(twice, unit);
            if (c > 0 || (c == 0 && !q.limbs.empty() && (q.limbs[0] & 1))) q = BigInt::add(q, BigInt::from_int(1));
            return Value::big(BigInt::mul(q, unit));
        }
        if (v.is_integral()) {
            if (prec >= 0) return Value::integer(v.as_int());
            double scale = std::pow(10.0, static_cast<double>(-prec));
            double q = static_cast<double>(v.as_int()) / scale;
            return Value::integer(static_cast<int64_t>(std::nearbyint(q) * scale));
        }
        double x = v.as_double();
        if (!std::isfinite(x)) return v;
        if (prec >= 0) {
            char buf[512];
            std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(prec, 330)), x);
            return Value::number(std::strtod(buf, nullptr));
        }
        double scale = std::pow(10.0, static_cast<double>(-prec));
        return Value::number(std::nearbyint(x / scale) * scale);
    }
    double scale = std::pow(10.0, static_cast<double>(prec));
    double x = v.as_double() * scale;
    x = method == "floor" ? std::floor(x) : std::ceil(x);
    return Value::number(x / scale);
}

Value f_slice(Interp &in, const Value &v, CallArgs &a) {
    const Value *n = arg(a, 0, "slices");
    if (!n || !n->is_integral() || n->as_int() <= 0) throw_error("slice expects a positive number of slices");
    const Value *fill = arg(a, 1, "fill_with");
    auto seq = in.iterate(v);
    int64_t slices = n->as_int(), length = static_cast<int64_t>(seq.size());
    if (slices > 100000) throw_error("too many slices (sandbox limit)");
    int64_t per = length / slices, extra = length % slices, offset = 0;
    std::vector<Value> out;
    for (int64_t s = 0; s < slices; ++s) {
        int64_t start = offset + s * per;
        if (s < extra) ++offset;
        int64_t end = offset + (s + 1) * per;
        std::vector<Value> tmp(seq.begin() + start, seq.begin() + end);
        if (fill && !fill->is_none() && s >= extra) tmp.push_back(*fill);
        out.push_back(in.make_list(std::move(tmp)));
    }
    return in.make_generator(std::move(out));
}

Value f_sort(Interp &in, const Value &v, CallArgs &a) {
    bool reverse = arg_bool(a, 0, "reverse", false);
    bool cs = arg_bool(a, 1, "case_sensitive", false);
    const Value *attr = arg(a, 2, "attribute");
    auto items = in.iterate(v);
    std::vector<Value> keys;
    for (const Value &it : items) {
        Value k = key_of(in, it, attr, cs);
        // jinja2 sorts by attribute through a list of keys: equal (even undefined) keys never get compared
        keys.push_back(attr && !attr->is_none() && !k.is_list() ? in.make_list({k}) : k);
    }
    std::vector<size_t> idx(items.size());
    for (size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    in.steps_add(items.size() * 4);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) {
        return reverse ? values_compare(keys[y], keys[x]) < 0 : values_compare(keys[x], keys[y]) < 0;
    });
    std::vector<Value> out;
    for (size_t k : idx) out.push_back(items[k]);
    return in.make_list(std::move(out));
}

std::string html_unescape(const std::string &s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') { out += s[i]; continue; }
        size_t semi = s.find(';', i);
        if (semi == std::string::npos || semi - i > 10) { out += s[i]; continue; }
        std::string ent = s.substr(i + 1, semi - i - 1);
        uint32_t cp = 0;
        if (ent == "amp") cp = '&';
        else if (ent == "lt") cp = '<';
        else if (ent == "gt") cp = '>';
        else if (ent == "quot") cp = '"';
        else if (ent == "apos") cp = '\'';
        else if (ent == "nbsp") cp = 0xA0;
        else if (ent.size() > 1 && ent[0] == '#') {
            char *end = nullptr;
            long v = (ent[1] == 'x' || ent[1] == 'X') ? std::strtol(ent.c_str() + 2, &end, 16) : std::strtol(ent.c_str() + 1, &end, 10);
            if (end && *end == 0 && v > 0 && v <= 0x10FFFF) cp = static_cast<uint32_t>(v);
        }
        if (!cp) { out += s[i]; continue; }
        utf8_append(out, cp);
        i = semi;
    }
    return out;
}

Value f_striptags(Interp &in, const Value &v, CallArgs &) {
    std::string s = py_str(v);
    size_t start;
    while ((start = s.find("<!--")) != std::string::npos) {
        size_t end = s.find("-->", start);
        if (end == std::string::npos) break;
        s = s.substr(0, start) + s.substr(end + 3);
    }
    while ((start = s.find('<')) != std::string::npos) {
        size_t end = s.find('>', start);
        if (end == std::string::npos) break;
        s = s.substr(0, start) + s.substr(end + 1);
    }
    CallArgs none;
    Value parts;
    call_method(in, in.make_string(s), "split", none, parts);
    std::string joined;
    for (const Value &p : parts.list_obj().items) {
        if (!joined.empty()) joined += ' ';
        joined += p.str();
    }
    return in.make_string(html_unescape(joined));
}

Value f_sum(Interp &in, const Value &v, CallArgs &a) {
    const Value *attr = arg(a, 0, "attribute");
    const Value *start = arg(a, 1, "start");
    Value acc = start ? *start : Value::integer(0);
    for (const Value &item : in.iterate(v)) {
        Value x = attr && !attr->is_none() ? key_of(in, item, attr, true) : item;
        if (!acc.is_number() || !x.is_number()) {
            if (acc.is_list() && x.is_list()) {
                std::vector<Value> r = acc.list_obj().items;
                r.insert(r.end(), x.list_obj().items.begin(), x.list_obj().items.end());
                acc = in.make_list(std::move(r));
                continue;
            }
            throw_error("unsupported operand type(s) for +: '" + type_name(acc) + "' and '" + type_name(x) + "'");
        }
        acc = arith(in, '+', acc, x);
    }
    return acc;
}

Value f_title(Interp &in, const Value &v, CallArgs &) {
    // jinja2: split on runs of [-\s({\[<], upper-case the first char of each piece, lower the rest
    std::u32string u = to_u32(py_str(v)), r;
    auto sep = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c); };
    bool start = true;
    for (char32_t c : u) {
        if (sep(c)) { r += c; start = true; continue; }
        r += start ? static_cast<char32_t>(py_upper(c)) : static_cast<char32_t>(py_lower(c));
        start = false;
    }
    return in.make_string(from_u32(r));
}

Value f_tojson(Interp &in, const Value &v, CallArgs &a) {
    bool ensure_ascii = arg_bool(a, 0, "ensure_ascii", false);
    const Value *ind = arg(a, 1, "indent");
    const Value *seps = arg(a, 2, "separators");
    bool sort_keys = arg_bool(a, 3, "sort_keys", false);
    std::string indent_s;
    const std::string *indent = nullptr;
    if (ind && !ind->is_none()) {
        if (ind->is_string()) indent_s = ind->str();
        else if (ind->is_integral()) {
            if (ind->as_int() > 1000) throw_error("tojson indent too large (sandbox limit)");
            indent_s = std::string(static_cast<size_t>(std::max<int64_t>(0, ind->as_int())), ' ');
        } else throw_error("tojson indent must be an int or str");
        indent = &indent_s;
    }
    std::string item_sep = indent ? "," : ", ", key_sep = ": ";
    if (seps && !seps->is_none()) {
        auto parts = in.iterate(*seps);
        if (parts.size() != 2 || !parts[0].is_string() || !parts[1].is_string()) throw_error("separators must be a pair of strings");
        item_sep = parts[0].str();
        key_sep = parts[1].str();
    }
    in.steps_add(v.depth());
    return in.make_string(json_dump(v, indent, item_sep, key_sep, ensure_ascii, sort_keys));
}

Value f_truncate(Interp &in, const Value &v, CallArgs &a) {
    if (v.is_list() || v.is_dict()) {  // jinja2 measures len(value) before anything else
        const Value *l = arg(a, 0, "length");
        int64_t n = v.is_list() ? static_cast<int64_t>(v.list_obj().items.size()) : static_cast<int64_t>(v.dict_obj().items.size());
        if (n <= (l && l->is_integral() ? l->as_int() : 255) + 5) return v;
        throw_error("can only truncate strings");
    }
    if (!v.is_string() && !v.is_undefined()) throw_error("object of type '" + type_name(v) + "' has no len()");
    std::u32string s = to_u32(py_str(v));
    const Value *l = arg(a, 0, "length");
    bool killwords = arg_bool(a, 1, "killwords", false);
    const Value *e = arg(a, 2, "end");
    const Value *lw = arg(a, 3, "leeway");
    int64_t length = l && l->is_integral() ? l->as_int() : 255;
    std::u32string end = to_u32(e ? py_str(*e) : std::string("..."));
    int64_t leeway = lw && lw->is_integral() ? lw->as_int() : 5;
    if (length < static_cast<int64_t>(end.size())) throw_error("expected length >= " + std::to_string(end.size()) + ", got " + std::to_string(length));
    if (leeway < 0) throw_error("expected leeway >= 0");
    if (static_cast<int64_t>(s.size()) <= length + leeway) return str_of(in, v);
    std::u32string head = s.substr(0, static_cast<size_t>(length) - end.size());
    if (killwords) return in.make_string(from_u32(head + end));
    size_t sp = head.rfind(U' ');
    if (sp != std::u32string::npos) head = head.substr(0, sp);
    return in.make_string(from_u32(head + end));
}

Value f_unique(Interp &in, const Value &v, CallArgs &a) {
    bool cs = arg_bool(a, 0, "case_sensitive", false);
    const Value *attr = arg(a, 1, "attribute");
    std::vector<Value> out, seen;
    for (const Value &item : in.iterate(v)) {
        Value k = key_of(in, item, attr, cs);
        bool dup = false;
        for (const Value &s : seen)
            if (values_equal(s, k)) { dup = true; break; }
        in.steps_add(seen.size() / 16);
        if (dup) continue;
        seen.push_back(k);
        out.push_back(item);
    }
    return in.make_generator(std::move(out));
}

Value f_wordcount(Interp &, const Value &v, CallArgs &) {
    std::u32string u = to_u32(py_str(v));
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : u) {
        bool w = c == '_' || (c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0
                                       : (unicode_cat(c) == UCat::Letter || unicode_cat(c) == UCat::Number || unicode_cat(c) == UCat::Mark));
        if (w && !in_word) ++n;
        in_word = w;
    }
    return Value::integer(n);
}

std::string url_quote(const std::string &s, const char *safe) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~' || std::strchr(safe, c)) out += static_cast<char>(c);
        else {
            char b[4];
            std::snprintf(b, sizeof b, "%%%02X", c);
            out += b;
        }
    }
    return out;
}

Value f_urlencode(Interp &in, const Value &v, CallArgs &) {
    if (v.is_string()) return in.make_string(url_quote(v.str(), "/"));
    std::vector<std::pair<Value, Value>> pairs;
    if (v.is_dict()) pairs = v.dict_obj().items;
    else if (v.is_list()) {
        for (const Value &it : in.iterate(v)) {
            auto kv = in.iterate(it);
            if (kv.size() != 2) throw_error("urlencode expects pairs");
            pairs.emplace_back(kv[0], kv[1]);
        }
    } else return in.make_string(url_quote(py_str(v), "/"));
    std::string out;
    for (const auto &kv : pairs) {
        if (!out.empty()) out += '&';
        std::string k = url_quote(py_str(kv.first), ""), val = url_quote(py_str(kv.second), "");
        for (std::string *x : {&k, &val}) {  // quote_plus: spaces become '+'
            std::string y;
            for (size_t i = 0; i < x->size(); ++i) {
                if (x->compare(i, 3, "%20") == 0) { y += '+'; i += 2; }
                else y += (*x)[i];
            }
            *x = y;
        }
        out += k + "=" + val;
    }
    return in.make_string(std::move(out));
}

struct FilterEntry {
    const char *name;
    FilterFn fn;
    const char *params;  // comma-separated parameter names after the value; "*" = any arguments
};

// jinja2's filters are Python functions: too many arguments or an unknown keyword is a TypeError.
void check_args(const FilterEntry &f, const CallArgs &a) {
    if (std::strcmp(f.params, "*") == 0) return;
    std::vector<std::string> names;
    for (const char *p = f.params; *p;) {
        const char *c = std::strchr(p, ',');
        names.emplace_back(p, c ? static_cast<size_t>(c - p) : std::strlen(p));
        p = c ? c + 1 : p + std::strlen(p);
    }
    if (a.pos.size() > names.size())
        throw_error(std::string("filter '") + f.name + "' takes at most " + std::to_string(names.size()) +
                    " argument(s) but " + std::to_string(a.pos.size()) + " were given");
    for (const auto &kv : a.kw) {
        auto it = std::find(names.begin(), names.end(), kv.first);
        if (it == names.end()) throw_error(std::string("filter '") + f.name + "' got an unexpected keyword argument '" + kv.first + "'");
        if (static_cast<size_t>(it - names.begin()) < a.pos.size())
            throw_error(std::string("filter '") + f.name + "' got multiple values for argument '" + kv.first + "'");
    }
}

const FilterEntry k_filters[] = {
    {"abs", f_abs, ""},
    {"attr", f_attr, "name"},
    {"batch", f_batch, "linecount,fill_with"},
    {"capitalize", f_capitalize, ""},
    {"center", f_center, "width"},
    {"count", f_length, ""},
    {"d", f_default, "default_value,boolean"},
    {"default", f_default, "default_value,boolean"},
    {"dictsort", f_dictsort, "case_sensitive,by,reverse"},
    {"e", f_escape, ""},
    {"escape", f_escape, ""},
    {"first", f_first, ""},
    {"float", f_float, "default"},
    {"forceescape", f_forceescape, ""},
    {"format", f_format, "*"},
    {"groupby", f_groupby, "attribute,default,case_sensitive"},
    {"indent", f_indent, "width,first,blank"},
    {"int", f_int, "default,base"},
    {"items", f_items, ""},
    {"join", f_join, "d,attribute"},
    {"last", f_last, ""},
    {"length", f_length, ""},
    {"list", f_list, ""},
    {"lower", f_lower, ""},
    {"map", f_map, "*"},
    {"max", f_max, "case_sensitive,attribute"},
    {"min", f_min, "case_sensitive,attribute"},
    {"pprint", f_pprint, ""},
    {"reject", f_reject, "*"},
    {"rejectattr", f_rejectattr, "*"},
    {"replace", f_replace, "old,new,count"},
    {"reverse", f_reverse, ""},
    {"round", f_round, "precision,method"},
    {"safe", f_safe, ""},
    {"select", f_select, "*"},
    {"selectattr", f_selectattr, "*"},
    {"slice", f_slice, "slices,fill_with"},
    {"sort", f_sort, "reverse,case_sensitive,attribute"},
    {"string", f_string, ""},
    {"striptags", f_striptags, ""},
    {"sum", f_sum, "attribute,start"},
    {"title", f_title, ""},
    {"tojson", f_tojson, "ensure_ascii,indent,separators,sort_keys"},
    {"trim", f_trim, "chars"},
    {"truncate", f_truncate, "length,killwords,end,leeway"},
    {"unique", f_unique, "case_sensitive,attribute"},
    {"upper", f_upper, ""},
    {"urlencode", f_urlencode, ""},
    {"wordcount", f_wordcount, ""},
};

} // namespace

int32_t find_filter(std::string_view name) {
    for (size_t k = 0; k < sizeof k_filters / sizeof k_filters[0]; ++k)
        if (name == k_filters[k].name) return static_cast<int32_t>(k);
    return -1;
}
FilterFn filter_fn(int32_t index) { return k_filters[index].fn; }
const char *filter_name(int32_t index) { return k_filters[index].name; }

Value Interp::apply_filter(int32_t index, Value in, CallArgs &args) {
    step();
    const char *name = k_filters[index].name;
    // jinja2's default Undefined: filters that need the value itself fail on it
    if (in.is_undefined() && (std::strcmp(name, "tojson") == 0 || std::strcmp(name, "abs") == 0 ||
                              std::strcmp(name, "round") == 0 || std::strcmp(name, "attr") == 0 ||
                              std::strcmp(name, "dictsort") == 0 || std::strcmp(name, "batch") == 0 ||
                              std::strcmp(name, "slice") == 0 || std::strcmp(name, "int") == 0 ||
                              std::strcmp(name, "float") == 0))
        throw_error(std::strcmp(name, "tojson") == 0 ? "Object of type Undefined is not JSON serializable"
                                                     : (in.undef_info() && !in.undef_info()->hint.empty() ? in.undef_info()->hint : "value is undefined"));
    if (in.is_undefined() && in.undef_info() && in.undef_info()->security && std::strcmp(name, "default") != 0 &&
        std::strcmp(name, "d") != 0)
        throw_undefined(in);
    check_args(k_filters[index], args);
    return k_filters[index].fn(*this, in, args);
}

} // namespace llm4all::jinja
