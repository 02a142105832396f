// chat.cpp — chat sessions: render, tokenize, fit into n_ctx, generate, split
// reasoning from the answer, remember the reply.
#include "chat.h"

#include "error.h"
#include "jinja/jinja.h"
#include "gguf.h"

namespace llm4all {

namespace {

// Any JSON value (context_from_json takes objects only, so it is wrapped in one).
jinja::Value parse_json_arg(const std::string &text, const char *what) {
    try {
        return *jinja::context_from_json("{\"v\":" + text + "\n}").dict_obj().find("v");
    } catch (const Error &e) {
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string(what) + ": " + e.what());
    }
}

// A message (a JSON object with a string "role") as transformers' apply_chat_template
// hands it to the template: keys whose value is null are dropped (templates treat a
// missing key and None differently), and reasoning given under any of its names is
// also under "thinking" (first) and "reasoning_content" (last).
std::shared_ptr<const jinja::Value> checked_message(const jinja::Value &m) {
    const jinja::Value *role = m.is_dict() ? m.dict_obj().find("role") : nullptr;
    if (!role || !role->is_string())
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "a chat message must be a JSON object with a string \"role\"");
    const jinja::Value *reasoning = nullptr;
    for (const char *k : {"reasoning_content", "thinking", "reasoning"}) {
        const jinja::Value *v = m.dict_obj().find(k);
        if (v && !v->is_none()) { reasoning = v; break; }
    }
    std::vector<std::pair<std::string, jinja::Value>> items;
    if (reasoning) items.emplace_back("thinking", *reasoning);
    for (const auto &kv : m.dict_obj().items)
        if (!kv.second.is_none() && kv.first.is_string()) items.emplace_back(kv.first.str(), kv.second);
    if (reasoning) items.emplace_back("reasoning_content", *reasoning);
    return std::make_shared<const jinja::Value>(jinja::make_dict(std::move(items)));
}

const std::string &role_of(const jinja::Value &m) { return m.dict_obj().find("role")->str(); }

// JSON text of the values that come from JSON (messages are parsed from JSON or built here).
void to_json(std::string &out, const jinja::Value &v) {
    using K = jinja::Value::Kind;
    switch (v.kind()) {
    case K::Bool: out += v.as_bool() ? "true" : "false"; break;
    case K::Int: out += std::to_string(v.as_int()); break;
    case K::Float: out += jinja::float_repr(v.as_double()); break;
    case K::String: out += '"' + json_escape(v.str()) + '"'; break;
    case K::List: {
        out += '[';
        bool first = true;
        for (const jinja::Value &x : v.list_obj().items) {
            if (!first) out += ',';
            first = false;
            to_json(out, x);
        }
        out += ']';
        break;
    }
    case K::Dict: {
        out += '{';
        bool first = true;
        for (const auto &kv : v.dict_obj().items) {
            if (!first) out += ',';
            first = false;
            out += '"' + json_escape(jinja::py_str(kv.first)) + "\":";
            to_json(out, kv.second);
        }
        out += '}';
        break;
    }
    default: out += "null"; break;
    }
}

jinja::Value text_message(const char *role, const std::string &content) {
    return jinja::make_dict({{"role", jinja::Value::string(role)}, {"content", jinja::Value::string(content)}});
}

bool starts_with(const std::string &s, const std::string &p) { return s.compare(0, p.size(), p) == 0; }

std::string lstrip(const std::string &s) {
    size_t i = s.find_first_not_of(" \t\r\n");
    return i == std::string::npos ? std::string() : s.substr(i);
}
std::string strip(const std::string &s) {
    std::string l = lstrip(s);
    size_t j = l.find_last_not_of(" \t\r\n");
    return j == std::string::npos ? std::string() : l.substr(0, j + 1);
}

} // namespace

Chat::Chat(Session &session, const std::string &template_src, const std::string &system_message,
           const std::string &variables_json, bool drop_oldest)
    : session_(session), drop_oldest_(drop_oldest) {
    const Model &model = session.model();
    std::string src = template_src;
    if (src.empty()) {
        src = model.file().get_string("tokenizer.chat_template", "");
        if (src.empty())
            fail(LLM4ALL_ERR_TEMPLATE, "the model file has no chat template (tokenizer.chat_template): pass one");
    }
    template_ = std::make_unique<jinja::Template>(jinja::Template::parse(src));
    jinja::Value vars = parse_json_arg(variables_json.empty() ? "{}" : variables_json, "chat variables");
    if (!vars.is_dict()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "chat variables must be a JSON object");
    variables_ = std::make_shared<const jinja::Value>(vars);
    const Vocab &vocab = model.vocab();
    if (vocab.bos() >= 0) bos_text_ = vocab.token_to_piece(vocab.bos(), true);
    if (vocab.eos() >= 0) eos_text_ = vocab.token_to_piece(vocab.eos(), true);
    if (!system_message.empty())
        messages_.push_back({"system", std::make_shared<const jinja::Value>(text_message("system", system_message))});
}

Chat::~Chat() = default;

void Chat::add_message(const std::string &message_json) {
    auto m = checked_message(parse_json_arg(message_json, "chat message"));
    messages_.push_back({role_of(*m), m});
}

