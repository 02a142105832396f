// test_chat.cpp — chat sessions through the public C ABI only (llm4all_chat_*), on
// stories260K with a ChatML-like template passed in: the reply equals plain
// generation on the rendered prompt, a second turn decodes only its new tokens,
// old turns are dropped to fit n_ctx (or an error, if asked), messages round-trip
// as JSON, stop strings, abort, and every bad argument gives a clear error.
// Test data: $LLM4ALL_TESTDATA or ../shared/testdata; skips when absent.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <thread>

#include "llm4all/llm4all.h"

#include "check.h"

namespace {

const char *kTemplate =
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}";

llm4all_model *g_model = nullptr;

void check_status(llm4all_status got, llm4all_status want, const std::string &what) {
    bool ok = got == want;
    if (ok && want != LLM4ALL_OK) ok = std::strlen(llm4all_last_error()) > 0;
    check(ok, what + ": got " + llm4all_status_name(got) + " (" + (got ? llm4all_last_error() : "") + "), want " +
                  llm4all_status_name(want));
}

std::string find_model() {
    const char *env = std::getenv("LLM4ALL_TESTDATA");
    for (std::string r : {std::string(env ? env : ""), std::string("../shared/testdata"),
                          std::string("../../shared/testdata")}) {
        struct stat st;
        if (!r.empty() && stat((r + "/models/stories260K.gguf").c_str(), &st) == 0)
            return r + "/models/stories260K.gguf";
    }
    return "";
}

llm4all_session *new_session(int32_t n_ctx) {
    llm4all_session_options so;
    llm4all_session_options_init(&so);
    so.n_ctx = n_ctx;
    so.n_threads = 2;
    llm4all_session *s = nullptr;
    check_status(llm4all_session_new(g_model, &so, &s), LLM4ALL_OK, "session_new");
    return s;
}

llm4all_chat *new_chat(llm4all_session *s, const char *system, int32_t overflow = LLM4ALL_CHAT_DROP_OLDEST) {
    llm4all_chat_options co;
    llm4all_chat_options_init(&co);
    co.template_src = kTemplate;
    co.system_message = system;
    co.overflow = overflow;
    llm4all_chat *c = nullptr;
    check_status(llm4all_chat_new(s, &co, &c), LLM4ALL_OK, "chat_new");
    return c;
}

llm4all_generate_options greedy(int32_t max_tokens) {
    llm4all_generate_options o;
    llm4all_generate_options_init(&o);
    o.max_tokens = max_tokens;
    o.sampling.temp = 0;
    o.sampling.repeat_penalty = 1.0f;
    return o;
}

std::string take(char *p) {
    std::string s = p ? p : "";
    llm4all_free(p);
    return s;
}

void test_reply_and_reuse() {
    llm4all_session *s = new_session(256);
    llm4all_chat *c = new_chat(s, "You tell stories.");
    llm4all_generate_options o = greedy(12);
    llm4all_chat_stats st{};
    st.size = sizeof st;
    char *answer = nullptr, *reasoning = nullptr;
    check_status(llm4all_chat_send(c, "Once upon a time", &o, nullptr, nullptr, &answer, &reasoning, &st), LLM4ALL_OK,
                 "first send");
    const std::string first = take(answer);
    check(take(reasoning).empty(), "no reasoning without <think>");
    check(st.reused_tokens == 0 && st.decoded_tokens == st.prompt_tokens && st.generated_tokens > 0,
          "first turn decodes its whole prompt");

    // The same prompt through plain generation on a fresh session gives the same reply.
    {
        llm4all_session *fresh = new_session(256);
        char *text = nullptr;
        llm4all_generate_options g = greedy(12);
        g.add_special = true;
        check_status(llm4all_session_generate(fresh, "<|system|>You tell stories.\n<|user|>Once upon a time\n<|assistant|>",
                                              &g, nullptr, nullptr, &text, nullptr),
                     LLM4ALL_OK, "generate on the rendered prompt");
        check(take(text) == first, "chat reply == generation on the rendered prompt");
        llm4all_session_free(fresh);
    }

    const int32_t first_prompt = st.prompt_tokens;
    check_status(llm4all_chat_send(c, "The end", &o, nullptr, nullptr, nullptr, nullptr, &st), LLM4ALL_OK, "second send");
    check(st.reused_tokens >= first_prompt && st.decoded_tokens > 0 && st.decoded_tokens < st.prompt_tokens - first_prompt + 8,
          "second turn reuses the cache (reused " + std::to_string(st.reused_tokens) + ", decoded " +
              std::to_string(st.decoded_tokens) + ")");
    char *json = nullptr;
    check_status(llm4all_chat_messages(c, &json), LLM4ALL_OK, "messages");
    const std::string j = take(json);
    check(j.rfind("[{\"role\":\"system\",\"content\":\"You tell stories.\"},{\"role\":\"user\",\"content\":\"Once upon a time\"},"
                  "{\"role\":\"assistant\",\"content\":",
                  0) == 0,
          "messages JSON: " + j.substr(0, 120));
    char *prompt = nullptr;
    check_status(llm4all_chat_render(c, &prompt), LLM4ALL_OK, "render");
    const std::string p = take(prompt);
    check(p.find("<|user|>The end\n<|assistant|>") != std::string::npos && p.size() > 40, "render shows the turns");

    // Messages replaced wholesale (JSON), then reset keeps only the system message.
    check_status(llm4all_chat_set_messages(c, "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"\\u00e9\"}]"),
                 LLM4ALL_OK, "set_messages");
    check_status(llm4all_chat_render(c, &prompt), LLM4ALL_OK, "render after set");
    check(take(prompt) == "<|system|>S\n<|user|>\xc3\xa9\n<|assistant|>", "render after set_messages");
    check_status(llm4all_chat_reset(c), LLM4ALL_OK, "reset");
    check_status(llm4all_chat_messages(c, &json), LLM4ALL_OK, "messages after reset");
    check(take(json) == "[{\"role\":\"system\",\"content\":\"S\"}]", "reset keeps the system message");
    llm4all_chat_free(c);
    llm4all_session_free(s);
}

