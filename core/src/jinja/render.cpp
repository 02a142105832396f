// render.cpp — the interpreter: walks the AST with jinja2's scoping (a fresh
// scope per loop iteration, macros closing over the scope they were defined in),
// Python operator semantics, jinja2's default-Undefined rules and the sandbox
// limits (steps, output, memory, native stack, call depth). Also the public
// entry points declared in jinja.h.
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>

#include "bigint.h"
#include "error.h"
#include "interp.h"

namespace llm4all::jinja {

[[noreturn]] void throw_undefined(const Value &u) {
    const UndefInfo *info = u.undef_info();
    if (info && info->security) throw_error(info->hint);
    if (info && !info->hint.empty()) throw_error(info->hint);
    throw_error("value is undefined");
}

std::string str_for_print(const Value &v) { return py_str(v); }

const Value *CallArgs::get(size_t i, std::string_view name) const {
    if (i < pos.size()) return &pos[i];
    return kwarg(name);
}
const Value *CallArgs::kwarg(std::string_view name) const {
    for (const auto &kv : kw)
        if (kv.first == name) return &kv.second;
    return nullptr;
}

static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Interp::Interp(const TemplateImpl &t, const Limits &l) : tpl(t), lim(l) {
    if (lim.max_milliseconds) deadline_ns = now_ns() + static_cast<int64_t>(lim.max_milliseconds) * 1000000;
    next_check = std::min<uint64_t>(4096, lim.max_steps + 1);
}

void Interp::slow_check() {
    if (steps > lim.max_steps) throw_error("template exceeded the step limit (sandbox)");
    if (deadline_ns && now_ns() > deadline_ns) throw_error("template exceeded the time limit (sandbox)");
    next_check = std::min<uint64_t>(steps + 4096, lim.max_steps + 1);
}

void Interp::charge(uint64_t bytes) {
    allocated += bytes;
    steps_add(bytes >> 10);  // bulk work costs steps too (and reaches the time check)
    if (allocated > lim.max_alloc_bytes) throw_error("template exceeded the memory limit (sandbox)");
}

Value Interp::make_string(std::string s, bool markup) {
    if (s.size() > lim.max_string_bytes) throw_error("string too long (sandbox limit)");
    charge(s.size() + 96);  // the value's own bookkeeping counts too
    return Value::string(std::make_shared<const StrObj>(std::move(s), markup));
}

Value Interp::make_list(std::vector<Value> items, bool tuple) {
    if (items.size() > lim.max_list_items) throw_error("list too long (sandbox limit)");
    charge(items.size() * sizeof(Value) + 48);
    steps_add(items.size() / 4);
    return Value::list(std::move(items), tuple);
}

Value Interp::make_generator(std::vector<Value> items) {
    Value v = make_list(std::move(items));
    const_cast<ListObj &>(v.list_obj()).generator = true;
    return v;
}

void Interp::emit(std::string_view s) {
    if (out->size() + s.size() > lim.max_output_bytes) throw_error("template output too large (sandbox limit)");
    charge(s.size());
    out->append(s);
}

Value Interp::lookup(int32_t id, const Node &) {
    for (Frame *f = frame; f; f = f->parent) {
        if (Value *v = f->find(id)) return *v;
        if (f->captured)
            for (const auto &kv : *f->captured)
                if (kv.first == id) return kv.second;
        if (!f->parent) break;
    }
    size_t i = static_cast<size_t>(id);
    if (frame && tpl.root_local[i] && !root_assigned[i])
        return Value::undefined("'" + tpl.symbols[i] + "' is undefined");
    return root[i];
}

void Interp::assign(int32_t id, Value v) {
    if (frame) frame->set(id, std::move(v));
    else {
        root[static_cast<size_t>(id)] = std::move(v);
        root_assigned[static_cast<size_t>(id)] = true;
    }
}

std::vector<std::pair<int32_t, Value>> Interp::snapshot() const {
    std::vector<std::pair<int32_t, Value>> snap;
    auto add = [&](int32_t id, const Value &v) {
        for (const auto &kv : snap)
            if (kv.first == id) return;
        snap.emplace_back(id, v);
    };
    for (Frame *f = frame; f; f = f->parent) {
        for (const auto &kv : f->vars) add(kv.first, kv.second);
        if (f->captured)
            for (const auto &kv : *f->captured) add(kv.first, kv.second);
    }
    return snap;
}

// ---- macros and other callables ----------------------------------------------------

namespace {

struct MacroObj : CallableObj {
    const Node *def = nullptr;      // Macro or CallBlock node
    const Node *body = nullptr;
    size_t default_base = 1;        // index of the first default in def->kids
    std::vector<std::pair<int32_t, Value>> closure;
    Value caller;                   // for a call block's caller: none

    std::string repr() const override { return "<Macro '" + name + "'>"; }
    Value attr(Interp &in, std::string_view n) override {
        if (n == "name") return in.make_string(name);
        if (n == "arguments") {
            std::vector<Value> args;
            for (const auto &p : def->names) args.push_back(in.make_string(p));
            return in.make_list(std::move(args), true);
        }
        if (n == "catch_kwargs") return Value::boolean((def->op & 2) != 0);
        if (n == "catch_varargs") return Value::boolean((def->op & 1) != 0);
        if (n == "caller") return Value::boolean((def->op & 4) != 0);
        return Value::undefined("'Macro object' has no attribute '" + std::string(n) + "'");
    }

