// test_jinja.cpp — the chat-template engine (core/src/jinja) without Python: every
// one-feature case of tests/python/jinja_lang_cases.py must render exactly what
// transformers' renderer gave (jinja_cases.inc, recorded by tools/gen_jinja_cases.py) or fail
// where it failed; hostile templates must fail with LLM4ALL_ERR_TEMPLATE within a second;
// the C++ interface (parse once, render many, concurrently; contexts built in C++ or from
// JSON; Limits) and the C ABI statuses; and the render time of a 20-turn tools conversation.
// test-sources: core/src/jinja/bigint.cpp core/src/jinja/filters.cpp core/src/jinja/globals.cpp core/src/jinja/json.cpp core/src/jinja/lexer.cpp core/src/jinja/methods.cpp core/src/jinja/parser.cpp core/src/jinja/render.cpp core/src/jinja/strings.cpp core/src/jinja/tests.cpp core/src/jinja/value.cpp core/src/unicode.cpp core/src/unicode_tables.cpp
#include "jinja/jinja.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "error.h"
#include "llm4all/llm4all.h"

#include "jinja_cases.inc"

using namespace llm4all;

// A hostile template must fail within a second; sanitizer builds run several times slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
constexpr double kHostileSeconds = 5.0;
#else
constexpr double kHostileSeconds = 1.0;
#endif

static int g_fail = 0, g_pass = 0;

#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (cond) ++g_pass;                               \
        else {                                            \
            ++g_fail;                                     \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            std::printf(__VA_ARGS__);                     \
            std::printf("\n");                            \
        }                                                 \
    } while (0)

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Renders; returns true and the text, or false and the error (status in *status).
static bool try_render(const std::string &src, const std::string &json, std::string &out, llm4all_status *status,
                       const jinja::Limits &lim = jinja::Limits()) {
    try {
        jinja::Value ctx = jinja::context_from_json(json);
        out = jinja::Template::parse(src, lim).render(ctx, lim);
        *status = LLM4ALL_OK;
        return true;
    } catch (const Error &e) {
        out = e.what();
        *status = e.status();
        return false;
    }
}

static void test_cases() {
    int n = 0;
    for (const JinjaCase &c : k_jinja_cases) {
        ++n;
        std::string out;
        llm4all_status st;
        bool ok = try_render(c.src, c.context_json, out, &st);
        if (c.error) {
            CHECK(!ok && st == LLM4ALL_ERR_TEMPLATE && out.find("line") != std::string::npos,
                  "case %s: expected a template error, got %s: %s", c.id, ok ? "output" : "status", out.c_str());
        } else {
            CHECK(ok && out == c.expected, "case %s:\n  expected: %s\n  got:      %s", c.id, c.expected, out.c_str());
        }
    }
    std::printf("%d recorded cases checked\n", n);
}

