// globals.cpp — the global names a template can call: range (the sandbox's
// 100000 cap), namespace and dict (HF's checked versions), raise_exception,
// strftime_now, cycler and joiner. No file, environment or process access exists here.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "interp.h"
#include "platform/platform.h"

namespace llm4all::jinja {

namespace {

struct CyclerObj : CallableObj {
    std::vector<Value> items;
    size_t pos = 0;
    std::weak_ptr<CyclerObj> self;
    Value call(Interp &, CallArgs &) override { throw_error("'Cycler' object is not callable"); }
    Value attr(Interp &in, std::string_view n) override;
};
struct CyclerMethod : CallableObj {
    std::shared_ptr<CyclerObj> c;
    Value call(Interp &, CallArgs &) override {
        if (name == "reset") { c->pos = 0; return Value::none(); }
        Value v = c->items[c->pos];
        c->pos = (c->pos + 1) % c->items.size();
        return v;
    }
};
Value CyclerObj::attr(Interp &, std::string_view n) {
    if (n == "current") return items[pos];
    if (n == "next" || n == "reset") {
        auto m = std::make_shared<CyclerMethod>();
        m->name = std::string(n);
        m->c = self.lock();
        return Value::callable(m);
    }
    return Value::undefined("'Cycler object' has no attribute '" + std::string(n) + "'");
}

Value g_fromkeys(Interp &in, CallArgs &a);

struct BuiltinFn : CallableObj {
    Value (*fn)(Interp &, CallArgs &);
    Value call(Interp &in, CallArgs &args) override { return fn(in, args); }
    Value attr(Interp &in, std::string_view n) override {
        if (name == "dict" && n == "fromkeys") {  // HF's TemplateDict.fromkeys
            auto b = std::make_shared<BuiltinFn>();
            b->name = "fromkeys";
            b->fn = g_fromkeys;
            return Value::callable(b);
        }
        return CallableObj::attr(in, n);
    }
};

Value g_fromkeys(Interp &in, CallArgs &a) {
    if (a.pos.empty() || a.pos.size() > 2) throw_error("fromkeys expected 1 or 2 arguments");
    auto d = std::make_shared<DictObj>();
    Value v = a.pos.size() > 1 ? a.pos[1] : Value::none();
    for (const Value &k : in.iterate(a.pos[0])) d->set(k, v);
    d->finish();
    in.charge(d->items.size() * 64 + 64);
    return Value::dict(d);
}

struct JoinerObj : CallableObj {
    std::string sep;
    bool used = false;
    Value call(Interp &in, CallArgs &) override {
        if (!used) { used = true; return in.make_string(""); }
        return in.make_string(sep);
    }
};

Value g_range(Interp &in, CallArgs &a) {
    int64_t start = 0, stop = 0, step = 1;
    auto num = [](const Value &v) {
        if (!v.is_integral()) throw_error("'" + type_name(v) + "' object cannot be interpreted as an integer");
        return v.as_int();
    };
    if (a.pos.size() == 1) stop = num(a.pos[0]);
    else if (a.pos.size() == 2) { start = num(a.pos[0]); stop = num(a.pos[1]); }
    else if (a.pos.size() == 3) { start = num(a.pos[0]); stop = num(a.pos[1]); step = num(a.pos[2]); }
    else throw_error("range expected 1 to 3 arguments");
    if (step == 0) throw_error("range() arg 3 must not be zero");
    double n = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
    if (n > 100000) throw_error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    std::vector<Value> items;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) items.push_back(Value::integer(i));
    Value r = in.make_list(std::move(items));
    ListObj &l = const_cast<ListObj &>(r.list_obj());
    l.is_range = true;
    l.r_start = start;
    l.r_stop = stop;
    l.r_step = step;
    return r;
}

} // namespace

void check_ns_name(const std::string &n) {
    if (!n.empty() && n[0] == '_')
        throw_error("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + n +
                    "'. Please rename the attribute.");
}

