// jinja.h — the chat-template engine's interface inside the core: parse a Jinja
// template once, render it many times over a context of values. Renders as
// Hugging Face transformers' apply_chat_template(tokenize=False) does (jinja2's
// ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, HF's
// tojson/raise_exception/strftime_now). Sandboxed: no file, environment or
// process access exists, and every render is bounded by Limits.
//
// Errors: parse_template/Template::render/render throw llm4all::Error with status
// LLM4ALL_ERR_TEMPLATE ("template line L, column C: ...", or "template raised: MSG
// (template line L, column C)" for raise_exception); context_from_json throws
// LLM4ALL_ERR_INVALID_ARGUMENT for bad JSON.
//
// Example (the chat session):
//   auto tpl = jinja::Template::parse(model_template);          // once per model
//   jinja::Value ctx = jinja::context_from_json(messages_json); // or build it:
//   auto msgs = jinja::Value::list({jinja::make_dict({{"role", jinja::Value::string("user")},
//                                                    {"content", jinja::Value::string("Hi")}})});
//   jinja::Value ctx = jinja::make_dict({{"messages", msgs},
//                                        {"add_generation_prompt", jinja::Value::boolean(true)},
//                                        {"bos_token", jinja::Value::string("<s>")}});
//   std::string prompt = tpl.render(ctx);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "value.h"

namespace llm4all::jinja {

// Per-render bounds. A template that exceeds one fails with LLM4ALL_ERR_TEMPLATE.
struct Limits {
    uint64_t max_steps = 5'000'000;            // statements + expression nodes + items touched by filters
    uint64_t max_output_bytes = 32u << 20;     // the rendered text (and any captured block)
    uint64_t max_string_bytes = 32u << 20;     // one string value
    uint64_t max_alloc_bytes = 256u << 20;     // bytes of strings/lists/dicts created over the render
    uint64_t max_list_items = 4'000'000;       // one list/dict
    int max_call_depth = 100;                  // nested macro / caller calls
    int max_parse_depth = 256;                 // nesting of brackets, operators and blocks in the source
    uint64_t max_stack_bytes = 400u << 10;     // native stack the parser/interpreter may use (fits a
                                               // 1 MiB thread stack, e.g. a JVM thread's)
    uint64_t max_template_bytes = 16u << 20;   // template source size
    uint32_t max_milliseconds = 500;           // wall-clock backstop for one render (0 = none),
                                               // plus k_render_ms_per_kib per KiB of the context's
                                               // text; the limits above normally stop a template first
};
constexpr uint32_t k_render_ms_per_kib = 1;

struct TemplateImpl;

class Template {
public:
    // Parses src; throws llm4all::Error(LLM4ALL_ERR_TEMPLATE) on a syntax error.
    static Template parse(std::string_view src, const Limits &limits = Limits());
    // Renders with ctx (a dict Value; its keys are the template's variables).
    // Thread-safe: a parsed Template may be rendered concurrently.
    std::string render(const Value &ctx, const Limits &limits = Limits()) const;

private:
    std::shared_ptr<const TemplateImpl> impl_;
};

// JSON text -> Value (objects -> dict in key order, ints stay ints, floats stay floats).
// Throws llm4all::Error(LLM4ALL_ERR_INVALID_ARGUMENT) on bad JSON.
Value context_from_json(std::string_view json);

// Builds a dict Value from (key, value) pairs in order.
Value make_dict(std::vector<std::pair<std::string, Value>> items);

// One-shot: parse src and render it over the JSON object context_json.
std::string render(std::string_view src, std::string_view context_json);

} // namespace llm4all::jinja
