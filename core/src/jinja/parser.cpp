// parser.cpp — jinja2's grammar as a recursive-descent parser over the lexer's
// tokens, building the AST in interp.h. Operator precedence follows jinja2's
// parser.py (condexpr < or < and < not < compare < +- < ~ < */ //% < ** < unary,
// filters/tests bind to the unary operand). Nesting is bounded by
// Limits::max_parse_depth so hostile input cannot overflow the stack.
#include <unordered_map>

#include "bigint.h"
#include "interp.h"
#include "lexer.h"
#include "unicode.h"

namespace llm4all::jinja {

namespace {

struct Parser {
    std::vector<Token> toks;
    size_t i = 0;
    const Limits &lim;
    int depth = 0;
    int loop_depth = 0;
    const char *stack_base = nullptr;
    TemplateImpl &tpl;
    std::unordered_map<std::string, int32_t> sym_index;

    Parser(std::vector<Token> t, const Limits &l, TemplateImpl &impl) : toks(std::move(t)), lim(l), tpl(impl) {}

    const Token &cur() const { return toks[i]; }
    const Token &peek(size_t k = 1) const { return toks[std::min(i + k, toks.size() - 1)]; }
    void next() { if (i + 1 < toks.size()) ++i; }

    [[noreturn]] void fail_at(const Token &t, std::string msg) {
        TemplateError e{std::move(msg)};
        e.line = t.line;
        e.col = t.col;
        throw e;
    }
    [[noreturn]] void fail(std::string msg) { fail_at(cur(), std::move(msg)); }

    struct DepthGuard {
        Parser &p;
        explicit DepthGuard(Parser &pp) : p(pp) {
            char here;
            if (++p.depth > p.lim.max_parse_depth ||
                static_cast<uint64_t>(p.stack_base - &here) > p.lim.max_stack_bytes)
                p.fail("template nested too deeply (sandbox limit)");
        }
        ~DepthGuard() { --p.depth; }
    };
    // A left-deep chain (a.b.c..., x and y and z ..., f|g|h ...) nests the AST as deeply as
    // brackets do: each link counts as a nesting level.
    struct Chain {
        Parser &p;
        int added = 0;
        explicit Chain(Parser &pp) : p(pp) {}
        void link() {
            ++added;
            if (++p.depth > p.lim.max_parse_depth) p.fail("expression too long or nested too deeply (sandbox limit)");
        }
        ~Chain() { p.depth -= added; }
    };

    bool is_op(const char *op) const { return cur().type == Tok::Op && cur().text == op; }
    bool is_name(const char *n) const { return cur().type == Tok::Name && cur().text == n; }
    bool skip_op(const char *op) {
        if (!is_op(op)) return false;
        next();
        return true;
    }
    bool skip_name(const char *n) {
        if (!is_name(n)) return false;
        next();
        return true;
    }
    static std::string describe(const Token &t) {
        switch (t.type) {
        case Tok::Eof: return "end of template";
        case Tok::BlockEnd: return "end of statement block";
        case Tok::VarEnd: return "end of print statement";
        case Tok::Data: return "template data";
        case Tok::Name: case Tok::Op: case Tok::Int: case Tok::Float: return "'" + t.text + "'";
        case Tok::String: return "string";
        default: return "token";
        }
    }
    void expect_op(const char *op) {
        if (!skip_op(op)) fail(std::string("expected '") + op + "', got " + describe(cur()));
    }
    std::string expect_name() {
        if (cur().type != Tok::Name) fail("expected a name, got " + describe(cur()));
        std::string n = cur().text;
        next();
        return n;
    }
    void expect_block_end() {
        if (cur().type != Tok::BlockEnd) fail("expected end of statement block, got " + describe(cur()));
        next();
    }

    int32_t symbol(const std::string &name) {
        auto it = sym_index.find(name);
        if (it != sym_index.end()) return it->second;
        int32_t id = static_cast<int32_t>(tpl.symbols.size());
        tpl.symbols.push_back(name);
        sym_index.emplace(name, id);
        return id;
    }

