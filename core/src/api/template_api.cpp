// template_api.cpp — the C ABI of the chat template engine (core/src/jinja).
#include "jinja/jinja.h"
#include "llm4all/llm4all.h"
#include "shim.h"

using namespace llm4all;

extern "C" {

LLM4ALL_API llm4all_status llm4all_chat_template_render(const char *template_src, const char *context_json,
                                                        char **out_text, size_t *out_len) {
    return guarded([&] {
        LLM4ALL_REQUIRE(template_src && context_json && out_text, "chat_template_render: NULL argument");
        *out_text = nullptr;
        if (out_len) *out_len = 0;
        jinja::Value ctx = jinja::context_from_json(context_json);
        std::string text = jinja::Template::parse(template_src).render(ctx);
        *out_text = dup_string(text);
        if (out_len) *out_len = text.size();
    });
}

} // extern "C"