    Value call(Interp &in, CallArgs &args) override {
        if (++in.call_depth > in.lim.max_call_depth) throw_error("macro calls nested too deeply (sandbox limit)");
        Frame f;
        f.captured = &closure;
        Frame *saved_frame = in.frame;
        std::string *saved_out = in.out;
        std::string buf;
        struct Restore {
            Interp &in; Frame *fr; std::string *o;
            ~Restore() { in.frame = fr; in.out = o; --in.call_depth; }
        } restore{in, saved_frame, saved_out};
        in.frame = &f;
        const auto &names = def->names;
        size_t np = names.size();
        std::vector<bool> used_kw(args.kw.size(), false);
        for (size_t k = 0; k < np; ++k) {
            Value v;
            bool have = false;
            if (k < args.pos.size()) { v = args.pos[k]; have = true; }
            for (size_t j = 0; j < args.kw.size(); ++j)
                if (args.kw[j].first == names[k]) {
                    if (have) throw_error("macro '" + name + "' got multiple values for argument '" + names[k] + "'");
                    v = args.kw[j].second;
                    have = true;
                    used_kw[j] = true;
                }
            if (!have) {
                const Node *d = def->kids[default_base + k].get();
                if (d) v = in.eval(*d);
                else v = Value::undefined("parameter '" + names[k] + "' was not provided");
            }
            f.set(def->ids[k], std::move(v));
        }
        if (args.pos.size() > np && !(def->op & 1))
            throw_error("macro '" + name + "' takes not more than " + std::to_string(np) + " argument(s)");
        for (size_t j = 0; j < args.kw.size(); ++j) {
            if (used_kw[j]) continue;
            if (args.kw[j].first == "caller") {
                if (!(def->op & 4)) throw_error("macro '" + name + "' was invoked with two values for the special caller argument. This is most likely a bug.");
            } else if (!(def->op & 2))
                throw_error("macro '" + name + "' takes no keyword argument '" + args.kw[j].first + "'");
        }
        std::vector<Value> extra;
        for (size_t k = np; k < args.pos.size(); ++k) extra.push_back(args.pos[k]);
        auto kw = std::make_shared<DictObj>();
        Value caller_v;
        for (size_t j = 0; j < args.kw.size(); ++j) {
            if (used_kw[j]) continue;
            if (args.kw[j].first == "caller") caller_v = args.kw[j].second;
            else kw->set(Value::string(args.kw[j].first), args.kw[j].second);
        }
        kw->finish();
        // varargs / kwargs / caller are ordinary names in the macro's scope
        if (in.tpl.sym_varargs >= 0) f.set(in.tpl.sym_varargs, in.make_list(std::move(extra), true));
        if (in.tpl.sym_kwargs >= 0) f.set(in.tpl.sym_kwargs, Value::dict(kw));
        if (in.tpl.sym_caller >= 0 && !caller_v.is_undefined()) f.set(in.tpl.sym_caller, caller_v);
        in.out = &buf;
        in.exec(*body);
        return in.make_string(std::move(buf));
    }
};

// cycler(a, b, ...): .next(), .current, .reset(); not itself callable.
struct LoopMethod : CallableObj {
    std::shared_ptr<LoopObj> loop;
    bool changed = false;
    Value call(Interp &in, CallArgs &args) override {
        if (!changed) {
            if (args.pos.empty()) throw_error("no items for cycling given");
            return args.pos[static_cast<size_t>(loop->index0 % static_cast<int64_t>(args.pos.size()))];
        }
        Value v = in.make_list(args.pos, true);
        if (loop->changed_set && values_equal(loop->last_changed, v)) return Value::boolean(false);
        loop->last_changed = v;
        loop->changed_set = true;
        return Value::boolean(true);
    }
};

} // namespace

Value Interp::call_value(const Value &callee, CallArgs &args, const Node &) {
    if (callee.is_callable()) return callee.callable_obj().call(*this, args);
    if (callee.is_loop() && callee.loop_obj().node) {  // loop(children) in a recursive for
        if (args.pos.size() != 1) throw_error("loop() takes exactly one argument");
        if (++call_depth > lim.max_call_depth) throw_error("recursive loop nested too deeply (sandbox limit)");
        std::string buf;
        std::string *saved = out;
        out = &buf;
        try {
            exec_for(*callee.loop_obj().node, args.pos[0], callee.loop_obj().depth0 + 1);
        } catch (...) {
            out = saved;
            --call_depth;
            throw;
        }
        out = saved;
        --call_depth;
        return make_string(std::move(buf));
    }
    if (callee.is_undefined()) throw_undefined(callee);
    throw_error("'" + type_name(callee) + "' object is not callable");
}

// ---- attribute and item access --------------------------------------------------

static Value no_attr(const Value &obj, std::string_view name) {
    return Value::undefined("'" + type_name(obj) + " object' has no attribute '" + std::string(name) + "'");
}
static Value unsafe_attr(const Value &obj, std::string_view name) {
    return Value::undefined("access to attribute '" + std::string(name) + "' of '" + type_name(obj) +
                                "' object is unsafe.",
                            true);
}

static Value loop_attr(const std::shared_ptr<LoopObj> &lp, std::string_view name) {
    const LoopObj &l = *lp;
    if (name == "index0") return Value::integer(l.index0);
    if (name == "index") return Value::integer(l.index0 + 1);
    if (name == "revindex") return Value::integer(l.length - l.index0);
    if (name == "revindex0") return Value::integer(l.length - l.index0 - 1);
    if (name == "first") return Value::boolean(l.index0 == 0);
    if (name == "last") return Value::boolean(l.index0 == l.length - 1);
    if (name == "length") return Value::integer(l.length);
    if (name == "depth") return Value::integer(l.depth0 + 1);
    if (name == "depth0") return Value::integer(l.depth0);
    if (name == "previtem") {
        if (l.index0 == 0) return Value::undefined("there is no previous item");
        return l.items.list_obj().items[static_cast<size_t>(l.index0 - 1)];
    }
    if (name == "nextitem") {
        if (l.index0 + 1 >= l.length) return Value::undefined("there is no next item");
        return l.items.list_obj().items[static_cast<size_t>(l.index0 + 1)];
    }
    if (name == "cycle" || name == "changed") {
        auto m = std::make_shared<LoopMethod>();
        m->name = std::string(name);
        m->loop = lp;
        m->changed = name == "changed";
        return Value::callable(m);
    }
    return Value::undefined("'LoopContext object' has no attribute '" + std::string(name) + "'");
}

Value Interp::attribute(const Value &obj, std::string_view name) {
    switch (obj.kind()) {
    case Value::Kind::Undefined: throw_undefined(obj);
    case Value::Kind::Dict:
        if (has_method(obj, name)) return bound_method(obj, name);
        if (is_mutating_method(obj, name) || name.substr(0, 2) == "__") return unsafe_attr(obj, name);
        if (const Value *v = obj.dict_obj().find(name)) return *v;
        return no_attr(obj, name);
    case Value::Kind::Namespace:
        if (const Value *v = obj.dict_obj().find(name)) return *v;
        if (!name.empty() && name[0] == '_') return unsafe_attr(obj, name);
        return no_attr(obj, name);
    case Value::Kind::Loop:
        if (!name.empty() && name[0] == '_') return unsafe_attr(obj, name);
        return loop_attr(obj.loop_ptr(), name);
    case Value::Kind::Callable:
        if (!name.empty() && name[0] == '_') return unsafe_attr(obj, name);
        return obj.callable_obj().attr(*this, name);
    case Value::Kind::List:
        if (obj.list_obj().group && (name == "grouper" || name == "list"))
            return obj.list_obj().items[name == "grouper" ? 0 : 1];
        break;
    default: break;
    }
    if (!name.empty() && name[0] == '_') return unsafe_attr(obj, name);
    if (has_method(obj, name)) return bound_method(obj, name);
    if (is_mutating_method(obj, name)) return unsafe_attr(obj, name);
    return no_attr(obj, name);
}

Value Interp::subscript(const Value &obj, const Value &key) {
    switch (obj.kind()) {
    case Value::Kind::Undefined: throw_undefined(obj);
    case Value::Kind::List:
        if (obj.is_generator() || obj.list_obj().view) return Value::undefined("'" + type_name(obj) + " object' is not subscriptable");
        if (key.is_integral()) {
            const auto &items = obj.list_obj().items;
            int64_t i = key.as_int(), n = static_cast<int64_t>(items.size());
            if (i < 0) i += n;
            if (i < 0 || i >= n) return Value::undefined("'" + type_name(obj) + " object' has no element " + py_str(key));
            return items[static_cast<size_t>(i)];
        }
        break;
    case Value::Kind::String:
        if (key.is_integral()) {
            const std::string &s = obj.str();
            int64_t i = key.as_int();
            if (obj.str_obj()->is_ascii()) {
                int64_t n = static_cast<int64_t>(s.size());
                if (i < 0) i += n;
                if (i < 0 || i >= n) return Value::undefined("'str object' has no element " + py_str(key));
                return make_string(std::string(1, s[static_cast<size_t>(i)]));
            }
            std::u32string u = to_u32(s);
            int64_t n = static_cast<int64_t>(u.size());
            if (i < 0) i += n;
            if (i < 0 || i >= n) return Value::undefined("'str object' has no element " + py_str(key));
            return make_string(from_u32(u.substr(static_cast<size_t>(i), 1)));
        }
        break;
    case Value::Kind::Dict:
        if (const Value *v = obj.dict_obj().find(key)) return *v;
        if (key.is_string() && has_method(obj, key.str())) return bound_method(obj, key.str());
        return Value::undefined("'dict object' has no attribute " + py_repr(key));
    case Value::Kind::Namespace: case Value::Kind::Loop:
        if (key.is_string()) return attribute(obj, key.str());
        return Value::undefined("no item " + py_repr(key));
    default: break;
    }
    if (key.is_string()) return attribute(obj, key.str());
    return Value::undefined("'" + type_name(obj) + " object' has no element " + py_repr(key));
}

std::vector<Value> Interp::iterate(const Value &v) {
    switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return v.list_obj().items;
    case Value::Kind::Dict: {
        std::vector<Value> keys;
        keys.reserve(v.dict_obj().items.size());
        for (const auto &kv : v.dict_obj().items) keys.push_back(kv.first);
        return keys;
    }
    case Value::Kind::String: {
        std::vector<Value> chars;
        const std::string &s = v.str();
        for (size_t i = 0; i < s.size();) {
            size_t n = std::min(s.size() - i, static_cast<size_t>(1));
            unsigned char c = static_cast<unsigned char>(s[i]);
            n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            n = std::min(n, s.size() - i);
            chars.push_back(Value::string(s.substr(i, n)));
            i += n;
        }
        charge(chars.size() * 64);
        steps_add(chars.size() / 16);
        return chars;
    }
    default: throw_error("'" + type_name(v) + "' object is not iterable");
    }
}