    NodePtr node(NK k, const Token &at) {
        auto n = std::make_unique<Node>();
        n->kind = k;
        n->line = at.line;
        n->col = at.col;
        return n;
    }
    NodePtr node(NK k, const Node &at) {
        auto n = std::make_unique<Node>();
        n->kind = k;
        n->line = at.line;
        n->col = at.col;
        return n;
    }

    // ---- statements ---------------------------------------------------------------

    // Parses until one of end_names opens a block ({% name ...); returns the body;
    // *matched gets the name (the token after it is current).
    NodePtr parse_body(std::initializer_list<const char *> end_names, std::string *matched) {
        DepthGuard g(*this);
        auto body = node(NK::Body, cur());
        for (;;) {
            const Token &t = cur();
            if (t.type == Tok::Eof) {
                if (end_names.size() == 0) return body;
                std::string want;
                for (const char *n : end_names) want += (want.empty() ? "'" : " or '") + std::string(n) + "'";
                fail("unexpected end of template, expected " + want);
            }
            if (t.type == Tok::Data) {
                auto d = node(NK::Data, t);
                d->text = t.text;
                body->kids.push_back(std::move(d));
                next();
            } else if (t.type == Tok::VarBegin) {
                next();
                auto o = node(NK::Output, t);
                o->kids.push_back(parse_tuple(true));
                if (cur().type != Tok::VarEnd) fail("expected end of print statement, got " + describe(cur()));
                next();
                body->kids.push_back(std::move(o));
            } else if (t.type == Tok::BlockBegin) {
                next();
                if (cur().type != Tok::Name) fail("expected a statement name, got " + describe(cur()));
                for (const char *n : end_names)
                    if (cur().text == n) {
                        *matched = n;
                        next();
                        return body;
                    }
                body->kids.push_back(parse_statement());
            } else {
                fail("unexpected " + describe(t));
            }
        }
    }

    NodePtr parse_statement() {
        const Token &t = cur();
        const std::string &name = t.text;
        if (name == "if") return parse_if();
        if (name == "for") return parse_for();
        if (name == "set") return parse_set();
        if (name == "macro") return parse_macro();
        if (name == "call") return parse_call_block();
        if (name == "filter") return parse_filter_block();
        if (name == "with") return parse_with();
        if (name == "block" || name == "generation") return parse_scope();
        if (name == "autoescape") {
            auto n = node(NK::Scope, cur());
            next();
            auto flag = parse_expression(true);
            expect_block_end();
            std::string m;
            n->kids.push_back(parse_body({"endautoescape"}, &m));
            n->kids.push_back(std::move(flag));
            expect_block_end();
            return n;
        }
        if (name == "break" || name == "continue") {
            if (loop_depth == 0) fail("'" + name + "' outside of a loop");
            auto n = node(name == "break" ? NK::Break : NK::Continue, t);
            next();
            expect_block_end();
            return n;
        }
        if (name == "include" || name == "import" || name == "from" || name == "extends")
            fail("'" + name + "' is not available: templates have no file access (sandbox)");
        fail("unknown statement '" + name + "'");
    }

    NodePtr parse_if() {
        auto n = node(NK::If, cur());
        next();
        for (;;) {
            n->kids.push_back(parse_tuple(false));
            expect_block_end();
            std::string m;
            n->kids.push_back(parse_body({"elif", "else", "endif"}, &m));
            if (m == "elif") continue;
            if (m == "else") {
                expect_block_end();
                n->kids.push_back(parse_body({"endif"}, &m));
                n->flag = true;
            }
            expect_block_end();
            return n;
        }
    }

