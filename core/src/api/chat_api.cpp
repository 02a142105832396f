// chat_api.cpp — C entry points for chat sessions (core/src/chat).
#include <cstring>

#include "api/handles.h"
#include "api/options.h"
#include "api/shim.h"
#include "chat.h"

using namespace llm4all;

struct llm4all_chat {
    llm4all::Chat impl;
    template <class... A>
    explicit llm4all_chat(A &&...a) : impl(std::forward<A>(a)...) {}
};

namespace {
std::string opt_str(const char *s) { return s ? std::string(s) : std::string(); }

void fill_stats(llm4all_chat_stats *st, const ChatReply &r) {
    if (!st) return;
    if (st->size < sizeof(uint32_t) || st->size > sizeof(llm4all_chat_stats))
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "llm4all_chat_stats.size is wrong: set it to sizeof(llm4all_chat_stats)");
    llm4all_chat_stats s{};
    s.size = st->size;
    s.prompt_tokens = r.gen.n_prompt;
    s.reused_tokens = r.gen.n_prompt - r.gen.n_decoded;
    s.decoded_tokens = r.gen.n_decoded;
    s.generated_tokens = r.gen.n_generated;
    s.dropped_messages = r.dropped_messages;
    s.stop_reason = r.gen.stop;
    s.prompt_ms = r.gen.prompt_ms;
    s.generate_ms = r.gen.generate_ms;
    std::memcpy(st, &s, st->size);
}
} // namespace

extern "C" {

void llm4all_chat_options_init(llm4all_chat_options *o) {
    if (!o) return;
    std::memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->overflow = LLM4ALL_CHAT_DROP_OLDEST;
}

llm4all_status llm4all_chat_new(llm4all_session *session, const llm4all_chat_options *options,
                                llm4all_chat **out_chat) {
    return guarded([&] {
        LLM4ALL_REQUIRE(out_chat, "out_chat is NULL");
        *out_chat = nullptr;
        LLM4ALL_REQUIRE(session, "session is NULL");
        llm4all_chat_options o = read_options(options, llm4all_chat_options_init, "llm4all_chat_options");
        LLM4ALL_REQUIRE(o.overflow == LLM4ALL_CHAT_DROP_OLDEST || o.overflow == LLM4ALL_CHAT_ERROR,
                        "overflow must be LLM4ALL_CHAT_DROP_OLDEST (0) or LLM4ALL_CHAT_ERROR (1)");
        *out_chat = new llm4all_chat(session->impl, opt_str(o.template_src), opt_str(o.system_message),
                                     opt_str(o.variables_json), o.overflow == LLM4ALL_CHAT_DROP_OLDEST);
    });
}

void llm4all_chat_free(llm4all_chat *chat) { delete chat; }

llm4all_status llm4all_chat_add_message(llm4all_chat *chat, const char *message_json) {
    return guarded([&] {
        LLM4ALL_REQUIRE(chat && message_json, "chat or message_json is NULL");
        chat->impl.add_message(message_json);
    });
}

llm4all_status llm4all_chat_set_messages(llm4all_chat *chat, const char *messages_json) {
    return guarded([&] {
        LLM4ALL_REQUIRE(chat && messages_json, "chat or messages_json is NULL");
        chat->impl.set_messages(messages_json);
    });
}

llm4all_status llm4all_chat_messages(const llm4all_chat *chat, char **out_json) {
    return guarded([&] {
        LLM4ALL_REQUIRE(chat && out_json, "chat or out_json is NULL");
        *out_json = dup_string(chat->impl.messages_json());
    });
}

llm4all_status llm4all_chat_render(const llm4all_chat *chat, char **out_text) {
    return guarded([&] {
        LLM4ALL_REQUIRE(chat && out_text, "chat or out_text is NULL");
        *out_text = dup_string(chat->impl.render());
    });
}

llm4all_status llm4all_chat_respond(llm4all_chat *chat, const llm4all_generate_options *options,
                                    llm4all_on_token on_token, void *user, char **out_text, char **out_reasoning,
                                    llm4all_chat_stats *stats) {
    return guarded([&] {
        if (out_text) *out_text = nullptr;
        if (out_reasoning) *out_reasoning = nullptr;
        LLM4ALL_REQUIRE(chat, "chat is NULL");
        llm4all_generate_options o = read_generate_options(options);
        chat->impl.session().clear_abort();
        ChatReply r = chat->impl.respond(o, on_token, user);
        fill_stats(stats, r);
        if (out_text) *out_text = dup_string(r.answer);
        if (out_reasoning) *out_reasoning = dup_string(r.reasoning);
    });
}

llm4all_status llm4all_chat_send(llm4all_chat *chat, const char *text, const llm4all_generate_options *options,
                                 llm4all_on_token on_token, void *user, char **out_text, char **out_reasoning,
                                 llm4all_chat_stats *stats) {
    if (out_text) *out_text = nullptr;
    if (out_reasoning) *out_reasoning = nullptr;
    llm4all_status s = guarded([&] {
        LLM4ALL_REQUIRE(chat && text, "chat or text is NULL");
        validate_utf8_arg(text, "chat message text");
        chat->impl.add_message("{\"role\":\"user\",\"content\":\"" + json_escape(text) + "\"}");
    });
    if (s != LLM4ALL_OK) return s;
    return llm4all_chat_respond(chat, options, on_token, user, out_text, out_reasoning, stats);
}

llm4all_status llm4all_chat_reset(llm4all_chat *chat) {
    return guarded([&] {
        LLM4ALL_REQUIRE(chat, "chat is NULL");
        chat->impl.reset();
    });
}

} // extern "C"