// ---- expressions ------------------------------------------------------------------

static bool add_overflow(int64_t a, int64_t b, int64_t *r) { return __builtin_add_overflow(a, b, r); }
static bool sub_overflow(int64_t a, int64_t b, int64_t *r) { return __builtin_sub_overflow(a, b, r); }
static bool mul_overflow(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }

static const char *op_text(uint8_t op) {
    switch (op) {
    case '+': return "+"; case '-': return "-"; case '*': return "*"; case '/': return "/";
    case 'f': return "//"; case '%': return "%"; case 'p': return "**";
    }
    return "?";
}

static Value big_op(uint8_t op, const Value &a, const Value &b) {
    BigInt x = a.big_value(), y = b.big_value(), q, r;
    switch (op) {
    case '+': return Value::big(BigInt::add(x, y));
    case '-': return Value::big(BigInt::sub(x, y));
    case '*': return Value::big(BigInt::mul(x, y));
    case '/':
        if (y.is_zero()) throw_error("division by zero");
        return Value::number(x.to_double() / y.to_double());
    case 'f': case '%':
        BigInt::divmod(x, y, q, r);
        return Value::big(op == 'f' ? q : r);
    case 'p': {
        if (y.neg) return Value::number(std::pow(x.to_double(), y.to_double()));
        BigInt one = BigInt::from_int(1);
        BigInt mag = x;
        mag.neg = false;
        if (x.is_zero() || BigInt::compare(mag, one) == 0) return Value::big(BigInt::pow(x, y.is_zero() ? 0 : (y.limbs[0] & 1) ? 1 : 2));
        if (!y.fits_int64() || y.to_int64_saturated() > 20000) throw_error("integer too large (sandbox limit)");
        return Value::big(BigInt::pow(x, static_cast<uint64_t>(y.to_int64_saturated())));
    }
    }
    throw_error("bad operator");
}

