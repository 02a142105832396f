// template_api.cpp — the C ABI of the chat template engine (core/src/jinja).
#include "llm4all/llm4all.h"
#include "shim.h"

using namespace llm4all;

extern "C" {

LLM4ALL_API llm4all_status llm4all_chat_template_render(const char *template_src, const char *context_json,
                                                        char **out_text, size_t *out_len) {
    return guarded([&] {
        LLM4ALL_REQUIRE(template_src && context_json && out_text, "chat_template_render: NULL argument");
        fail(LLM4ALL_ERR_UNSUPPORTED, "chat templates are not implemented yet");
        (void)out_len;
    });
}

} // extern "C"