    NodePtr parse_assign_target(bool allow_attr) {
        const Token &t = cur();
        auto name_target = [&]() -> NodePtr {
            const Token &nt = cur();
            std::string nm = expect_name();
            if (allow_attr && is_op(".")) {
                next();
                auto a = node(NK::Attr, nt);
                auto base = node(NK::Name, nt);
                base->id = symbol(nm);
                base->text = nm;
                a->text = expect_name();
                a->kids.push_back(std::move(base));
                return a;
            }
            auto n = node(NK::Name, nt);
            n->id = symbol(nm);
            n->text = nm;
            return n;
        };
        bool paren = skip_op("(");
        auto first = name_target();
        if (!is_op(",") && !paren) return first;
        auto tup = node(NK::TupleLit, t);
        tup->kids.push_back(std::move(first));
        while (skip_op(",")) {
            if (cur().type != Tok::Name) break;
            tup->kids.push_back(name_target());
        }
        if (paren) expect_op(")");
        for (auto &k : tup->kids)
            if (k->kind != NK::Name) fail_at(t, "cannot assign to an attribute inside a tuple");
        return tup;
    }

    NodePtr parse_for() {
        auto n = node(NK::For, cur());
        next();
        n->kids.push_back(parse_assign_target(false));
        if (!skip_name("in")) fail("expected 'in', got " + describe(cur()));
        n->kids.push_back(parse_tuple(false, false, {"recursive"}));
        if (skip_name("if")) n->kids.push_back(parse_expression(true));
        else n->kids.push_back(nullptr);
        if (skip_name("recursive")) n->flag = true;
        expect_block_end();
        ++loop_depth;
        std::string m;
        n->kids.push_back(parse_body({"endfor", "else"}, &m));
        --loop_depth;
        if (m == "else") {
            expect_block_end();
            n->kids.push_back(parse_body({"endfor"}, &m));
        } else n->kids.push_back(nullptr);
        expect_block_end();
        return n;
    }

    NodePtr parse_set() {
        const Token &t = cur();
        next();
        auto target = parse_assign_target(true);
        if (skip_op("=")) {
            auto n = node(NK::Set, t);
            n->kids.push_back(std::move(target));
            n->kids.push_back(parse_tuple(true));
            expect_block_end();
            return n;
        }
        if (target->kind != NK::Name) fail("expected '='");
        auto n = node(NK::SetBlock, t);
        NodePtr filt;
        if (is_op("|")) filt = parse_filter_chain();
        expect_block_end();
        std::string m;
        n->kids.push_back(std::move(target));
        n->kids.push_back(parse_body({"endset"}, &m));
        n->kids.push_back(std::move(filt));
        expect_block_end();
        return n;
    }

    NodePtr parse_filter_chain() {  // "| f(args) | g" applied to the Capture placeholder
        NodePtr cur_node = node(NK::Capture, cur());
        Chain ch(*this);
        while (is_op("|")) {
            ch.link();
            cur_node = parse_filter(std::move(cur_node));
        }
        return cur_node;
    }

    void parse_signature(Node &n) {  // (a, b=default, ...) -> names/ids + default kids from index 1
        expect_op("(");
        while (!is_op(")")) {
            if (!n.names.empty()) expect_op(",");
            if (is_op(")")) break;
            std::string p = expect_name();
            n.names.push_back(p);
            n.ids.push_back(symbol(p));
            if (skip_op("=")) n.kids.push_back(parse_expression(true));
            else {
                bool had_default = false;
                for (size_t k = 1; k < n.kids.size(); ++k) had_default = had_default || n.kids[k] != nullptr;
                if (had_default) fail("non-default argument follows default argument");
                n.kids.push_back(nullptr);
            }
        }
        next();
    }

    // bit0: the body reads varargs, bit1: kwargs, bit2: caller (jinja2 only accepts extra
    // arguments / a caller when the macro uses them)
    static uint8_t special_names(const Node &n, int depth = 0) {
        uint8_t r = 0;
        if (n.kind == NK::Name) {
            if (n.text == "varargs") r |= 1;
            else if (n.text == "kwargs") r |= 2;
            else if (n.text == "caller") r |= 4;
        }
        if (depth > 10000) return r;
        for (const auto &k : n.kids)
            if (k) r |= special_names(*k, depth + 1);
        return r;
    }