void test_overflow() {
    llm4all_session *s = new_session(96);
    llm4all_chat *c = new_chat(s, "Sys.");
    llm4all_generate_options o = greedy(8);
    llm4all_chat_stats st{};
    st.size = sizeof st;
    int32_t dropped = 0;
    for (int i = 0; i < 8; ++i) {
        check_status(llm4all_chat_send(c, "Tell me about the little dog and the big cat.", &o, nullptr, nullptr, nullptr,
                                       nullptr, &st),
                     LLM4ALL_OK, "send " + std::to_string(i));
        check(st.prompt_tokens + 8 <= 96 || st.dropped_messages == 0, "prompt fits n_ctx with room");
        dropped += st.dropped_messages;
    }
    check(dropped > 0, "old turns were dropped");
    char *json = nullptr;
    llm4all_chat_messages(c, &json);
    check(take(json).rfind("[{\"role\":\"system\",\"content\":\"Sys.\"},{\"role\":\"user\"", 0) == 0,
          "the system message stays first");
    llm4all_chat_free(c);

    llm4all_chat *strict = new_chat(s, nullptr, LLM4ALL_CHAT_ERROR);
    std::string long_text;
    for (int i = 0; i < 60; ++i) long_text += "dog cat ";
    check_status(llm4all_chat_send(strict, long_text.c_str(), &o, nullptr, nullptr, nullptr, nullptr, nullptr),
                 LLM4ALL_ERR_CONTEXT_FULL, "a prompt over n_ctx with overflow=error");
    llm4all_chat_free(strict);
    llm4all_session_free(s);
}

void test_stop_and_abort() {
    llm4all_session *s = new_session(512);
    llm4all_chat *c = new_chat(s, nullptr);
    llm4all_generate_options o = greedy(48);
    char *answer = nullptr;
    check_status(llm4all_chat_send(c, "Once upon a time", &o, nullptr, nullptr, &answer, nullptr, nullptr), LLM4ALL_OK,
                 "send");
    const std::string full = take(answer);
    const size_t at = full.find(' ', 4);
    check(at != std::string::npos, "a reply with several words: " + full);
    if (at == std::string::npos) return;
    const std::string stop = full.substr(at, 3);
    const char *stops[] = {stop.c_str()};
    o.stop = stops;
    o.n_stop = 1;
    llm4all_chat_stats st{};
    st.size = sizeof st;
    llm4all_chat_reset(c);
    check_status(llm4all_chat_send(c, "Once upon a time", &o, nullptr, nullptr, &answer, nullptr, &st), LLM4ALL_OK,
                 "send with a stop string");
    check(take(answer) == full.substr(0, full.find(stop)) && st.stop_reason == LLM4ALL_STOP_STOP_STRING,
          "stops before the stop string");
    check(std::strcmp(llm4all_stop_reason_name(st.stop_reason), "stop_string") == 0, "stop reason name");

    // Abort from another thread while a long reply is being generated.
    o = greedy(100000);
    o.stop_at_eog = false;
    llm4all_chat_reset(c);
    std::atomic<int> pieces{0};
    auto on_piece = [](const char *, int32_t, void *user) {
        ++*static_cast<std::atomic<int> *>(user);
        return true;
    };
    std::thread stopper([&] {
        while (pieces.load() < 5) std::this_thread::yield();
        llm4all_session_abort(s);
    });
    check_status(llm4all_chat_send(c, "Once upon a time", &o, on_piece, &pieces, nullptr, nullptr, &st), LLM4ALL_OK,
                 "send aborted by another thread");
    stopper.join();
    check(st.stop_reason == LLM4ALL_STOP_ABORTED && st.generated_tokens < 400, "aborted soon");
    llm4all_chat_free(c);
    llm4all_session_free(s);
}