static void test_hostile() {
    const std::string nested_brackets = std::string(100000, '[') + std::string(100000, ']');
    std::string deep_if;
    for (int i = 0; i < 5000; ++i) deep_if += "{% if true %}";
    const std::vector<std::pair<const char *, std::string>> hostile = {
        {"range_huge", "{% for i in range(10**9) %}{% endfor %}"},
        {"nested_loops", "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"},
        {"macro_recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"},
        {"macro_fanout", "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}"},
        {"caller_recursion", "{% macro f() %}{{ caller() }}{% endmacro %}{% macro g() %}{% call f() %}{{ g() }}{% endcall %}{% endmacro %}{{ g() }}"},
        {"recursive_loop", "{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}"},
        {"string_repeat", "{{ 'a' * 10**10 }}"},
        {"string_doubling", "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"},
        {"list_doubling", "{% set ns = namespace(l=[0]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}"},
        {"list_repeat", "{{ ([1] * 10**10)|length }}"},
        {"big_repr", "{{ ['a' * 100000] * 100000 }}"},
        {"replace_blowup", "{% set s = 'a' * 100000 %}{{ s.replace('a', s) }}"},
        {"join_blowup", "{{ (range(100000)|list * 100000)|join(',') }}"},
        {"center_huge", "{{ 'a'|center(10**10) }}"},
        {"format_width", "{{ '%*d'|format(10**9, 1) }}"},
        {"pow_huge", "{{ 7 ** (10 ** 8) }}"},
        {"nested_brackets", "{{ " + nested_brackets + " }}"},
        {"nested_parens", "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}"},
        {"nested_ifs", deep_if},
        {"long_and_chain", [] { std::string s = "{{ true"; for (int i = 0; i < 30000; ++i) s += " and true"; return s + " }}"; }()},
        {"attr_chain", [] { std::string s = "{{ messages"; for (int i = 0; i < 30000; ++i) s += ".a"; return s + " }}"; }()},
        {"filter_chain", [] { std::string s = "{{ 'x'"; for (int i = 0; i < 30000; ++i) s += "|upper"; return s + " }}"; }()},
        {"mro", "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
        {"globals", "{{ namespace.__init__.__globals__ }}"},
        {"attr_filter_dunder", "{{ (()|attr('__class__')).__base__ }}"},
        {"append", "{{ messages.append(1) }}"},
        {"update", "{{ messages[0].update({'role': 'x'}) }}"},
        {"namespace_cycle", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"},
        {"namespace_cycle_list", "{% set ns = namespace() %}{% set ns.l = [ns] %}"},
        {"deep_value", "{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}"},
        {"include", "{% include '/etc/passwd' %}"},
        {"unterminated", "{% if true %}{{ 'x' "},
    };
    const std::string ctx = R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})";
    for (const auto &h : hostile) {
        std::string out;
        llm4all_status st;
        double t0 = now_s();
        bool ok = try_render(h.second, ctx, out, &st);
        double dt = now_s() - t0;
        CHECK(!ok && st == LLM4ALL_ERR_TEMPLATE, "hostile %s: expected LLM4ALL_ERR_TEMPLATE, got %s (%d): %.200s", h.first,
              ok ? "output" : "error", static_cast<int>(st), out.c_str());
        CHECK(dt < kHostileSeconds, "hostile %s took %.3f s", h.first, dt);
    }
    // deeply nested JSON context: refused as bad input, never a crash
    std::string deep_json = "{\"messages\": " + nested_brackets + "}";
    std::string out;
    llm4all_status st;
    CHECK(!try_render("{{ messages|length }}", deep_json, out, &st) && st == LLM4ALL_ERR_INVALID_ARGUMENT,
          "deep JSON: status %d", static_cast<int>(st));
}

