// generate.cpp — the generation loop. Token pieces are raw bytes (a byte-level
// token may hold half a character), so output is buffered until it forms
// complete UTF-8, and text that may be the start of a stop string is held until
// it is known not to be, before the callback sees it.
#include "generate.h"

#include <chrono>

#include "error.h"
#include "sampler.h"

namespace llm4all {

size_t utf8_complete_prefix(const char *s, size_t n) {
    // Look back at most 3 bytes for the start of a character that is cut short.
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
        const unsigned char c = static_cast<unsigned char>(s[n - back]);
        if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking
        size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

// A NUL byte (a byte token <0x00>) is replaced too: pieces and out_text are
// NUL-terminated C strings without a length, so it would silently cut them short.
std::string sanitize_utf8(const std::string &s) {
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        bool ok = c != 0 && len > 0 && i + len <= s.size();
        for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
        if (ok && len > 1) {
            uint32_t cp = c & (0x7F >> len);
            for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
            static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
            ok = cp >= min_cp[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (ok) {
            out.append(s, i, len);
            i += len;
        } else {
            out += "\xEF\xBF\xBD";
            ++i;
        }
    }
    return out;
}

namespace {

// Holds back the tail of the text that is a prefix of a stop string.
class StopStrings {
public:
    explicit StopStrings(const llm4all_generate_options &opt) {
        if (opt.n_stop < 0) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "n_stop must not be negative");
        if (opt.n_stop > 0 && !opt.stop) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "stop is NULL but n_stop > 0");
        for (int32_t i = 0; i < opt.n_stop; ++i) {
            if (!opt.stop[i]) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "stop[" + std::to_string(i) + "] is NULL");
            if (*opt.stop[i]) stops_.emplace_back(opt.stop[i]);
        }
    }
    // Position of the first complete stop string in text, or npos.
    size_t find(const std::string &text) const {
        size_t best = std::string::npos;
        for (const std::string &s : stops_) best = std::min(best, text.find(s));
        return best;
    }
    // How many bytes at the end of text could start a stop string.
    size_t held(const std::string &text) const {
        size_t keep = 0;
        for (const std::string &s : stops_)
            for (size_t k = std::min(s.size() - 1, text.size()); k > keep; --k)
                if (text.compare(text.size() - k, k, s, 0, k) == 0) { keep = k; break; }
        return keep;
    }

private:
    std::vector<std::string> stops_;
};

} // namespace

Generation generate_tokens(Session &session, const std::vector<int32_t> &prompt_tokens,
                           const llm4all_generate_options &opt, llm4all_on_token on_token, void *user) {
    using clock = std::chrono::steady_clock;
    if (opt.max_tokens < 0) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "max_tokens must not be negative");
    const Model &model = session.model();
    const Vocab &vocab = model.vocab();
    Sampler sampler(opt.sampling);
    const StopStrings stops(opt);
    Generation g;
    g.n_prompt = static_cast<int32_t>(prompt_tokens.size());

    const auto t0 = clock::now();
    if (prompt_tokens.empty()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "the prompt is empty (no tokens to start from)");
    if (prompt_tokens.size() > size_t(session.n_ctx()))
        fail(LLM4ALL_ERR_CONTEXT_FULL, "the prompt has " + std::to_string(prompt_tokens.size()) +
                                           " tokens but the context holds only " + std::to_string(session.n_ctx()));
    try {
        g.n_decoded = session.set_tokens(prompt_tokens.data(), prompt_tokens.size());
    } catch (const Error &e) {
        if (e.status() != LLM4ALL_ERR_CANCELLED) throw;
        g.stop = LLM4ALL_STOP_ABORTED;
        g.prompt_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
        return g;
    }
    for (int32_t t : prompt_tokens) sampler.accept(t);
    const auto t1 = clock::now();

    // pending: raw bytes not yet complete UTF-8; held: text that may start a stop string.
    std::string pending, held;
    const int32_t n_vocab = model.hparams().n_vocab;
    int32_t last_tok = -1;
    auto emit = [&](const std::string &piece, int32_t tok) {
        g.text += piece;
        return !on_token || on_token(piece.c_str(), tok, user);
    };
    bool done = false;
    while (!done && g.n_generated < opt.max_tokens) {
        if (session.abort_requested()) { g.stop = LLM4ALL_STOP_ABORTED; break; }
        // The last row: logits may hold several rows when set_tokens found the
        // prompt already cached after an all-logits decode.
        const float *last = session.logits() + size_t(session.logits_rows() - 1) * n_vocab;
        const int32_t tok = sampler.sample(last, n_vocab);
        if (opt.stop_at_eog && vocab.is_eog(tok)) { g.stop = LLM4ALL_STOP_EOG; break; }
        sampler.accept(tok);
        ++g.n_generated;
        last_tok = tok;
        pending += vocab.token_to_piece(tok, false);
        const size_t ready = utf8_complete_prefix(pending.data(), pending.size());
        held += sanitize_utf8(pending.substr(0, ready));
        pending.erase(0, ready);
        const size_t at = stops.find(held);
        if (at != std::string::npos) {
            held.resize(at);
            g.stop = LLM4ALL_STOP_STOP_STRING;
            done = true;
        }
        const size_t keep = done ? 0 : stops.held(held);
        if (held.size() > keep) {
            if (!emit(held.substr(0, held.size() - keep), tok)) { g.stop = LLM4ALL_STOP_ABORTED; held.clear(); break; }
            held.erase(0, held.size() - keep);
        }
        if (done || g.n_generated >= opt.max_tokens) break;
        if (session.n_past() >= session.n_ctx()) { g.stop = LLM4ALL_STOP_CONTEXT_FULL; break; }
        try {
            session.decode(&tok, 1, false);
        } catch (const Error &e) {
            if (e.status() != LLM4ALL_ERR_CANCELLED) throw;
            g.stop = LLM4ALL_STOP_ABORTED;
            break;
        }
    }
    // Text held back at the end: a character cut off, or the start of a stop
    // string that never completed. After an abort it is dropped, so that the
    // text stays exactly what the callback was shown.
    if (g.stop != LLM4ALL_STOP_ABORTED && g.stop != LLM4ALL_STOP_STOP_STRING) {
        std::string rest = held + sanitize_utf8(pending);
        if (!rest.empty()) emit(rest, last_tok);
    }
    const auto t2 = clock::now();
    g.prompt_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    g.generate_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    return g;
}

std::string generate(Session &session, const std::string &prompt, const llm4all_generate_options &opt,
                     llm4all_on_token on_token, void *user, llm4all_generate_result *result) {
    const std::vector<int32_t> tokens = session.model().vocab().tokenize(prompt, opt.add_special, opt.parse_special);
    Generation g = generate_tokens(session, tokens, opt, on_token, user);
    if (result && result->size >= sizeof(llm4all_generate_result)) {
        result->n_prompt_tokens = g.n_prompt;
        result->n_prompt_decoded = g.n_decoded;
        result->n_generated = g.n_generated;
        result->stop_reason = g.stop;
        result->prompt_ms = g.prompt_ms;
        result->generate_ms = g.generate_ms;
    }
    return std::move(g.text);
}

} // namespace llm4all