    NodePtr parse_macro() {
        auto n = node(NK::Macro, cur());
        next();
        n->text = expect_name();
        n->id = symbol(n->text);
        n->kids.push_back(nullptr);  // body, filled below
        parse_signature(*n);
        expect_block_end();
        int saved = loop_depth;
        loop_depth = 0;
        std::string m;
        n->kids[0] = parse_body({"endmacro"}, &m);
        loop_depth = saved;
        n->op = special_names(*n->kids[0]);
        if (cur().type == Tok::Name) next();  // {% endmacro name %}
        expect_block_end();
        return n;
    }

    NodePtr parse_call_block() {
        auto n = node(NK::CallBlock, cur());
        next();
        n->kids.push_back(nullptr);  // body
        n->kids.push_back(nullptr);  // call expression
        if (is_op("(")) parse_signature(*n);
        auto call = parse_expression(true);
        if (call->kind != NK::Call) fail_at(toks[i > 0 ? i - 1 : 0], "expected a call expression");
        n->kids[1] = std::move(call);
        expect_block_end();
        int saved = loop_depth;
        loop_depth = 0;
        std::string m;
        n->kids[0] = parse_body({"endcall"}, &m);
        loop_depth = saved;
        n->op = special_names(*n->kids[0]);
        expect_block_end();
        return n;
    }

    NodePtr parse_filter_block() {
        auto n = node(NK::FilterBlock, cur());
        next();
        NodePtr chain = node(NK::Capture, cur());
        chain = parse_filter(std::move(chain), true);
        Chain ch(*this);
        while (is_op("|")) {
            ch.link();
            chain = parse_filter(std::move(chain));
        }
        expect_block_end();
        std::string m;
        n->kids.push_back(std::move(chain));
        n->kids.push_back(parse_body({"endfilter"}, &m));
        expect_block_end();
        return n;
    }

    NodePtr parse_with() {
        auto n = node(NK::With, cur());
        next();
        std::vector<NodePtr> targets, values;
        while (cur().type != Tok::BlockEnd) {
            if (!targets.empty()) expect_op(",");
            targets.push_back(parse_assign_target(false));
            expect_op("=");
            values.push_back(parse_expression(true));
        }
        expect_block_end();
        std::string m;
        n->kids.push_back(parse_body({"endwith"}, &m));
        expect_block_end();
        for (size_t k = 0; k < targets.size(); ++k) {
            n->kids.push_back(std::move(targets[k]));
            n->kids.push_back(std::move(values[k]));
        }
        return n;
    }

    NodePtr parse_scope() {  // {% block name %} / {% generation %}: render the body in place
        auto n = node(NK::Scope, cur());
        bool gen = cur().text == "generation";
        next();
        if (!gen) {
            expect_name();
            if (skip_name("scoped")) {}
            if (skip_name("required")) {}
        }
        expect_block_end();
        std::string m;
        n->kids.push_back(parse_body({gen ? "endgeneration" : "endblock"}, &m));
        if (!gen && cur().type == Tok::Name) next();
        expect_block_end();
        return n;
    }

    // ---- expressions --------------------------------------------------------------

    bool at_expr_end(std::initializer_list<const char *> extra) const {
        const Token &t = cur();
        if (t.type == Tok::VarEnd || t.type == Tok::BlockEnd || t.type == Tok::Eof) return true;
        if (t.type == Tok::Op && (t.text == ")" || t.text == "]" || t.text == "}")) return true;
        if (t.type == Tok::Name)
            for (const char *e : extra)
                if (t.text == e) return true;
        return false;
    }