static void test_api() {
    // parse once, render many; a context built in C++ renders like the same JSON
    auto tpl = jinja::Template::parse(
        "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}|{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}");
    auto msgs = jinja::Value::list({jinja::make_dict({{"role", jinja::Value::string("user")}, {"content", jinja::Value::string("Hi")}}),
                                    jinja::make_dict({{"role", jinja::Value::string("assistant")}, {"content", jinja::Value::string("Yo")}})});
    jinja::Value ctx = jinja::make_dict({{"messages", msgs}, {"add_generation_prompt", jinja::Value::boolean(true)},
                                         {"bos_token", jinja::Value::string("<s>")}});
    const std::string want = "<s><user>Hi|<assistant>Yo|<assistant>";
    CHECK(tpl.render(ctx) == want, "built context: %s", tpl.render(ctx).c_str());
    jinja::Value from_json = jinja::context_from_json(
        R"({"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Yo"}],"add_generation_prompt":true,"bos_token":"<s>"})");
    CHECK(tpl.render(from_json) == want, "JSON context");
    CHECK(tpl.render(ctx) == want, "second render of the same Template");
    CHECK(jinja::render("{{ a + 1 }}", R"({"a": 41})") == "42", "one-shot render");

    // concurrent renders of one Template
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 200; ++i)
                if (tpl.render(ctx) != want) ++bad;
        });
    for (auto &th : threads) th.join();
    CHECK(bad == 0, "%d concurrent renders differed", bad.load());

    // errors: statuses and positions
    auto status_of = [](auto fn) -> llm4all_status {
        try { fn(); } catch (const Error &e) { return e.status(); }
        return static_cast<llm4all_status>(LLM4ALL_OK);
    };
    CHECK(status_of([] { jinja::context_from_json("{\"a\": [1, 2"); }) == LLM4ALL_ERR_INVALID_ARGUMENT, "bad JSON");
    CHECK(status_of([] { jinja::context_from_json("[1]"); }) == LLM4ALL_ERR_INVALID_ARGUMENT, "non-object JSON");
    CHECK(status_of([] { jinja::context_from_json("{\"a\": \"\xff\"}"); }) == LLM4ALL_ERR_INVALID_ARGUMENT, "non-UTF-8 JSON");
    CHECK(status_of([] { jinja::Template::parse("{% if %}"); }) == LLM4ALL_ERR_TEMPLATE, "syntax error");
    CHECK(status_of([] { jinja::Template::parse("{{ '\xff' }}"); }) == LLM4ALL_ERR_TEMPLATE, "non-UTF-8 template");
    try {
        jinja::Template::parse("a\n\n   {{ x|nosuchfilter }}");
        CHECK(false, "unknown filter parsed");
    } catch (const Error &e) {
        CHECK(std::strstr(e.what(), "template line 3, column 9: no filter named 'nosuchfilter'") != nullptr, "%s", e.what());
    }
    try {
        jinja::render("\n{{ raise_exception('bad roles') }}", "{}");
        CHECK(false, "raise_exception rendered");
    } catch (const Error &e) {
        CHECK(e.status() == LLM4ALL_ERR_TEMPLATE && std::strncmp(e.what(), "template raised: bad roles", 26) == 0 &&
                  std::strstr(e.what(), "line 2") != nullptr,
              "%s", e.what());
    }

    // Limits are honoured
    jinja::Limits small;
    small.max_output_bytes = 100;
    std::string out;
    llm4all_status st;
    CHECK(!try_render("{% for i in range(1000) %}x{% endfor %}", "{}", out, &st, small) && st == LLM4ALL_ERR_TEMPLATE &&
              out.find("output") != std::string::npos, "max_output_bytes: %s", out.c_str());
    jinja::Limits few;
    few.max_steps = 1000;
    CHECK(!try_render("{% for i in range(1000) %}{{ i }}{% endfor %}", "{}", out, &st, few) && out.find("step") != std::string::npos,
          "max_steps: %s", out.c_str());
    jinja::Limits shallow;
    shallow.max_call_depth = 5;
    CHECK(!try_render("{% macro f(n) %}{{ f(n + 1) if n < 10 }}{% endmacro %}{{ f(0) }}", "{}", out, &st, shallow),
          "max_call_depth");
    CHECK(try_render("{% macro f(n) %}{{ f(n + 1) if n < 3 }}{% endmacro %}{{ f(0) }}", "{}", out, &st, shallow), "depth 4 allowed");
}

static void test_c_abi() {
    char *text = nullptr;
    size_t len = 0;
    llm4all_status st = llm4all_chat_template_render("{{ messages[0].content }}|{{ x }}",
                                                     R"({"messages":[{"role":"user","content":"h\u00e9"}],"x":1.5})", &text, &len);
    CHECK(st == LLM4ALL_OK && text && std::string(text, len) == "h\xc3\xa9|1.5" && std::strlen(text) == len, "C ABI render");
    llm4all_free(text);
    text = nullptr;
    st = llm4all_chat_template_render("{{ 1 }}", "{not json", &text, &len);
    CHECK(st == LLM4ALL_ERR_INVALID_ARGUMENT && text == nullptr, "C ABI bad JSON: %d", static_cast<int>(st));
    st = llm4all_chat_template_render("{% for %}", "{}", &text, nullptr);
    CHECK(st == LLM4ALL_ERR_TEMPLATE && std::strstr(llm4all_last_error(), "line 1") != nullptr, "C ABI syntax: %s",
          llm4all_last_error());
    st = llm4all_chat_template_render("{{ raise_exception('nope') }}", "{}", &text, nullptr);
    CHECK(st == LLM4ALL_ERR_TEMPLATE && std::strstr(llm4all_last_error(), "template raised: nope") != nullptr, "C ABI raise");
    st = llm4all_chat_template_render(nullptr, "{}", &text, nullptr);
    CHECK(st == LLM4ALL_ERR_INVALID_ARGUMENT, "C ABI NULL template");
}