Value arith(Interp &in, uint8_t op, const Value &a, const Value &b) {
    if (a.is_undefined()) throw_undefined(a);
    if (b.is_undefined()) throw_undefined(b);
    if (a.is_number() && b.is_number()) {
        bool fl = a.is_float() || b.is_float();
        if (!fl && (a.is_big() || b.is_big())) return big_op(op, a, b);
        if (!fl) {
            int64_t x = a.as_int(), y = b.as_int(), r = 0;
            switch (op) {
            case '+': if (add_overflow(x, y, &r)) return big_op(op, a, b); return Value::integer(r);
            case '-': if (sub_overflow(x, y, &r)) return big_op(op, a, b); return Value::integer(r);
            case '*': if (mul_overflow(x, y, &r)) return big_op(op, a, b); return Value::integer(r);
            case '/':
                if (y == 0) throw_error("division by zero");
                return Value::number(static_cast<double>(x) / static_cast<double>(y));
            case 'f': case '%': {
                if (y == 0) throw_error(op == 'f' ? "integer division or modulo by zero" : "integer modulo by zero");
                if (x == INT64_MIN && y == -1) return big_op(op, a, b);
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { --q; m += y; }
                return Value::integer(op == 'f' ? q : m);
            }
            case 'p': {
                if (y < 0) return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
                int64_t res = 1, base = x;
                for (int64_t e = y; e > 0; e >>= 1) {
                    if (e & 1)
                        if (mul_overflow(res, base, &res)) return big_op(op, a, b);
                    if (e > 1 && mul_overflow(base, base, &base)) return big_op(op, a, b);
                }
                return Value::integer(res);
            }
            }
        }
        double x = a.as_double(), y = b.as_double();
        switch (op) {
        case '+': return Value::number(x + y);
        case '-': return Value::number(x - y);
        case '*': return Value::number(x * y);
        case '/': if (y == 0) throw_error("float division by zero"); return Value::number(x / y);
        case 'f': if (y == 0) throw_error("float floor division by zero"); return Value::number(std::floor(x / y));
        case '%': {
            if (y == 0) throw_error("float modulo");
            double m = std::fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return Value::number(m);
        }
        case 'p': return Value::number(std::pow(x, y));
        }
    }
    if (op == '+') {
        if (a.is_string() && b.is_string()) {
            if (a.str().size() + b.str().size() > in.lim.max_string_bytes) throw_error("string too long (sandbox limit)");
            if (a.is_markup() || b.is_markup())  // Markup.__add__/__radd__ escape the plain side
                return in.make_string((a.is_markup() ? a.str() : html_escape(a.str())) +
                                          (b.is_markup() ? b.str() : html_escape(b.str())),
                                      true);
            return in.make_string(a.str() + b.str());
        }
        if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple() && !a.is_generator() && !b.is_generator() &&
            !a.list_obj().is_range && !b.list_obj().is_range) {
            const auto &x = a.list_obj().items, &y = b.list_obj().items;
            if (x.size() + y.size() > in.lim.max_list_items) throw_error("list too long (sandbox limit)");
            std::vector<Value> r;
            r.reserve(x.size() + y.size());
            r.insert(r.end(), x.begin(), x.end());
            r.insert(r.end(), y.begin(), y.end());
            return in.make_list(std::move(r), a.is_tuple());
        }
    }
    if (op == '*') {
        const Value *seq = nullptr, *cnt = nullptr;
        if ((a.is_string() || a.is_list()) && b.is_integral()) { seq = &a; cnt = &b; }
        else if ((b.is_string() || b.is_list()) && a.is_integral()) { seq = &b; cnt = &a; }
        if (seq) {
            int64_t n = std::max<int64_t>(0, cnt->as_int());
            if (seq->is_string()) {
                const std::string &s = seq->str();
                if (!s.empty() && static_cast<uint64_t>(n) > in.lim.max_string_bytes / s.size())
                    throw_error("string too long (sandbox limit)");
                std::string r;
                r.reserve(s.size() * static_cast<size_t>(n));
                for (int64_t i = 0; i < n; ++i) r += s;
                return in.make_string(std::move(r));
            }
            const auto &x = seq->list_obj().items;
            if (!x.empty() && static_cast<uint64_t>(n) > in.lim.max_list_items / x.size())
                throw_error("list too long (sandbox limit)");
            std::vector<Value> r;
            for (int64_t i = 0; i < n; ++i) r.insert(r.end(), x.begin(), x.end());
            return in.make_list(std::move(r), seq->is_tuple());
        }
    }
    if (op == '%' && a.is_string()) {
        if (!a.is_markup()) return py_percent_format(in, a.str(), b);
        // Markup % args escapes the arguments
        auto esc = [&](const Value &x) { return x.is_number() || x.is_markup() ? x : in.make_string(html_escape(py_str(x)), true); };
        Value args = b;
        if (b.is_tuple()) {
            std::vector<Value> items;
            for (const Value &x : b.list_obj().items) items.push_back(esc(x));
            args = in.make_list(std::move(items), true);
        } else if (!b.is_dict()) args = esc(b);
        Value r = py_percent_format(in, a.str(), args);
        return in.make_string(r.str(), true);
    }
    throw_error(std::string("unsupported operand type(s) for ") + op_text(op) + ": '" + type_name(a) + "' and '" +
                type_name(b) + "'");
}