void test_bad_arguments() {
    llm4all_session *s = new_session(128);
    llm4all_chat *c = nullptr;
    check_status(llm4all_chat_new(s, nullptr, &c), LLM4ALL_ERR_TEMPLATE, "a model without a template, none given");
    check(c == nullptr, "no chat on failure");
    llm4all_chat_options co;
    llm4all_chat_options_init(&co);
    co.template_src = "{% for m in messages %}";
    check_status(llm4all_chat_new(s, &co, &c), LLM4ALL_ERR_TEMPLATE, "unterminated for");
    check(std::strstr(llm4all_last_error(), "line 1") != nullptr, "the error names the line");
    co.template_src = kTemplate;
    co.variables_json = "[1]";
    check_status(llm4all_chat_new(s, &co, &c), LLM4ALL_ERR_INVALID_ARGUMENT, "variables must be an object");
    co.variables_json = "{\"x\": ";
    check_status(llm4all_chat_new(s, &co, &c), LLM4ALL_ERR_INVALID_ARGUMENT, "bad variables JSON");
    co.variables_json = nullptr;
    co.overflow = 7;
    check_status(llm4all_chat_new(s, &co, &c), LLM4ALL_ERR_INVALID_ARGUMENT, "bad overflow");
    check_status(llm4all_chat_new(nullptr, nullptr, &c), LLM4ALL_ERR_INVALID_ARGUMENT, "NULL session");
    check_status(llm4all_chat_new(s, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT, "NULL out");

    c = new_chat(s, nullptr);
    check_status(llm4all_chat_add_message(c, "{\"content\":\"x\"}"), LLM4ALL_ERR_INVALID_ARGUMENT, "no role");
    check_status(llm4all_chat_add_message(c, "{\"role\":1}"), LLM4ALL_ERR_INVALID_ARGUMENT, "role not a string");
    check_status(llm4all_chat_add_message(c, "not json"), LLM4ALL_ERR_INVALID_ARGUMENT, "not JSON");
    check_status(llm4all_chat_set_messages(c, "{}"), LLM4ALL_ERR_INVALID_ARGUMENT, "messages not an array");
    check_status(llm4all_chat_send(c, "\xff\xfe", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr),
                 LLM4ALL_ERR_BAD_UTF8, "invalid UTF-8");
    check_status(llm4all_chat_send(c, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr),
                 LLM4ALL_ERR_INVALID_ARGUMENT, "NULL text");
    llm4all_chat_stats st{};
    st.size = 3;
    check_status(llm4all_chat_respond(c, nullptr, nullptr, nullptr, nullptr, nullptr, &st), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "bad stats size");
    check_status(llm4all_chat_add_message(c, "{\"role\":\"user\",\"content\":\"hi\",\"tool_calls\":[{\"a\":1.5}]}"),
                 LLM4ALL_OK, "a message with extra fields");
    char *json = nullptr;
    llm4all_chat_messages(c, &json);
    check(take(json).find("\"tool_calls\":[{\"a\":1.5}]") != std::string::npos, "extra fields are kept");
    co.template_src = "{{ raise_exception('only user turns') }}";
    co.overflow = LLM4ALL_CHAT_DROP_OLDEST;
    llm4all_chat *r = nullptr;
    check_status(llm4all_chat_new(s, &co, &r), LLM4ALL_OK, "a template that raises when rendered");
    check_status(llm4all_chat_send(r, "x", nullptr, nullptr, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_TEMPLATE,
                 "raise_exception is a template error");
    check(std::strstr(llm4all_last_error(), "only user turns") != nullptr, "with the template's message");
    llm4all_chat_free(r);
    llm4all_chat_free(c);
    llm4all_chat_free(nullptr);
    llm4all_session_free(s);
}

} // namespace

int main() {
    const std::string path = find_model();
    if (path.empty()) {
        std::printf("SKIP: stories260K.gguf not found (set LLM4ALL_TESTDATA)\n0 passed, 0 failed\n");
        return 0;
    }
    if (llm4all_model_load(path.c_str(), nullptr, &g_model) != LLM4ALL_OK) {
        std::printf("FAIL: cannot load %s: %s\n0 passed, 1 failed\n", path.c_str(), llm4all_last_error());
        return 1;
    }
    test_reply_and_reuse();
    test_overflow();
    test_stop_and_abort();
    test_bad_arguments();
    llm4all_model_free(g_model);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
