// interp.h — the engine's insides shared by the parser, the interpreter and the
// builtins: the AST, the render state (scopes, limits, output) and the tables of
// filters, tests, methods and globals. Not for users of the engine: see jinja.h.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jinja.h"
#include "value.h"

namespace llm4all::jinja {

constexpr uint32_t k_max_value_depth = 256;  // nesting of lists/dicts (JSON input and built values)

// ---- AST ------------------------------------------------------------------------

enum class NK : uint8_t {
    // expressions
    Const, Name, ListLit, TupleLit, DictLit, Attr, Item, Slice, Call, Filter, Test,
    Neg, Pos, Not, Binary, Concat, Compare, And, Or, CondExpr, Capture,
    // statements
    Body, Data, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, With, Scope,
    Break, Continue,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
    NK kind;
    bool flag = false;      // Test: negated; For: recursive; If: has else; Call: has *args / **kwargs
    uint8_t op = 0;         // Binary: operator; Call: bit0 *args, bit1 **kwargs
    uint32_t line = 0, col = 0;
    int32_t id = -1;        // Name/Macro: symbol; Filter/Test: table index
    int32_t npos = 0;       // Call/Filter/Test: positional argument count
    Value value;            // Const
    std::string text;       // Data text, Attr name, Filter/Test/Macro name
    std::vector<NodePtr> kids;
    std::vector<std::string> names;  // keyword argument names; Macro/CallBlock parameter names
    std::vector<int32_t> ids;        // Compare: operators; Macro/CallBlock: parameter symbols
};

struct TemplateImpl {
    NodePtr root;
    std::vector<std::string> symbols;  // symbol id -> variable name
    int32_t sym_loop = -1, sym_varargs = -1, sym_kwargs = -1, sym_caller = -1;  // -1: unused
    // Names the top level assigns unconditionally ({% set %} / {% macro %} directly in it): as in
    // jinja2, loops and macros read them as the template's own variable (undefined until the
    // assignment has run), not as the context's value.
    std::vector<bool> root_local;
};

// Parses src (after jinja2's newline normalisation) into an AST; throws TemplateError.
std::shared_ptr<TemplateImpl> parse_template(std::string_view src, const Limits &limits);

// ---- calls ---------------------------------------------------------------------------

struct CallArgs {
    std::vector<Value> pos;
    std::vector<std::pair<std::string, Value>> kw;
    // positional i, else keyword name; nullptr if neither
    const Value *get(size_t i, std::string_view name) const;
    const Value *kwarg(std::string_view name) const;
};

class Interp;

struct CallableObj {
    std::string name;
    virtual ~CallableObj() = default;
    virtual Value call(Interp &in, CallArgs &args) = 0;
    virtual Value attr(Interp &in, std::string_view name);  // default: undefined
    virtual std::string repr() const { return "<function " + name + ">"; }
};

struct LoopObj {
    Value items;  // the list iterated
    int64_t index0 = 0;
    int64_t length = 0;
    int64_t depth0 = 0;
    Value last_changed;
    bool changed_set = false;
    const Node *node = nullptr;  // the for statement, when it is recursive
};

// ---- render state -------------------------------------------------------------------

struct Frame {
    Frame *parent = nullptr;  // nullptr: the root scope comes next
    const std::vector<std::pair<int32_t, Value>> *captured = nullptr;  // a macro's closure
    std::vector<std::pair<int32_t, Value>> vars;
    Value *find(int32_t id) {
        for (auto &kv : vars)
            if (kv.first == id) return &kv.second;
        return nullptr;
    }
    void set(int32_t id, Value v) {
        if (Value *p = find(id)) *p = std::move(v);
        else vars.emplace_back(id, std::move(v));
    }
};

enum class Flow { Normal, Break, Continue };

class Interp {
public:
    Interp(const TemplateImpl &tpl, const Limits &limits);