    NodePtr parse_tuple(bool with_condexpr, bool explicit_parens = false,
                        std::initializer_list<const char *> extra_end = {}) {
        const Token &t = cur();
        std::vector<NodePtr> items;
        bool is_tuple = false;
        for (;;) {
            if (!items.empty()) {
                if (!skip_op(",")) break;
                is_tuple = true;
            }
            if (at_expr_end(extra_end)) break;
            items.push_back(parse_expression(with_condexpr));
        }
        if (!is_tuple) {
            if (!items.empty()) return std::move(items[0]);
            if (!explicit_parens) fail("expected an expression, got " + describe(cur()));
        }
        auto n = node(NK::TupleLit, t);
        n->kids = std::move(items);
        return n;
    }

    NodePtr parse_expression(bool with_condexpr) {
        DepthGuard g(*this);
        if (!with_condexpr) return parse_or();
        auto e = parse_or();
        Chain ch(*this);
        while (is_name("if")) {
            ch.link();
            auto n = node(NK::CondExpr, cur());
            next();
            auto test = parse_or();
            NodePtr other;
            if (skip_name("else")) other = parse_expression(true);
            n->kids.push_back(std::move(test));
            n->kids.push_back(std::move(e));
            n->kids.push_back(std::move(other));
            e = std::move(n);
        }
        return e;
    }

    NodePtr parse_or() {
        auto l = parse_and();
        Chain ch(*this);
        while (is_name("or")) {
            ch.link();
            auto n = node(NK::Or, cur());
            next();
            n->kids.push_back(std::move(l));
            n->kids.push_back(parse_and());
            l = std::move(n);
        }
        return l;
    }
    NodePtr parse_and() {
        auto l = parse_not();
        Chain ch(*this);
        while (is_name("and")) {
            ch.link();
            auto n = node(NK::And, cur());
            next();
            n->kids.push_back(std::move(l));
            n->kids.push_back(parse_not());
            l = std::move(n);
        }
        return l;
    }
    NodePtr parse_not() {
        if (is_name("not")) {
            DepthGuard g(*this);
            auto n = node(NK::Not, cur());
            next();
            n->kids.push_back(parse_not());
            return n;
        }
        return parse_compare();
    }
    NodePtr parse_compare() {
        auto e = parse_math1();
        NodePtr cmp;
        for (;;) {
            int32_t op = 0;
            const Token &t = cur();
            if (t.type == Tok::Op) {
                if (t.text == "==") op = 1;
                else if (t.text == "!=") op = 2;
                else if (t.text == "<") op = 3;
                else if (t.text == "<=") op = 4;
                else if (t.text == ">") op = 5;
                else if (t.text == ">=") op = 6;
            } else if (t.type == Tok::Name) {
                if (t.text == "in") op = 7;
                else if (t.text == "not" && peek().type == Tok::Name && peek().text == "in") op = 8;
            }
            if (!op) break;
            if (!cmp) {
                cmp = node(NK::Compare, t);
                cmp->kids.push_back(std::move(e));
            }
            next();
            if (op == 8) next();
            cmp->ids.push_back(op);
            cmp->kids.push_back(parse_math1());
        }
        return cmp ? std::move(cmp) : std::move(e);
    }
    NodePtr binary(uint8_t op, const Token &t, NodePtr l, NodePtr r) {
        auto n = node(NK::Binary, t);
        n->op = op;
        n->kids.push_back(std::move(l));
        n->kids.push_back(std::move(r));
        return n;
    }
    NodePtr parse_math1() {
        auto l = parse_concat();
        Chain ch(*this);
        while (is_op("+") || is_op("-")) {
            ch.link();
            const Token &t = cur();
            uint8_t op = static_cast<uint8_t>(t.text[0]);
            next();
            l = binary(op, t, std::move(l), parse_concat());
        }
        return l;
    }
    NodePtr parse_concat() {
        auto l = parse_math2();
        if (!is_op("~")) return l;
        auto n = node(NK::Concat, cur());
        n->kids.push_back(std::move(l));
        while (skip_op("~")) n->kids.push_back(parse_math2());
        return n;
    }
    NodePtr parse_math2() {
        auto l = parse_pow();
        Chain ch(*this);
        for (;;) {
            ch.link();
            const Token &t = cur();
            uint8_t op = 0;
            if (is_op("*")) op = '*';
            else if (is_op("/")) op = '/';
            else if (is_op("//")) op = 'f';
            else if (is_op("%")) op = '%';
            if (!op) return l;
            next();
            l = binary(op, t, std::move(l), parse_pow());
        }
    }
    NodePtr parse_pow() {
        auto l = parse_unary(true);
        Chain ch(*this);
        while (is_op("**")) {
            ch.link();
            const Token &t = cur();
            next();
            l = binary('p', t, std::move(l), parse_unary(true));
        }
        return l;
    }
    NodePtr parse_unary(bool with_filter) {
        DepthGuard g(*this);
        NodePtr n;
        if (is_op("-") || is_op("+")) {
            n = node(is_op("-") ? NK::Neg : NK::Pos, cur());
            next();
            n->kids.push_back(parse_unary(false));
        } else {
            n = parse_postfix(parse_primary());
        }
        if (with_filter) n = parse_filter_expr(std::move(n));
        return n;
    }

