// fuzz_chat_json.cpp — the chat message JSON of the C ABI (llm4all_chat_add_message,
// llm4all_chat_set_messages, llm4all_chat_new's variables_json) on arbitrary bytes,
// each accepted conversation then rendered through a ChatML template with tool calls
// and listed back (llm4all_chat_render, llm4all_chat_messages). Runs on the real
// stories260K model; its backend plugin comes from LLM4ALL_BACKEND_PATH (run.sh
// points it at a release build). Every call must return a status, never crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_common.h"
#include "llm4all/llm4all.h"

namespace {

const char *k_template =
    "{%- if tools %}<|im_start|>system\n{{ tools | tojson }}<|im_end|>\n{%- endif %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n"
    "{%- if m.content is string %}{{ m.content }}{%- elif m.content %}"
    "{%- for part in m.content %}{{ part.text if part.text is defined else part | tojson }}{%- endfor %}{%- endif %}"
    "{%- if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{%- endif %}"
    "{%- for tc in m.tool_calls or [] %}<tool_call>{{ (tc.function or tc) | tojson }}</tool_call>{%- endfor %}"
    "<|im_end|>\n{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}";

struct Fixture {
    llm4all_model *model = nullptr;
    llm4all_session *session = nullptr;
    llm4all_chat *chat = nullptr;
};

Fixture &fixture() {
    static Fixture fx = [] {
        Fixture f;
        const std::string path = fuzz::testdata() + "/models/stories260K.gguf";
        if (llm4all_model_load(path.c_str(), nullptr, &f.model) != LLM4ALL_OK) {
            std::fprintf(stderr, "fuzz_chat_json: cannot load %s (is LLM4ALL_BACKEND_PATH a build's lib/?): %s\n",
                         path.c_str(), llm4all_last_error());
            std::abort();
        }
        llm4all_session_options so;
        llm4all_session_options_init(&so);
        so.n_ctx = 256;
        so.n_threads = 1;
        if (llm4all_session_new(f.model, &so, &f.session) != LLM4ALL_OK) std::abort();
        llm4all_chat_options co;
        llm4all_chat_options_init(&co);
        co.template_src = k_template;
        co.system_message = "You are terse.";
        if (llm4all_chat_new(f.session, &co, &f.chat) != LLM4ALL_OK) {
            std::fprintf(stderr, "fuzz_chat_json: chat_new: %s\n", llm4all_last_error());
            std::abort();
        }
        return f;
    }();
    return fx;
}

// Renders and lists the conversation; the JSON listing must come back as text.
void exercise(llm4all_chat *chat) {
    char *out = nullptr;
    if (llm4all_chat_render(chat, &out) == LLM4ALL_OK && !out) std::abort();
    llm4all_free(out);
    out = nullptr;
    if (llm4all_chat_messages(chat, &out) != LLM4ALL_OK || !out || out[0] != '[') std::abort();
    llm4all_free(out);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Fixture &fx = fixture();
    if (size == 0) return 0;
    // The C ABI takes NUL-terminated strings: the input after its first byte, as one.
    const std::string json(reinterpret_cast<const char *>(data + 1), size - 1);
    switch (data[0] % 3) {
    case 0:
        (void)llm4all_chat_set_messages(fx.chat, json.c_str());
        exercise(fx.chat);
        break;
    case 1:
        (void)llm4all_chat_add_message(fx.chat, json.c_str());
        exercise(fx.chat);
        break;
    default: {
        llm4all_chat_options co;
        llm4all_chat_options_init(&co);
        co.template_src = k_template;
        co.variables_json = json.c_str();
        llm4all_chat *c = nullptr;
        if (llm4all_chat_new(fx.session, &co, &c) == LLM4ALL_OK) {
            (void)llm4all_chat_add_message(c, "{\"role\":\"user\",\"content\":\"hi\"}");
            exercise(c);
        }
        llm4all_chat_free(c);
    }
    }
    (void)llm4all_chat_reset(fx.chat);
    return 0;
}