void Chat::set_messages(const std::string &array_json) {
    jinja::Value a = parse_json_arg(array_json, "chat messages");
    if (!a.is_list()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "chat messages must be a JSON array");
    std::vector<Message> out;
    for (const jinja::Value &x : a.list_obj().items) {
        auto m = checked_message(x);
        out.push_back({role_of(*m), m});
    }
    messages_.swap(out);
}

std::string Chat::messages_json() const {
    std::string j = "[";
    for (size_t i = 0; i < messages_.size(); ++i) {
        if (i) j += ',';
        to_json(j, *messages_[i].value);
    }
    return j + "]";
}

void Chat::reset() {
    std::vector<Message> kept;
    if (!messages_.empty() && messages_[0].role == "system") kept.push_back(messages_[0]);
    messages_.swap(kept);
}

std::string Chat::render_from(size_t first) const {
    std::vector<jinja::Value> msgs;
    for (size_t i = 0; i < messages_.size(); ++i)
        if (i >= first || (i == 0 && messages_[0].role == "system")) msgs.push_back(*messages_[i].value);
    // Our variables first, so that the caller's variables win over them.
    std::vector<std::pair<std::string, jinja::Value>> ctx;
    // transformers always passes tools and documents (None when absent): "tools is defined" holds.
    ctx.emplace_back("tools", jinja::Value::none());
    ctx.emplace_back("documents", jinja::Value::none());
    if (!bos_text_.empty()) ctx.emplace_back("bos_token", jinja::Value::string(bos_text_));
    if (!eos_text_.empty()) ctx.emplace_back("eos_token", jinja::Value::string(eos_text_));
    for (const auto &kv : variables_->dict_obj().items)
        if (kv.first.is_string()) ctx.emplace_back(kv.first.str(), kv.second);
    ctx.emplace_back("messages", jinja::Value::list(std::move(msgs)));
    ctx.emplace_back("add_generation_prompt", jinja::Value::boolean(true));
    return template_->render(jinja::make_dict(std::move(ctx)));
}

std::string Chat::render() const { return render_from(0); }

ChatReply Chat::respond(const llm4all_generate_options &opt, llm4all_on_token on_token, void *user) {
    const Vocab &vocab = session_.model().vocab();
    const int32_t n_ctx = session_.n_ctx();
    // Room kept for the reply when deciding whether old turns must go.
    const int32_t reserve = std::max<int32_t>(1, std::min(opt.max_tokens, n_ctx / 4));
    size_t first = 0;
    const size_t first_droppable = !messages_.empty() && messages_[0].role == "system" ? 1 : 0;
    if (first < first_droppable) first = first_droppable;
    ChatReply reply;
    std::string prompt;
    std::vector<int32_t> tokens;
    for (;;) {
        prompt = render_from(first);
        // BOS once: the template may already have written it.
        const bool add_bos = vocab.add_bos() && !(bos_text_.size() && starts_with(prompt, bos_text_));
        tokens = vocab.tokenize(prompt, add_bos, true);
        if (int64_t(tokens.size()) + reserve <= n_ctx) break;
        // Drop the oldest turn: a message and everything up to the next user message.
        size_t next = first + 1;
        while (next < messages_.size() && messages_[next].role != "user") ++next;
        if (!drop_oldest_ || next >= messages_.size()) {
            if (int64_t(tokens.size()) < n_ctx) break;   // fits, with less room to answer
            fail(LLM4ALL_ERR_CONTEXT_FULL,
                 "the conversation needs " + std::to_string(tokens.size()) + " tokens but n_ctx is " +
                     std::to_string(n_ctx) +
                     (drop_oldest_ ? " even with only the last turn kept" : " and dropping old turns is off"));
        }
        first = next;
    }
    if (first > first_droppable) {
        reply.dropped_messages = static_cast<int32_t>(first - first_droppable);
        messages_.erase(messages_.begin() + first_droppable, messages_.begin() + first);
        log_message(LLM4ALL_LOG_INFO, "chat: dropped the " + std::to_string(reply.dropped_messages) +
                                          " oldest messages so the conversation fits n_ctx " + std::to_string(n_ctx));
    }
    reply.gen = generate_tokens(session_, tokens, opt, on_token, user);

    // Reasoning: the prompt may have opened <think> already (DeepSeek-R1, Qwen3).
    const size_t open = prompt.rfind("<think>"), close = prompt.rfind("</think>");
    std::string text = reply.gen.text;
    if (open != std::string::npos && (close == std::string::npos || close < open)) text = "<think>" + text;
    const std::string body = lstrip(text);
    if (starts_with(body, "<think>")) {
        const size_t end = body.find("</think>");
        if (end == std::string::npos) {
            reply.reasoning = strip(body.substr(7));
        } else {
            reply.reasoning = strip(body.substr(7, end - 7));
            reply.answer = lstrip(body.substr(end + 8));
        }
    } else {
        reply.answer = text;
    }
    std::vector<std::pair<std::string, jinja::Value>> m = {{"role", jinja::Value::string("assistant")},
                                                           {"content", jinja::Value::string(reply.answer)}};
    if (!reply.reasoning.empty()) m.emplace_back("reasoning_content", jinja::Value::string(reply.reasoning));
    messages_.push_back({"assistant", checked_message(jinja::make_dict(std::move(m)))});
    return reply;
}

} // namespace llm4all