    NodePtr parse_primary() {
        const Token &t = cur();
        NodePtr n;
        switch (t.type) {
        case Tok::Name: {
            n = node(NK::Const, t);
            if (t.text == "true" || t.text == "True") n->value = Value::boolean(true);
            else if (t.text == "false" || t.text == "False") n->value = Value::boolean(false);
            else if (t.text == "none" || t.text == "None") n->value = Value::none();
            else {
                n->kind = NK::Name;
                n->text = t.text;
                n->id = symbol(t.text);
            }
            next();
            return n;
        }
        case Tok::String: {
            std::string s;
            while (cur().type == Tok::String) {
                s += cur().text;
                next();
            }
            n = node(NK::Const, t);
            n->value = Value::string(std::move(s));
            return n;
        }
        case Tok::Int:
            n = node(NK::Const, t);
            if (t.base) {
                BigInt b;
                if (!BigInt::parse(t.text, t.base, false, b)) fail("invalid integer literal");
                n->value = Value::big(b);
            } else n->value = Value::integer(t.ival);
            next();
            return n;
        case Tok::Float:
            n = node(NK::Const, t);
            n->value = Value::number(t.fval);
            next();
            return n;
        case Tok::Op:
            if (t.text == "(") {
                next();
                n = parse_tuple(true, true);
                expect_op(")");
                return n;
            }
            if (t.text == "[") {
                next();
                n = node(NK::ListLit, t);
                while (!is_op("]")) {
                    if (!n->kids.empty()) expect_op(",");
                    if (is_op("]")) break;
                    n->kids.push_back(parse_expression(true));
                }
                next();
                return n;
            }
            if (t.text == "{") {
                next();
                n = node(NK::DictLit, t);
                while (!is_op("}")) {
                    if (!n->kids.empty()) expect_op(",");
                    if (is_op("}")) break;
                    n->kids.push_back(parse_expression(true));
                    expect_op(":");
                    n->kids.push_back(parse_expression(true));
                }
                next();
                return n;
            }
            break;
        default: break;
        }
        fail("unexpected " + describe(t));
    }

    NodePtr parse_postfix(NodePtr n) {
        Chain ch(*this);
        for (;;) {
            ch.link();
            if (is_op(".") || is_op("[")) n = parse_subscript(std::move(n));
            else if (is_op("(")) n = parse_call(std::move(n));
            else return n;
        }
    }

    NodePtr parse_filter_expr(NodePtr n) {
        Chain ch(*this);
        for (;;) {
            ch.link();
            if (is_op("|")) n = parse_filter(std::move(n));
            else if (is_name("is")) n = parse_test(std::move(n));
            else if (is_op("(")) n = parse_call(std::move(n));
            else return n;
        }
    }

