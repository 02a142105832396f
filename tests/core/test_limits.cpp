// test_limits.cpp — the C ABI refuses sizes it cannot honour before allocating:
// n_ctx, n_batch and n_threads out of range (session and embeddings) give
// INVALID_ARGUMENT naming the option; a KV cache beyond the machine's memory gives
// OUT_OF_MEMORY at once (no allocation, no crash); a prompt longer than the context
// is CONTEXT_FULL with the session untouched, and a batch size above n_ctx means n_ctx.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "llm4all/llm4all.h"

#include "check.h"

namespace {

std::string g_msg;

llm4all_status new_session(llm4all_model *m, int32_t n_ctx, int32_t n_batch, int32_t n_threads, llm4all_session **s,
                           int32_t kv_type = LLM4ALL_KV_F16) {
    llm4all_session_options o;
    llm4all_session_options_init(&o);
    o.n_ctx = n_ctx;
    o.n_batch = n_batch;
    o.n_threads = n_threads;
    o.kv_type = kv_type;
    *s = nullptr;
    llm4all_status st = llm4all_session_new(m, &o, s);
    g_msg = st ? llm4all_last_error() : "";
    return st;
}

bool has(const std::string &part) { return g_msg.find(part) != std::string::npos; }

} // namespace

int main() {
    const std::string path = testdata_file("models/stories260K.gguf");
    if (path.empty()) return 0;
    llm4all_model *m = nullptr;
    if (llm4all_model_load(path.c_str(), nullptr, &m) != LLM4ALL_OK) {
        std::printf("FAIL: cannot load %s: %s\n", path.c_str(), llm4all_last_error());
        return 1;
    }
    llm4all_session *s = nullptr;
    struct Bad {
        int32_t n_ctx, n_batch, n_threads;
        const char *phrase;
    };
    const Bad bad[] = {
        {-1, 0, 0, "n_ctx = -1"},
        {(1 << 24) + 1, 0, 0, "n_ctx = 16777217"},
        {0x7FFFFFFF, 0, 0, "n_ctx = 2147483647"},
        {0, -5, 0, "n_batch = -5"},
        {0, 0, -1, "n_threads = -1"},
        {0, 0, 1025, "n_threads = 1025"},
        {0, 0, 0x7FFFFFFF, "n_threads = 2147483647"},
    };
    for (const Bad &b : bad) {
        llm4all_status st = new_session(m, b.n_ctx, b.n_batch, b.n_threads, &s);
        check(st == LLM4ALL_ERR_INVALID_ARGUMENT && has(b.phrase) && !s,
              std::string(b.phrase) + ": got " + std::to_string(st) + " '" + g_msg + "'");
        llm4all_session_free(s);
    }

    // A batch size beyond the context is the context; a huge one allocates nothing extra.
    check(new_session(m, 64, 0x7FFFFFFF, 1, &s) == LLM4ALL_OK, "n_batch INT32_MAX with n_ctx 64: " + g_msg);
    if (s) {
        check(llm4all_session_n_ctx(s) == 64, "n_ctx stays 64");
        // A prompt longer than the context: CONTEXT_FULL, and the session is untouched.
        std::string prompt;
        for (int i = 0; i < 200; ++i) prompt += "Once upon a time ";
        llm4all_generate_options g;
        llm4all_generate_options_init(&g);
        g.max_tokens = 4;
        char *text = nullptr;
        llm4all_status st = llm4all_session_generate(s, prompt.c_str(), &g, nullptr, nullptr, &text, nullptr);
        g_msg = st ? llm4all_last_error() : "";
        check(st == LLM4ALL_ERR_CONTEXT_FULL && has("context") && llm4all_session_n_past(s) == 0 && !text,
              "over-long prompt: " + std::to_string(st) + " '" + g_msg + "'");
        llm4all_free(text);
        // The session still works afterwards.
        st = llm4all_session_generate(s, "Once upon a time", &g, nullptr, nullptr, &text, nullptr);
        check(st == LLM4ALL_OK && text, std::string("short prompt after the refusal: ") + (st ? llm4all_last_error() : ""));
        llm4all_free(text);
        llm4all_session_free(s);
    }
    llm4all_model_free(m);

    // A KV cache the machine cannot hold is refused before allocating: SmolLM2-135M
    // (30 layers x 3 KV heads x 64) at 16M tokens in F32 needs about 750 GiB.
    const char *home = std::getenv("HOME");
    const char *cache = std::getenv("LLM4ALL_CACHE");
    const std::string big = (cache ? std::string(cache) : std::string(home ? home : "") + "/.cache/llm4all/models") +
                            "/smollm2.gguf";
    if (access(big.c_str(), R_OK) != 0) {
        std::printf("SKIP (memory refusal part): %s not found (python3 -m llm4all pull smollm2)\n", big.c_str());
    } else if (llm4all_model_load(big.c_str(), nullptr, &m) == LLM4ALL_OK) {
        llm4all_status st = new_session(m, 1 << 24, 0, 1, &s, LLM4ALL_KV_F32);
        // (The memory estimate refuses it first when present; the physical-memory guard
        // of the session stands behind it, so either message may come.)
        check(st == LLM4ALL_ERR_OUT_OF_MEMORY && has("n_ctx 16777216") && has("MiB") && !s,
              "16M-token KV cache: " + std::to_string(st) + " '" + g_msg + "'");
        llm4all_session_free(s);
        llm4all_model_free(m);
    } else {
        check(false, std::string("cannot load ") + big + ": " + llm4all_last_error());
    }

    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