static bool contains(Interp &in, const Value &container, const Value &item) {
    switch (container.kind()) {
    case Value::Kind::String:
        if (!item.is_string())
            throw_error("'in <string>' requires string as left operand, not " + type_name(item));
        return container.str().find(item.str()) != std::string::npos;
    case Value::Kind::List:
        for (const Value &v : container.list_obj().items)
            if (values_equal(v, item)) return true;
        return false;
    case Value::Kind::Dict:
        if ((item.is_list() && !item.is_tuple()) || item.is_dict()) throw_error("unhashable type: '" + type_name(item) + "'");
        return container.dict_obj().find(item) != nullptr;
    case Value::Kind::Undefined: return false;
    default: (void)in; throw_error("argument of type '" + type_name(container) + "' is not iterable");
    }
}

void Interp::bind_call_args(const Node &n, size_t first, CallArgs &args) {
    size_t k = first;
    for (int32_t p = 0; p < n.npos; ++p) args.pos.push_back(eval(*n.kids[k++]));
    for (const auto &name : n.names) args.kw.emplace_back(name, eval(*n.kids[k++]));
    if (n.op & 1) {
        Value star = eval(*n.kids[k++]);
        for (Value &v : iterate(star)) args.pos.push_back(std::move(v));
    }
    if (n.op & 2) {
        Value ds = eval(*n.kids[k++]);
        if (!ds.is_dict()) throw_error("argument after ** must be a mapping");
        for (const auto &kv : ds.dict_obj().items) args.kw.emplace_back(py_str(kv.first), kv.second);
    }
}