    NodePtr parse_subscript(NodePtr obj) {
        DepthGuard g(*this);
        const Token &t = cur();
        if (skip_op(".")) {
            const Token &a = cur();
            if (a.type == Tok::Name) {
                auto n = node(NK::Attr, t);
                n->text = a.text;
                n->kids.push_back(std::move(obj));
                next();
                return n;
            }
            if (a.type == Tok::Int) {
                auto n = node(NK::Item, t);
                auto k = node(NK::Const, a);
                k->value = Value::integer(a.ival);
                n->kids.push_back(std::move(obj));
                n->kids.push_back(std::move(k));
                next();
                return n;
            }
            fail("expected name or number after '.'");
        }
        expect_op("[");
        std::vector<NodePtr> args;
        bool slice_seen = false;
        NodePtr slice;
        for (;;) {
            if (!args.empty() && !skip_op(",")) break;
            if (!args.empty() && is_op("]")) break;
            // one subscript: expr or [a]:[b][:[c]]
            NodePtr a;
            if (!is_op(":")) a = parse_expression(true);
            if (is_op(":")) {
                slice_seen = true;
                auto s = node(NK::Slice, t);
                s->kids.push_back(nullptr);  // object, set below
                s->kids.push_back(std::move(a));
                next();
                s->kids.push_back(is_op("]") || is_op(",") || is_op(":") ? nullptr : parse_expression(true));
                if (skip_op(":")) s->kids.push_back(is_op("]") || is_op(",") ? nullptr : parse_expression(true));
                else s->kids.push_back(nullptr);
                args.push_back(std::move(s));
            } else args.push_back(std::move(a));
        }
        expect_op("]");
        if (args.size() == 1 && slice_seen) {
            args[0]->kids[0] = std::move(obj);
            return std::move(args[0]);
        }
        if (slice_seen) fail_at(t, "extended slicing with several slices is not supported");
        auto n = node(NK::Item, t);
        n->kids.push_back(std::move(obj));
        if (args.size() == 1) n->kids.push_back(std::move(args[0]));
        else {
            auto tup = node(NK::TupleLit, t);
            tup->kids = std::move(args);
            n->kids.push_back(std::move(tup));
        }
        return n;
    }

    // Arguments "(a, b, k=v, *x, **y)" appended to n->kids; n->npos / names / op set.
    void parse_call_args(Node &n) {
        expect_op("(");
        std::vector<NodePtr> pos, kw;
        NodePtr star, dstar;
        bool first = true;
        while (!is_op(")")) {
            if (!first) {
                expect_op(",");
                if (is_op(")")) break;
            }
            first = false;
            if (skip_op("*")) star = parse_expression(true);
            else if (skip_op("**")) dstar = parse_expression(true);
            else if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
                n.names.push_back(cur().text);
                next();
                next();
                kw.push_back(parse_expression(true));
            } else {
                if (!kw.empty() || star || dstar) fail("positional argument follows keyword argument");
                pos.push_back(parse_expression(true));
            }
        }
        next();
        n.npos = static_cast<int32_t>(pos.size());
        for (auto &p : pos) n.kids.push_back(std::move(p));
        for (auto &k : kw) n.kids.push_back(std::move(k));
        if (star) { n.op |= 1; n.kids.push_back(std::move(star)); }
        if (dstar) { n.op |= 2; n.kids.push_back(std::move(dstar)); }
    }

    NodePtr parse_call(NodePtr callee) {
        DepthGuard g(*this);
        auto n = node(NK::Call, cur());
        n->kids.push_back(std::move(callee));
        parse_call_args(*n);
        return n;
    }

    std::string dotted_name() {
        std::string name = expect_name();
        while (is_op(".") && peek().type == Tok::Name) {
            next();
            name += "." + cur().text;
            next();
        }
        return name;
    }

    NodePtr parse_filter(NodePtr in, bool no_pipe = false) {
        DepthGuard g(*this);
        if (!no_pipe) expect_op("|");
        const Token &t = cur();
        auto n = node(NK::Filter, t);
        n->text = dotted_name();
        n->id = find_filter(n->text);

        n->kids.push_back(std::move(in));
        if (is_op("(")) parse_call_args(*n);
        return n;
    }