    const TemplateImpl &tpl;
    const Limits &lim;
    std::vector<Value> root;  // top-level variables by symbol id
    std::vector<bool> root_assigned;  // set at the top level during this render
    Frame *frame = nullptr;
    std::string *out = nullptr;
    uint64_t steps = 0;
    uint64_t allocated = 0;
    int call_depth = 0;
    bool autoescape = false;  // inside {% autoescape true %}: printed values are HTML-escaped
    Value capture;  // the body text a filter block / set block filter works on
    const char *stack_base = nullptr;

    void check_stack() {
        char here;
        if (static_cast<uint64_t>(stack_base - &here) > lim.max_stack_bytes)
            throw_error("template nested too deeply (sandbox stack limit)");
    }

    uint64_t next_check = 0;       // steps value at which slow_check runs next
    int64_t deadline_ns = 0;        // steady clock; 0 = no time limit
    void step() {
        if (++steps >= next_check) slow_check();
    }
    void steps_add(uint64_t n) {
        steps += n;
        if (steps >= next_check) slow_check();
    }
    void slow_check();  // the step limit and the time limit
    void charge(uint64_t bytes);  // accounts allocation, checks the memory limit
    Value make_string(std::string s, bool markup = false);
    Value make_list(std::vector<Value> items, bool tuple = false);
    Value make_generator(std::vector<Value> items);
    void emit(std::string_view s);

    Value lookup(int32_t id, const Node &where);
    void assign(int32_t id, Value v);
    Value eval(const Node &n);
    Flow exec(const Node &n);
    Flow exec_for(const Node &n, const Value &seq, int64_t depth0);
    // renders into a fresh buffer; *flow gets a break/continue that left the body
    std::string render_body(const Node &body, Flow *flow = nullptr, bool own_scope = false);
    Value call_value(const Value &callee, CallArgs &args, const Node &where);
    std::vector<std::pair<int32_t, Value>> snapshot() const;

    Value attribute(const Value &obj, std::string_view name);
    Value subscript(const Value &obj, const Value &key);
    std::vector<Value> iterate(const Value &v);  // Python iter() as a list
    Value apply_filter(int32_t index, Value in, CallArgs &args);
    bool apply_test(int32_t index, const Value &v, CallArgs &args);
    void bind_call_args(const Node &n, size_t first, CallArgs &args);
};

[[noreturn]] void throw_undefined(const Value &u);
// Python's binary operators: + - * / f(//) % p(**)
Value arith(Interp &in, uint8_t op, const Value &a, const Value &b);
std::string str_for_print(const Value &v);

// ---- builtins (filters.cpp, tests.cpp, methods.cpp, globals in render.cpp) ------------

using FilterFn = Value (*)(Interp &, const Value &, CallArgs &);
using TestFn = bool (*)(Interp &, const Value &, CallArgs &);
int32_t find_filter(std::string_view name);
int32_t find_test(std::string_view name);
FilterFn filter_fn(int32_t index);
TestFn test_fn(int32_t index);
const char *filter_name(int32_t index);

// Methods of str/list/dict values. Returns false when obj has no such method.
bool call_method(Interp &in, const Value &obj, std::string_view name, CallArgs &args, Value &result);
bool has_method(const Value &obj, std::string_view name);
bool is_mutating_method(const Value &obj, std::string_view name);
Value bound_method(const Value &obj, std::string_view name);

// Builtin global names (range, namespace, dict, raise_exception, strftime_now, ...).
Value make_global(std::string_view name);
// HF's namespace refuses underscore-prefixed attribute names.
void check_ns_name(const std::string &name);

// Python helpers used across builtins.
std::u32string to_u32(std::string_view s);
std::string from_u32(std::u32string_view s);
size_t py_len(const std::string &s);  // code points
Value py_percent_format(Interp &in, const std::string &fmt, const Value &args);
std::string html_escape(std::string_view s);
bool py_isspace(uint32_t cp);
uint32_t py_upper(uint32_t cp);
uint32_t py_lower(uint32_t cp);
Value slice_value(Interp &in, const Value &obj, const Value &start, const Value &stop, const Value &step);
std::string json_dump(const Value &v, const std::string *indent, const std::string &item_sep,
                      const std::string &key_sep, bool ensure_ascii, bool sort_keys);

} // namespace llm4all::jinja