Value Interp::eval(const Node &n) {
    step();
    try {
        switch (n.kind) {
        case NK::Const: return n.value;
        case NK::Name: return lookup(n.id, n);
        case NK::Capture: return capture;
        case NK::ListLit: case NK::TupleLit: {
            check_stack();
            std::vector<Value> items;
            items.reserve(n.kids.size());
            for (const auto &k : n.kids) items.push_back(eval(*k));
            return make_list(std::move(items), n.kind == NK::TupleLit);
        }
        case NK::DictLit: {
            check_stack();
            auto d = std::make_shared<DictObj>();
            for (size_t k = 0; k + 1 < n.kids.size(); k += 2) {
                Value key = eval(*n.kids[k]);
                if (key.is_list() && !key.is_tuple()) throw_error("unhashable type: 'list'");
                if (key.is_dict()) throw_error("unhashable type: 'dict'");
                d->set(std::move(key), eval(*n.kids[k + 1]));
            }
            d->finish();
            charge(d->items.size() * 64 + 64);
            return Value::dict(d);
        }
        case NK::Attr: return attribute(eval(*n.kids[0]), n.text);
        case NK::Item: {
            Value obj = eval(*n.kids[0]);
            return subscript(obj, eval(*n.kids[1]));
        }
        case NK::Slice: {
            Value obj = eval(*n.kids[0]);
            Value a = n.kids[1] ? eval(*n.kids[1]) : Value::none();
            Value b = n.kids[2] ? eval(*n.kids[2]) : Value::none();
            Value c = n.kids[3] ? eval(*n.kids[3]) : Value::none();
            return slice_value(*this, obj, a, b, c);
        }
        case NK::Call: {
            check_stack();
            const Node &callee = *n.kids[0];
            CallArgs args;
            if (callee.kind == NK::Attr) {
                Value obj = eval(*callee.kids[0]);
                if (obj.is_undefined()) throw_undefined(obj);
                bind_call_args(n, 1, args);
                Value result;
                if (obj.kind() != Value::Kind::Namespace && obj.kind() != Value::Kind::Loop &&
                    call_method(*this, obj, callee.text, args, result))
                    return result;
                Value f = attribute(obj, callee.text);
                return call_value(f, args, n);
            }
            Value f = eval(callee);
            bind_call_args(n, 1, args);
            return call_value(f, args, n);
        }
        case NK::Filter: {
            check_stack();
            Value in = n.kids[0]->kind == NK::Capture ? capture : eval(*n.kids[0]);
            if (n.id < 0) throw_error("no filter named '" + n.text + "'");
            CallArgs args;
            bind_call_args(n, 1, args);
            return apply_filter(n.id, std::move(in), args);
        }
        case NK::Test: {
            check_stack();
            Value v = eval(*n.kids[0]);
            if (n.id < 0) throw_error("no test named '" + n.text + "'");
            CallArgs args;
            bind_call_args(n, 1, args);
            bool r = apply_test(n.id, v, args);
            return Value::boolean(n.flag ? !r : r);
        }
        case NK::Neg: case NK::Pos: {
            Value v = eval(*n.kids[0]);
            if (v.is_undefined()) throw_undefined(v);
            if (!v.is_number()) throw_error(std::string("bad operand type for unary ") + (n.kind == NK::Neg ? "-" : "+") + ": '" + type_name(v) + "'");
            if (n.kind == NK::Pos) return v.is_bool() ? Value::integer(v.as_int()) : v;
            if (v.is_float()) return Value::number(-v.as_double());
            if (v.is_big() || v.as_int() == INT64_MIN) return Value::big(BigInt::sub(BigInt(), v.big_value()));
            return Value::integer(-v.as_int());
        }
        case NK::Not: return Value::boolean(!eval(*n.kids[0]).truthy());
        case NK::Binary: {
            check_stack();
            Value a = eval(*n.kids[0]);
            Value b = eval(*n.kids[1]);
            return arith(*this, n.op, a, b);
        }
        case NK::Concat: {
            check_stack();
            std::string s;
            for (const auto &k : n.kids) {
                Value v = eval(*k);
                if (v.is_string()) s += v.str();
                else s += py_str(v);
                if (s.size() > lim.max_string_bytes) throw_error("string too long (sandbox limit)");
            }
            return make_string(std::move(s));
        }
        case NK::Compare: {
            check_stack();
            Value left = eval(*n.kids[0]);
            for (size_t k = 0; k < n.ids.size(); ++k) {
                Value right = eval(*n.kids[k + 1]);
                bool r;
                switch (n.ids[k]) {
                case 1: r = values_equal(left, right); break;
                case 2: r = !values_equal(left, right); break;
                case 3: r = values_compare(left, right) < 0; break;
                case 4: r = values_compare(left, right) <= 0; break;
                case 5: r = values_compare(left, right) > 0; break;
                case 6: r = values_compare(left, right) >= 0; break;
                case 7: r = contains(*this, right, left); break;
                default: r = !contains(*this, right, left); break;
                }
                if (!r) return Value::boolean(false);
                left = std::move(right);
            }
            return Value::boolean(true);
        }
        case NK::And: {
            Value a = eval(*n.kids[0]);
            if (!a.truthy()) return a;
            return eval(*n.kids[1]);
        }
        case NK::Or: {
            Value a = eval(*n.kids[0]);
            if (a.truthy()) return a;
            return eval(*n.kids[1]);
        }
        case NK::CondExpr: {
            check_stack();
            if (eval(*n.kids[0]).truthy()) return eval(*n.kids[1]);
            if (n.kids[2]) return eval(*n.kids[2]);
            return Value::undefined("the inline if-expression evaluated to false and no else section was defined.");
        }
        default: throw_error("internal error: statement used as expression");
        }
    } catch (TemplateError &e) {
        if (e.line == 0) { e.line = n.line; e.col = n.col; }
        throw;
    }
}

// ---- statements ------------------------------------------------------------------

std::string Interp::render_body(const Node &body, Flow *flow, bool own_scope) {
    std::string buf;
    std::string *saved = out;
    Frame *saved_frame = frame;
    Frame f;  // filter and set blocks are scopes of their own in jinja2
    f.parent = frame;
    if (own_scope) frame = &f;
    out = &buf;
    Flow fl;
    try {
        fl = exec(body);
    } catch (...) {
        out = saved;
        frame = saved_frame;
        throw;
    }
    out = saved;
    frame = saved_frame;
    if (flow) *flow = fl;
    return buf;
}

static void unpack(Interp &in, const Node &target, const Value &v, Frame *into) {
    auto set = [&](int32_t id, Value x) {
        if (into) into->set(id, std::move(x));
        else in.assign(id, std::move(x));
    };
    if (target.kind == NK::Name) { set(target.id, v); return; }
    std::vector<Value> items = in.iterate(v);
    if (items.size() != target.kids.size())
        throw_error(items.size() > target.kids.size() ? "too many values to unpack (expected " + std::to_string(target.kids.size()) + ")"
                                                      : "not enough values to unpack (expected " + std::to_string(target.kids.size()) + ", got " + std::to_string(items.size()) + ")");
    for (size_t k = 0; k < items.size(); ++k) set(target.kids[k]->id, std::move(items[k]));
}