    NodePtr parse_test(NodePtr in) {
        DepthGuard g(*this);
        next();  // 'is'
        bool neg = skip_name("not");
        const Token &t = cur();
        auto n = node(NK::Test, t);
        n->flag = neg;
        n->text = dotted_name();
        n->id = find_test(n->text);

        n->kids.push_back(std::move(in));
        const Token &c = cur();
        if (is_op("(")) parse_call_args(*n);
        else if ((c.type == Tok::Name || c.type == Tok::String || c.type == Tok::Int || c.type == Tok::Float ||
                  (c.type == Tok::Op && (c.text == "[" || c.text == "{"))) &&
                 !(c.type == Tok::Name && (c.text == "else" || c.text == "or" || c.text == "and"))) {
            if (is_name("is")) fail("you cannot chain multiple tests with is");
            n->kids.push_back(parse_postfix(parse_primary()));
            n->npos = 1;
        }
        return n;
    }
};

// Unknown filters/tests are a syntax error, except inside an if or a conditional
// expression, where jinja2 3.1 defers the error to when they run.
void check_names(const Node *n, bool soft, int depth = 0) {
    if (!n || depth > 10000) return;
    if ((n->kind == NK::Filter || n->kind == NK::Test) && n->id < 0 && !soft) {
        TemplateError e{std::string("no ") + (n->kind == NK::Filter ? "filter" : "test") + " named '" + n->text + "'"};
        e.line = n->line;
        e.col = n->col;
        throw e;
    }
    bool inner = soft;
    if (n->kind == NK::If || n->kind == NK::CondExpr) inner = true;
    if (n->kind == NK::For || n->kind == NK::Macro || n->kind == NK::CallBlock) inner = false;
    for (const auto &k : n->kids) check_names(k.get(), inner, depth + 1);
}

} // namespace

std::shared_ptr<TemplateImpl> parse_template(std::string_view src, const Limits &limits) {
    if (src.size() > limits.max_template_bytes) throw_error("template too large (sandbox limit)");
    size_t bad = utf8_find_invalid(src);
    if (bad != std::string_view::npos) {
        TemplateError e{"template is not valid UTF-8 (byte " + std::to_string(bad) + ")"};
        e.line = 1;
        for (size_t k = 0; k < bad; ++k) e.line += src[k] == '\n';
        size_t ls = src.rfind('\n', bad ? bad - 1 : 0);
        e.col = static_cast<uint32_t>(bad - (ls == std::string_view::npos || bad == 0 ? 0 : ls + 1) + 1);
        throw e;
    }
    auto impl = std::make_shared<TemplateImpl>();
    Parser p(lex_template(src), limits, *impl);
    char base;
    p.stack_base = &base;
    std::string m;
    impl->root = p.parse_body({}, &m);
    auto find = [&](const char *n) {
        auto it = p.sym_index.find(n);
        return it == p.sym_index.end() ? -1 : it->second;
    };
    check_names(impl->root.get(), false);
    impl->root_local.assign(impl->symbols.size(), false);
    for (const auto &st : impl->root->kids) {
        if (st->kind == NK::Set || st->kind == NK::SetBlock) {
            const Node &t = *st->kids[0];
            if (t.kind == NK::Name) impl->root_local[static_cast<size_t>(t.id)] = true;
            else if (t.kind == NK::TupleLit)
                for (const auto &k : t.kids) impl->root_local[static_cast<size_t>(k->id)] = true;
        } else if (st->kind == NK::Macro) impl->root_local[static_cast<size_t>(st->id)] = true;
    }
    impl->sym_loop = find("loop");
    impl->sym_varargs = find("varargs");
    impl->sym_kwargs = find("kwargs");
    impl->sym_caller = find("caller");
    return impl;
}

} // namespace llm4all::jinja