// A 20-turn conversation with tool calls through Qwen2.5's template (as shipped in its GGUF).
static void test_speed() {
    const char *qwen =
        "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n"
        "        {{- messages[0]['content'] }}\n    {%- else %}\n"
        "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n    {%- endif %}\n"
        "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with "
        "function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n    {%- for tool in tools %}\n"
        "        {{- \"\\n\" }}\n        {{- tool | tojson }}\n    {%- endfor %}\n"
        "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": <function-name>, \\\"arguments\\\": <args-json-object>}"
        "\\n</tool_call><|im_end|>\\n\" }}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n"
        "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n"
        "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
        "    {%- endif %}\n{%- endif %}\n{%- for message in messages %}\n"
        "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or (message.role == "
        "\"assistant\" and not message.tool_calls) %}\n"
        "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
        "    {%- elif message.role == \"assistant\" %}\n        {{- '<|im_start|>' + message.role }}\n"
        "        {%- if message.content %}\n            {{- '\\n' + message.content }}\n        {%- endif %}\n"
        "        {%- for tool_call in message.tool_calls %}\n            {%- if tool_call.function is defined %}\n"
        "                {%- set tool_call = tool_call.function %}\n            {%- endif %}\n"
        "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n            {{- tool_call.name }}\n"
        "            {{- '\", \"arguments\": ' }}\n            {{- tool_call.arguments | tojson }}\n"
        "            {{- '}\\n</tool_call>' }}\n        {%- endfor %}\n        {{- '<|im_end|>\\n' }}\n"
        "    {%- elif message.role == \"tool\" %}\n"
        "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
        "            {{- '<|im_start|>user' }}\n        {%- endif %}\n        {{- '\\n<tool_response>\\n' }}\n"
        "        {{- message.content }}\n        {{- '\\n</tool_response>' }}\n"
        "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n            {{- '<|im_end|>\\n' }}\n"
        "        {%- endif %}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n"
        "    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n";
    std::string json = R"({"add_generation_prompt": true, "tools": [{"type": "function", "function": {"name": "get_weather", )"
                       R"("description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, )"
                       R"("days": {"type": "integer"}}, "required": ["city"]}}}], "messages": [{"role": "system", "content": "Be brief."})";
    for (int i = 0; i < 20; ++i) {
        json += R"(, {"role": "user", "content": "What is the weather in city )" + std::to_string(i) + R"(? Zürich 東京"})";
        json += R"(, {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", )"
                R"("arguments": {"city": "C)" + std::to_string(i) + R"(", "days": 3}}}]})";
        json += R"(, {"role": "tool", "content": "{\"temperature\": 21.5}"})";
        json += R"(, {"role": "assistant", "content": "It is sunny and 21.5 degrees."})";
    }
    json += "]}";
    auto tpl = jinja::Template::parse(qwen);
    jinja::Value ctx = jinja::context_from_json(json);
    std::string out = tpl.render(ctx);
    CHECK(out.find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"C19\", \"days\": 3}}") != std::string::npos,
          "qwen render content");
    // best of 5 batches: the machine may be shared
    double per = 1e9;
    for (int b = 0; b < 5; ++b) {
        const int n = 40;
        double t0 = now_s();
        for (int i = 0; i < n; ++i) out = tpl.render(ctx);
        per = std::min(per, (now_s() - t0) / n);
    }
    std::printf("Qwen2.5 tools template, 20 turns (81 messages): %.1f us per render, %zu bytes\n", per * 1e6, out.size());
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
    CHECK(per < 1e-3, "render took %.3f ms (limit 1 ms)", per * 1e3);
#endif
}

int main() {
    test_cases();
    test_hostile();
    test_api();
    test_c_abi();
    test_speed();
    std::printf("%d checks passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