static std::shared_ptr<MacroObj> make_macro(Interp &in, const Node &def, const Node &body, size_t default_base,
                                            std::string name) {
    auto m = std::make_shared<MacroObj>();
    m->name = std::move(name);
    m->def = &def;
    m->body = &body;
    m->default_base = default_base;
    m->closure = in.snapshot();
    return m;
}

Flow Interp::exec(const Node &n) {
    step();
    try {
        switch (n.kind) {
        case NK::Body:
            check_stack();
            for (const auto &k : n.kids) {
                Flow f = exec(*k);
                if (f != Flow::Normal) return f;
            }
            return Flow::Normal;
        case NK::Data: emit(n.text); return Flow::Normal;
        case NK::Output: {
            Value v = eval(*n.kids[0]);
            if (autoescape && !v.is_markup()) emit(html_escape(py_str(v)));
            else if (v.is_string()) emit(v.str());
            else emit(py_str(v));
            return Flow::Normal;
        }
        case NK::If: {
            size_t pairs = n.kids.size() / 2;
            for (size_t k = 0; k < pairs; ++k)
                if (eval(*n.kids[2 * k]).truthy()) return exec(*n.kids[2 * k + 1]);
            if (n.flag) return exec(*n.kids.back());
            return Flow::Normal;
        }
        case NK::For: {
            Value seq = eval(*n.kids[1]);
            if (seq.is_undefined() && seq.undef_info() && seq.undef_info()->security) throw_undefined(seq);
            return exec_for(n, seq, 0);
        }
        case NK::Set: {
            Value v = eval(*n.kids[1]);
            const Node &t = *n.kids[0];
            if (t.kind == NK::Attr) {
                Value ns = lookup(t.kids[0]->id, t);
                if (!ns.is_namespace()) throw_error("cannot assign attribute on non-namespace object");
                check_ns_name(t.text);
                if (v.holds_namespace()) throw_error("a namespace cannot hold another namespace (sandbox)");
                DictObj &d = ns.ns_obj();
                d.set(Value::string(t.text), std::move(v));
                d.finish();
                return Flow::Normal;
            }
            unpack(*this, t, v, nullptr);
            return Flow::Normal;
        }
        case NK::SetBlock: {
            Flow fl;
            std::string s = render_body(*n.kids[1], &fl, true);
            if (fl != Flow::Normal) return fl;  // break/continue inside: the block is dropped
            Value v = make_string(std::move(s));
            if (n.kids[2]) {
                Value saved = capture;
                capture = v;
                v = eval(*n.kids[2]);
                capture = saved;
            }
            assign(n.kids[0]->id, std::move(v));
            return Flow::Normal;
        }
        case NK::Macro: {
            assign(n.id, Value::callable(make_macro(*this, n, *n.kids[0], 1, n.text)));
            return Flow::Normal;
        }
        case NK::CallBlock: {
            auto caller = make_macro(*this, n, *n.kids[0], 2, "caller");
            const Node &call = *n.kids[1];
            CallArgs args;
            Value f;
            if (call.kids[0]->kind == NK::Attr) {
                Value obj = eval(*call.kids[0]->kids[0]);
                f = attribute(obj, call.kids[0]->text);
            } else f = eval(*call.kids[0]);
            bind_call_args(call, 1, args);
            args.kw.emplace_back("caller", Value::callable(caller));
            Value r = call_value(f, args, call);
            if (r.is_string()) emit(r.str());
            else emit(py_str(r));
            return Flow::Normal;
        }
        case NK::FilterBlock: {
            Flow fl;
            std::string s = render_body(*n.kids[1], &fl, true);
            if (fl != Flow::Normal) return fl;
            Value saved = capture;
            capture = make_string(std::move(s));
            Value r = eval(*n.kids[0]);
            capture = saved;
            emit(py_str(r));
            return Flow::Normal;
        }
        case NK::With: {
            Frame f;
            f.parent = frame;
            for (size_t k = 1; k + 1 < n.kids.size(); k += 2) unpack(*this, *n.kids[k], eval(*n.kids[k + 1]), &f);
            Frame *saved = frame;
            frame = &f;
            Flow fl;
            try { fl = exec(*n.kids[0]); } catch (...) { frame = saved; throw; }
            frame = saved;
            return fl;
        }
        case NK::Scope: {
            Frame f;
            f.parent = frame;
            Frame *saved = frame;
            bool saved_escape = autoescape;
            if (n.kids.size() > 1) autoescape = eval(*n.kids[1]).truthy();  // {% autoescape expr %}
            frame = &f;
            Flow fl;
            try { fl = exec(*n.kids[0]); } catch (...) { frame = saved; autoescape = saved_escape; throw; }
            frame = saved;
            autoescape = saved_escape;
            return fl;
        }
        case NK::Break: return Flow::Break;
        case NK::Continue: return Flow::Continue;
        default: {
            Value v = eval(n);
            emit(py_str(v));
            return Flow::Normal;
        }
        }
    } catch (TemplateError &e) {
        if (e.line == 0) { e.line = n.line; e.col = n.col; }
        throw;
    }
}

