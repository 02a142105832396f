// chat.h — a conversation over a session: messages rendered with the model's
// Jinja chat template (core/src/jinja), tokenized with special tokens parsed,
// and decoded with prefix reuse, so a new turn only decodes its new tokens.
// Old turns are dropped when the conversation outgrows n_ctx; reasoning
// (<think>...</think>) is kept apart from the answer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "generate.h"
#include "session.h"

namespace llm4all {

namespace jinja {
class Template;
class Value;
}

struct ChatReply {
    Generation gen;             // gen.text is the raw generated text
    std::string answer;         // gen.text without reasoning
    std::string reasoning;      // text inside <think>...</think> ("" when none)
    int32_t dropped_messages = 0;
};

class Chat {
public:
    // template_src empty = the model's tokenizer.chat_template; variables_json
    // is a JSON object of extra template variables ("" = none).
    Chat(Session &session, const std::string &template_src, const std::string &system_message,
         const std::string &variables_json, bool drop_oldest);
    ~Chat();

    // message_json: one JSON object with a string "role".
    void add_message(const std::string &message_json);
    void set_messages(const std::string &array_json);
    std::string messages_json() const;
    // The prompt the next respond() would start from.
    std::string render() const;
    ChatReply respond(const llm4all_generate_options &options, llm4all_on_token on_token, void *user);
    void reset();   // keeps the system message
    Session &session() { return session_; }

private:
    struct Message {
        std::string role;
        std::shared_ptr<const jinja::Value> value;   // the whole object, as the template sees it
    };
    std::string render_from(size_t first) const;   // system message(s) + messages_[first..]

    Session &session_;
    std::unique_ptr<jinja::Template> template_;
    std::shared_ptr<const jinja::Value> variables_;   // a dict
    std::string bos_text_, eos_text_;
    std::vector<Message> messages_;
    bool drop_oldest_ = true;
};

} // namespace llm4all
