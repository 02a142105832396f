// session_api.cpp — C entry points for sessions, scoring and generation.
#include <cstring>
#include <vector>

#include "api/handles.h"
#include "api/options.h"
#include "api/shim.h"
#include "batch.h"
#include "generate.h"
#include "limits.h"
#include "memory.h"

using namespace llm4all;


extern "C" {

void llm4all_session_options_init(llm4all_session_options *o) {
    if (!o) return;
    std::memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->n_ctx = 0;
    o->n_batch = 512;
    o->n_threads = 0;
    o->kv_type = LLM4ALL_KV_F16;
}

void llm4all_sampler_options_init(llm4all_sampler_options *o) {
    if (!o) return;
    std::memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->temp = 0.7f;
    o->top_k = 40;
    o->top_p = 0.9f;
    o->min_p = 0.0f;
    o->repeat_penalty = 1.0f;   // off, as in llama.cpp: temp 0 alone is then exact greedy
    o->repeat_last_n = 64;
    o->seed = 0;
}

void llm4all_generate_options_init(llm4all_generate_options *o) {
    if (!o) return;
    std::memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->max_tokens = 128;
    o->add_special = true;
    o->parse_special = true;
    o->stop_at_eog = true;
    llm4all_sampler_options_init(&o->sampling);
    o->stop = nullptr;
    o->n_stop = 0;
}

const char *llm4all_stop_reason_name(int32_t reason) {
    switch (reason) {
    case LLM4ALL_STOP_MAX_TOKENS: return "max_tokens";
    case LLM4ALL_STOP_EOG: return "eog";
    case LLM4ALL_STOP_ABORTED: return "aborted";
    case LLM4ALL_STOP_CONTEXT_FULL: return "context_full";
    case LLM4ALL_STOP_STOP_STRING: return "stop_string";
    default: return "unknown";
    }
}

void llm4all_session_abort(llm4all_session *session) {
    if (session) session->impl.request_abort();
}

llm4all_status llm4all_session_new(llm4all_model *model, const llm4all_session_options *options,
                                   llm4all_session **out_session) {
    return guarded([&] {
        LLM4ALL_REQUIRE(out_session, "out_session is NULL");
        *out_session = nullptr;
        LLM4ALL_REQUIRE(model, "model is NULL");
        llm4all_session_options o = read_options(options, llm4all_session_options_init, "llm4all_session_options");
        LLM4ALL_REQUIRE(o.kv_type == LLM4ALL_KV_F16 || o.kv_type == LLM4ALL_KV_F32,
                        "kv_type must be LLM4ALL_KV_F16 (0) or LLM4ALL_KV_F32 (1)");
        // Before the KV cache is allocated and cleared. Sizes out of range are left to the
        // session's own checks, which name the option.
        if (!model->skip_memory_check && o.n_ctx >= 0 && o.n_ctx <= k_max_session_ctx && o.n_batch >= 0)
            check_session_memory(model->impl, o.n_ctx, o.n_batch,
                                 o.kv_type == LLM4ALL_KV_F32 ? LLM4ALL_TYPE_F32 : LLM4ALL_TYPE_F16);
        *out_session = new llm4all_session(model->impl, o.n_ctx, o.n_batch, o.n_threads,
                                           o.kv_type == LLM4ALL_KV_F32 ? LLM4ALL_TYPE_F32 : LLM4ALL_TYPE_F16);
    });
}

void llm4all_session_free(llm4all_session *session) { delete session; }

int32_t llm4all_session_n_ctx(const llm4all_session *s) { return s ? s->impl.n_ctx() : 0; }
int32_t llm4all_session_n_past(const llm4all_session *s) { return s ? s->impl.n_past() : 0; }

llm4all_status llm4all_session_set_tokens(llm4all_session *session, const int32_t *tokens, size_t n_tokens) {
    return guarded([&] {
        LLM4ALL_REQUIRE(session, "session is NULL");
        LLM4ALL_REQUIRE(tokens || n_tokens == 0, "tokens is NULL");
        session->impl.clear_abort();
        session->impl.set_tokens(tokens, n_tokens);
    });
}

llm4all_status llm4all_session_decode(llm4all_session *session, const int32_t *tokens, size_t n_tokens, bool all_logits) {
    return guarded([&] {
        LLM4ALL_REQUIRE(session && tokens, "session or tokens is NULL");
        session->impl.clear_abort();
        session->impl.decode(tokens, n_tokens, all_logits);
    });
}

llm4all_status llm4all_decode_batch(const llm4all_batch_item *items, size_t n_items) {
    return guarded([&] {
        LLM4ALL_REQUIRE(items || n_items == 0, "items is NULL");
        std::vector<DecodeItem> di(n_items);
        for (size_t i = 0; i < n_items; ++i)
            di[i] = DecodeItem{items[i].session ? &items[i].session->impl : nullptr, items[i].tokens,
                               items[i].n_tokens, items[i].all_logits};
        for (const DecodeItem &d : di)
            if (d.session) d.session->clear_abort();
        decode_batch(di.data(), di.size());
    });
}

llm4all_status llm4all_session_logits(const llm4all_session *session, const float **out_logits, int32_t *out_rows) {
    return guarded([&] {
        LLM4ALL_REQUIRE(session && out_logits && out_rows, "session, out_logits or out_rows is NULL");
        if (session->impl.logits_rows() == 0)
            fail(LLM4ALL_ERR_INVALID_ARGUMENT, "no logits: decode tokens first");
        *out_logits = session->impl.logits();
        *out_rows = session->impl.logits_rows();
    });
}

llm4all_status llm4all_session_truncate(llm4all_session *session, int32_t n_keep) {
    return guarded([&] {
        LLM4ALL_REQUIRE(session, "session is NULL");
        session->impl.truncate(n_keep);
    });
}

llm4all_status llm4all_session_score(llm4all_session *session, const int32_t *tokens, size_t n_tokens, size_t first,
                                     float *out_logprobs, int32_t *out_top1) {
    return guarded([&] {
        LLM4ALL_REQUIRE(session && tokens, "session or tokens is NULL");
        session->impl.clear_abort();
        session->impl.score(tokens, n_tokens, first, out_logprobs, out_top1);
    });
}

llm4all_status llm4all_session_generate(llm4all_session *session, const char *prompt,
                                        const llm4all_generate_options *options, llm4all_on_token on_token,
                                        void *user, char **out_text, llm4all_generate_result *result) {
    return guarded([&] {
        if (out_text) *out_text = nullptr;
        LLM4ALL_REQUIRE(session && prompt, "session or prompt is NULL");
        llm4all_generate_options o = read_generate_options(options);
        session->impl.clear_abort();
        std::string text = generate(session->impl, prompt, o, on_token, user, result);
        if (out_text) *out_text = dup_string(text);
    });
}

} // extern "C"
