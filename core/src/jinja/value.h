// value.h — the values a Jinja template computes with, modelled on the Python
// objects jinja2 sees: undefined, None, bool, int, float, str, list/tuple, dict
// (insertion-ordered), namespace, loop, callables. Strings, lists and dicts are
// shared and immutable once built (the immutable sandbox refuses mutation), so a
// copy of a Value is a refcount bump; only a namespace is mutable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace llm4all::jinja {

class Value;
struct BigInt;
struct ListObj;
struct DictObj;
struct CallableObj;
struct LoopObj;

// A failure while parsing or rendering. line/col are filled by the innermost AST
// node the error passes through (0 = not yet known).
struct TemplateError {
    std::string message;
    uint32_t line = 0, col = 0;
    bool raised = false;  // from raise_exception(): reported as "template raised: ..."
};
[[noreturn]] void throw_error(std::string message);

struct StrObj {
    std::string s;
    mutable int8_t ascii = -1;  // cached: -1 unknown, 0 no, 1 yes
    bool markup = false;        // markupsafe.Markup (from |safe / |escape): '+' escapes a plain str
    explicit StrObj(std::string v, bool m = false) : s(std::move(v)), markup(m) {}
    bool is_ascii() const;
};

// Why an undefined value is undefined: printed in the error raised when it is
// used in a way jinja2's default Undefined refuses (call, attribute, arithmetic).
struct UndefInfo {
    std::string hint;
    bool security = false;  // an unsafe attribute (sandbox): SecurityError on use
};

class Value {
public:
    enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Callable, Loop };

    Value() : kind_(Kind::Undefined) { i_ = 0; }
    static Value undefined(std::string hint = std::string(), bool security = false);
    static Value none() { Value v; v.kind_ = Kind::None; return v; }
    static Value boolean(bool b) { Value v; v.kind_ = Kind::Bool; v.b_ = b; return v; }
    static Value integer(int64_t i) { Value v; v.kind_ = Kind::Int; v.i_ = i; return v; }
    static Value number(double f) { Value v; v.kind_ = Kind::Float; v.f_ = f; return v; }
    static Value big(const BigInt &b);  // an int beyond int64 (an int64 one if it fits)
    static Value string(std::string s);
    static Value string(std::shared_ptr<const StrObj> s);
    static Value list(std::vector<Value> items, bool tuple = false);
    static Value list(std::shared_ptr<ListObj> l);
    static Value dict(std::shared_ptr<DictObj> d);
    static Value make_namespace(std::shared_ptr<DictObj> d);
    static Value callable(std::shared_ptr<CallableObj> c);
    static Value loop(std::shared_ptr<LoopObj> l);

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::Undefined; }
    bool is_none() const { return kind_ == Kind::None; }
    bool is_bool() const { return kind_ == Kind::Bool; }
    bool is_int() const { return kind_ == Kind::Int; }   // bool is not int here; see is_integral
    bool is_float() const { return kind_ == Kind::Float; }
    bool is_big() const { return kind_ == Kind::Int && p_ != nullptr; }
    BigInt big_value() const;  // any integral value as a BigInt
    bool is_integral() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // Python: bool is an int
    bool is_number() const { return is_integral() || kind_ == Kind::Float; }
    bool is_string() const { return kind_ == Kind::String; }
    bool is_markup() const;
    bool is_list() const { return kind_ == Kind::List; }
    bool is_dict() const { return kind_ == Kind::Dict; }
    bool is_namespace() const { return kind_ == Kind::Namespace; }
    bool is_callable() const { return kind_ == Kind::Callable; }
    bool is_loop() const { return kind_ == Kind::Loop; }

    bool as_bool() const { return b_; }
    int64_t as_int() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; }  // big: saturated
    double as_double() const;
    const std::string &str() const;  // String only
    const StrObj *str_obj() const;
    const ListObj &list_obj() const;   // List only
    const DictObj &dict_obj() const;   // Dict or Namespace
    DictObj &ns_obj() const;           // Namespace only (mutable)
    std::shared_ptr<ListObj> list_ptr() const;
    std::shared_ptr<DictObj> dict_ptr() const;
    CallableObj &callable_obj() const;
    LoopObj &loop_obj() const;
    std::shared_ptr<LoopObj> loop_ptr() const;
    const UndefInfo *undef_info() const;

    // Nesting depth (1 for scalars) and whether a namespace is reachable inside:
    // used to refuse cycles and over-deep values.
    uint32_t depth() const;
    bool holds_namespace() const;

    bool truthy() const;  // Python's bool()
    bool is_tuple() const;
    bool is_generator() const;

private:
    Kind kind_;
    union {
        bool b_;
        int64_t i_;
        double f_;
    };
    std::shared_ptr<const void> p_;
};

struct ListObj {
    std::vector<Value> items;
    bool tuple = false;
    bool generator = false;  // what jinja2 returns as a generator (map, select ...): no len(),
                             // always true, not JSON-serializable, not subscriptable
    bool group = false;      // groupby's (grouper, list) namedtuple
    uint8_t view = 0;        // dict.keys()/values()/items(): 1/2/3 (printed as such, not JSON)
    bool is_range = false;   // range(start, stop, step): printed as such, not JSON
    int64_t r_start = 0, r_stop = 0, r_step = 1;
    uint32_t depth = 1;
    bool has_ns = false;
    void finish();  // computes depth/has_ns from items
};

// Insertion-ordered mapping with Python equality on keys; string keys are
// indexed by a hash map once the dict is not tiny.
struct DictObj {
    std::vector<std::pair<Value, Value>> items;
    uint32_t depth = 1;
    bool has_ns = false;

    const Value *find(const Value &key) const;
    const Value *find(std::string_view key) const;
    void set(Value key, Value value);  // replaces in place when present
    void finish();                     // recomputes depth/has_ns

private:
    std::unordered_map<std::string_view, size_t> index_;  // views into the keys' StrObj (shared, stable)
    void reindex();
};

// Python semantics helpers.
bool values_equal(const Value &a, const Value &b);
// -1/0/1; throws TemplateError for types Python cannot order.
int values_compare(const Value &a, const Value &b);
std::string type_name(const Value &v);   // Python's type name: 'str', 'int', 'dict' ...
std::string float_repr(double d);        // Python repr(float)
// str(v) as jinja2 prints it / repr(v); throw TemplateError past `limit` bytes.
std::string py_str(const Value &v, size_t limit = 64u << 20);
std::string py_repr(const Value &v, size_t limit = 64u << 20);
void py_repr_string(std::string &out, std::string_view s);

} // namespace llm4all::jinja
