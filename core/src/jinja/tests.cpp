// tests.cpp — jinja2's builtin tests ("x is defined", "n is divisibleby 3" ...),
// with Python's type model: bool counts as a number but not as an integer test.
#include <cmath>
#include <cstring>

#include "interp.h"

namespace llm4all::jinja {

namespace {

const Value &need(const CallArgs &a, size_t i, const char *name, const char *test) {
    const Value *v = a.get(i, name);
    if (!v) throw_error(std::string("test '") + test + "' needs an argument");
    return *v;
}

bool t_defined(Interp &, const Value &v, CallArgs &) { return !v.is_undefined(); }
bool t_undefined(Interp &, const Value &v, CallArgs &) { return v.is_undefined(); }
bool t_none(Interp &, const Value &v, CallArgs &) { return v.is_none(); }
bool t_boolean(Interp &, const Value &v, CallArgs &) { return v.is_bool(); }
bool t_false(Interp &, const Value &v, CallArgs &) { return v.is_bool() && !v.as_bool(); }
bool t_true(Interp &, const Value &v, CallArgs &) { return v.is_bool() && v.as_bool(); }
bool t_integer(Interp &, const Value &v, CallArgs &) { return v.is_int(); }
bool t_float(Interp &, const Value &v, CallArgs &) { return v.is_float(); }
bool t_number(Interp &, const Value &v, CallArgs &) { return v.is_number(); }
bool t_string(Interp &, const Value &v, CallArgs &) { return v.is_string(); }
bool t_mapping(Interp &, const Value &v, CallArgs &) { return v.is_dict(); }
bool t_iterable(Interp &, const Value &v, CallArgs &) {
    return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
}
bool t_sequence(Interp &, const Value &v, CallArgs &) {
    return v.is_string() || (v.is_list() && !v.is_generator()) || v.is_dict() || v.is_undefined();
}
bool t_callable(Interp &, const Value &v, CallArgs &) { return v.is_callable(); }
bool t_escaped(Interp &, const Value &, CallArgs &) { return false; }
bool t_sameas(Interp &, const Value &v, CallArgs &a) {
    const Value &o = need(a, 0, "other", "sameas");
    if (v.kind() != o.kind()) return false;
    switch (v.kind()) {
    case Value::Kind::None: case Value::Kind::Undefined: return true;
    case Value::Kind::Bool: return v.as_bool() == o.as_bool();
    case Value::Kind::Int: return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Value::Kind::String: return v.str_obj() == o.str_obj();
    case Value::Kind::List: return &v.list_obj() == &o.list_obj();
    case Value::Kind::Dict: case Value::Kind::Namespace: return &v.dict_obj() == &o.dict_obj();
    case Value::Kind::Callable: return &v.callable_obj() == &o.callable_obj();
    default: return false;
    }
}
bool t_in(Interp &in, const Value &v, CallArgs &a) {
    const Value &seq = need(a, 0, "seq", "in");
    if (seq.is_string()) {
        if (!v.is_string()) throw_error("'in <string>' requires string as left operand, not " + type_name(v));
        return seq.str().find(v.str()) != std::string::npos;
    }
    if (seq.is_dict()) return seq.dict_obj().find(v) != nullptr;
    for (const Value &x : in.iterate(seq))
        if (values_equal(x, v)) return true;
    return false;
}
bool t_eq(Interp &, const Value &v, CallArgs &a) { return values_equal(v, need(a, 0, "other", "eq")); }
bool t_ne(Interp &, const Value &v, CallArgs &a) { return !values_equal(v, need(a, 0, "other", "ne")); }
bool t_lt(Interp &, const Value &v, CallArgs &a) { return values_compare(v, need(a, 0, "other", "lt")) < 0; }
bool t_le(Interp &, const Value &v, CallArgs &a) { return values_compare(v, need(a, 0, "other", "le")) <= 0; }
bool t_gt(Interp &, const Value &v, CallArgs &a) { return values_compare(v, need(a, 0, "other", "gt")) > 0; }
bool t_ge(Interp &, const Value &v, CallArgs &a) { return values_compare(v, need(a, 0, "other", "ge")) >= 0; }
int64_t int_of(const Value &v, const char *test) {
    if (v.is_undefined()) throw_undefined(v);
    if (v.is_float()) {
        double d = v.as_double();
        return static_cast<int64_t>(d);  // only parity/divisibility of whole floats is meaningful
    }
    if (!v.is_integral()) throw_error(std::string("test '") + test + "' needs a number, got " + type_name(v));
    return v.as_int();
}
bool t_odd(Interp &, const Value &v, CallArgs &) {
    if (v.is_float()) {
        double m = std::fmod(v.as_double(), 2.0);
        if (m < 0) m += 2.0;
        return m == 1.0;
    }
    return int_of(v, "odd") % 2 != 0;
}
bool t_even(Interp &, const Value &v, CallArgs &) {
    if (v.is_float()) return std::fmod(v.as_double(), 2.0) == 0;
    return int_of(v, "even") % 2 == 0;
}
bool t_divisibleby(Interp &, const Value &v, CallArgs &a) {
    const Value &n = need(a, 0, "num", "divisibleby");
    if (v.is_float() || n.is_float()) {
        if (n.as_double() == 0) throw_error("float modulo");
        return std::fmod(v.as_double(), n.as_double()) == 0;
    }
    int64_t d = int_of(n, "divisibleby");
    if (d == 0) throw_error("integer division or modulo by zero");
    return int_of(v, "divisibleby") % d == 0;
}
bool t_lower(Interp &in, const Value &v, CallArgs &) {
    CallArgs none;
    Value r;
    call_method(in, v.is_string() ? v : Value::string(py_str(v)), "islower", none, r);
    return r.as_bool();
}
bool t_upper(Interp &in, const Value &v, CallArgs &) {
    CallArgs none;
    Value r;
    call_method(in, v.is_string() ? v : Value::string(py_str(v)), "isupper", none, r);
    return r.as_bool();
}
bool t_filter(Interp &, const Value &v, CallArgs &) { return v.is_string() && find_filter(v.str()) >= 0; }
bool t_test(Interp &, const Value &v, CallArgs &) { return v.is_string() && find_test(v.str()) >= 0; }

struct TestEntry {
    const char *name;
    TestFn fn;
};

const TestEntry k_tests[] = {
    {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none}, {"boolean", t_boolean},
    {"false", t_false}, {"true", t_true}, {"integer", t_integer}, {"float", t_float}, {"number", t_number},
    {"string", t_string}, {"mapping", t_mapping}, {"iterable", t_iterable}, {"sequence", t_sequence},
    {"callable", t_callable}, {"escaped", t_escaped}, {"sameas", t_sameas}, {"in", t_in},
    {"eq", t_eq}, {"equalto", t_eq}, {"==", t_eq}, {"ne", t_ne}, {"!=", t_ne}, {"lt", t_lt}, {"lessthan", t_lt},
    {"<", t_lt}, {"le", t_le}, {"<=", t_le}, {"gt", t_gt}, {"greaterthan", t_gt}, {">", t_gt}, {"ge", t_ge},
    {">=", t_ge}, {"odd", t_odd}, {"even", t_even}, {"divisibleby", t_divisibleby}, {"lower", t_lower},
    {"upper", t_upper}, {"filter", t_filter}, {"test", t_test},
};

} // namespace

int32_t find_test(std::string_view name) {
    for (size_t k = 0; k < sizeof k_tests / sizeof k_tests[0]; ++k)
        if (name == k_tests[k].name) return static_cast<int32_t>(k);
    return -1;
}
TestFn test_fn(int32_t index) { return k_tests[index].fn; }

bool Interp::apply_test(int32_t index, const Value &v, CallArgs &args) {
    step();
    return k_tests[index].fn(*this, v, args);
}

} // namespace llm4all::jinja