Flow Interp::exec_for(const Node &n, const Value &seq, int64_t depth0) {
    check_stack();
    const Node &target = *n.kids[0];
    std::vector<Value> items = iterate(seq);
    if (n.kids[2]) {  // {% for x in y if cond %}: filter first, loop.length counts what is left
        std::vector<Value> kept;
        for (Value &v : items) {
            Frame f;
            f.parent = frame;
            unpack(*this, target, v, &f);
            Frame *saved = frame;
            frame = &f;
            bool keep;
            try { keep = eval(*n.kids[2]).truthy(); } catch (...) { frame = saved; throw; }
            frame = saved;
            if (keep) kept.push_back(std::move(v));
        }
        items = std::move(kept);
    }
    if (items.empty()) {
        if (n.kids[4]) return exec(*n.kids[4]);  // break/continue here belong to an outer loop
        return Flow::Normal;
    }
    auto lp = std::make_shared<LoopObj>();
    lp->length = static_cast<int64_t>(items.size());
    lp->items = Value::list(std::move(items));
    lp->depth0 = depth0;
    lp->node = n.flag ? &n : nullptr;
    Value loop_v = Value::loop(lp);
    int32_t loop_id = tpl.sym_loop;
    const auto &list = lp->items.list_obj().items;
    Frame *saved = frame;
    bool completed = false;  // jinja2 runs the else block when no iteration reached the end of the body
    for (size_t k = 0; k < list.size(); ++k) {
        step();
        lp->index0 = static_cast<int64_t>(k);
        Frame f;
        f.parent = saved;
        frame = &f;
        Flow fl;
        try {
            unpack(*this, target, list[k], &f);
            if (loop_id >= 0) f.set(loop_id, loop_v);
            fl = exec(*n.kids[3]);
        } catch (...) {
            frame = saved;
            throw;
        }
        frame = saved;
        if (fl == Flow::Normal) completed = true;
        if (fl == Flow::Break) break;
    }
    if (!completed && n.kids[4]) return exec(*n.kids[4]);
    return Flow::Normal;
}

// ---- public entry points -------------------------------------------------------------

static std::string format_error(const TemplateError &e) {
    std::string where = "template line " + std::to_string(e.line ? e.line : 1) + ", column " +
                        std::to_string(e.col ? e.col : 1);
    if (e.raised) return "template raised: " + e.message + " (" + where + ")";
    return where + ": " + e.message;
}

Template Template::parse(std::string_view src, const Limits &limits) {
    Template t;
    try {
        t.impl_ = parse_template(src, limits);
    } catch (const TemplateError &e) {
        fail(LLM4ALL_ERR_TEMPLATE, format_error(e));
    }
    return t;
}

// Bytes of text (strings and keys) in a render's context. Depth is bounded by the JSON
// reader; the bound here only keeps a hand-built context from running away.
static uint64_t text_bytes(const Value &v, int depth = 0) {
    if (depth > 512) return 0;
    if (v.is_string()) return v.str().size();
    uint64_t n = 0;
    if (v.is_list()) {
        for (const Value &x : v.list_obj().items) n += text_bytes(x, depth + 1);
    } else if (v.is_dict()) {
        for (const auto &kv : v.dict_obj().items) n += text_bytes(kv.first, depth + 1) + text_bytes(kv.second, depth + 1);
    }
    return n;
}

std::string Template::render(const Value &ctx, const Limits &limits) const {
    if (!impl_) fail(LLM4ALL_ERR_TEMPLATE, "template not parsed");
    if (!ctx.is_dict()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "template context must be a JSON object");
    // The time backstop grows with the conversation: rendering is linear in its text (about
    // 0.3 ms per KiB here), so a long context on a slow machine must not hit a fixed 500 ms.
    Limits lim = limits;
    if (lim.max_milliseconds) {
        const uint64_t ms = lim.max_milliseconds + text_bytes(ctx) / 1024 * k_render_ms_per_kib;
        lim.max_milliseconds = static_cast<uint32_t>(std::min<uint64_t>(ms, UINT32_MAX));
    }
    Interp in(*impl_, lim);
    char base;
    in.stack_base = &base;
    in.root.resize(impl_->symbols.size());
    in.root_assigned.assign(impl_->symbols.size(), false);
    const DictObj &d = ctx.dict_obj();
    for (size_t i = 0; i < impl_->symbols.size(); ++i) {
        const std::string &name = impl_->symbols[i];
        if (const Value *v = d.find(name)) in.root[i] = *v;
        else {
            Value g = make_global(name);
            in.root[i] = g.is_undefined() ? Value::undefined("'" + name + "' is undefined") : g;
        }
    }
    std::string out;
    in.out = &out;
    try {
        in.exec(*impl_->root);
    } catch (const TemplateError &e) {
        fail(LLM4ALL_ERR_TEMPLATE, format_error(e));
    }
    return out;
}

Value make_dict(std::vector<std::pair<std::string, Value>> items) {
    auto d = std::make_shared<DictObj>();
    for (auto &kv : items) d->set(Value::string(std::move(kv.first)), std::move(kv.second));
    d->finish();
    return Value::dict(d);
}

std::string render(std::string_view src, std::string_view context_json) {
    Value ctx = context_from_json(context_json);
    return Template::parse(src).render(ctx);
}

} // namespace llm4all::jinja