namespace {

Value dict_from_args(Interp &in, CallArgs &a, bool ns) {
    auto d = std::make_shared<DictObj>();
    if (a.pos.size() > 1) throw_error("dict expected at most 1 argument");
    if (!a.pos.empty()) {
        const Value &src = a.pos[0];
        if (src.is_dict() || src.is_namespace()) {
            *d = src.dict_obj();  // items and index at once
            in.steps_add(d->items.size() / 4);
        } else {
            for (const Value &item : in.iterate(src)) {
                auto pair = in.iterate(item);
                if (pair.size() != 2) throw_error("dictionary update sequence element has wrong length");
                d->set(pair[0], pair[1]);
            }
        }
    }
    for (auto &kv : a.kw) d->set(Value::string(kv.first), kv.second);
    if (ns)
        for (auto &kv : d->items) {
            if (kv.first.is_string()) check_ns_name(kv.first.str());
            if (kv.second.holds_namespace()) throw_error("a namespace cannot hold another namespace (sandbox)");
        }
    d->finish();
    in.charge(d->items.size() * 64 + 64);
    return ns ? Value::make_namespace(d) : Value::dict(d);
}

Value g_namespace(Interp &in, CallArgs &a) { return dict_from_args(in, a, true); }
Value g_dict(Interp &in, CallArgs &a) { return dict_from_args(in, a, false); }

Value g_raise(Interp &, CallArgs &a) {
    TemplateError e{a.pos.empty() ? std::string() : py_str(a.pos[0])};
    e.raised = true;
    throw e;
}

Value g_strftime(Interp &in, CallArgs &a) {
    const Value *f = a.get(0, "format");
    if (!f || !f->is_string()) throw_error("strftime_now expects a format string");
    if (f->str().size() > 256) throw_error("strftime_now format too long");
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    long micros = static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000);
    std::tm tm{};
    llm4all::platform::local_time(t, &tm);
    // datetime.now() is naive: %z and %Z are empty; %f is microseconds (Python's own)
    std::string fmt;
    const std::string &src = f->str();
    for (size_t i = 0; i < src.size(); ++i) {
        if (src[i] == '%' && i + 1 < src.size()) {
            char c = src[i + 1];
            if (c == 'z' || c == 'Z') { ++i; continue; }
            if (c == 'f') {
                char us[16];
                std::snprintf(us, sizeof us, "%06ld", micros);
                fmt += us;
                ++i;
                continue;
            }
            fmt += src[i];
            fmt += c;
            ++i;
            continue;
        }
        fmt += src[i];
    }
    if (fmt.empty()) return in.make_string("");
    char buf[2048];
    size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
    return in.make_string(std::string(buf, n));
}

Value g_cycler(Interp &, CallArgs &a) {
    if (a.pos.empty()) throw_error("at least one item has to be provided");
    auto c = std::make_shared<CyclerObj>();
    c->name = "cycler";
    c->items = a.pos;
    c->self = c;
    return Value::callable(c);
}

Value g_joiner(Interp &, CallArgs &a) {
    auto j = std::make_shared<JoinerObj>();
    j->name = "joiner";
    const Value *s = a.get(0, "sep");
    j->sep = s ? py_str(*s) : ", ";
    return Value::callable(j);
}


} // namespace

Value CallableObj::attr(Interp &, std::string_view n) {
    return Value::undefined("'function object' has no attribute '" + std::string(n) + "'");
}

Value make_global(std::string_view name) {
    Value (*fn)(Interp &, CallArgs &) = nullptr;
    if (name == "range") fn = g_range;
    else if (name == "namespace") fn = g_namespace;
    else if (name == "dict") fn = g_dict;
    else if (name == "raise_exception") fn = g_raise;
    else if (name == "strftime_now") fn = g_strftime;
    else if (name == "joiner") fn = g_joiner;
    else if (name == "cycler") fn = g_cycler;
    if (!fn) return Value();
    auto b = std::make_shared<BuiltinFn>();
    b->name = std::string(name);
    b->fn = fn;
    return Value::callable(b);
}


} // namespace llm4all::jinja
