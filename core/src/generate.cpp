// generate.cpp — the generation loop. Token pieces are raw bytes (a byte-level
// token may hold half a character), so output is buffered until it forms
// complete UTF-8 before the callback sees it.
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

namespace {
// Replaces invalid UTF-8 with U+FFFD so the callback only ever sees valid text.
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
} // namespace

std::string generate(Session &session, const std::string &prompt, const llm4all_generate_options &opt,
                     llm4all_on_token on_token, void *user, llm4all_generate_result *result) {
    using clock = std::chrono::steady_clock;
    if (opt.max_tokens < 0) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "max_tokens must not be negative");
    const Model &model = session.model();
    const Vocab &vocab = model.vocab();
    Sampler sampler(opt.sampling);

    const auto t0 = clock::now();
    std::vector<int32_t> prompt_tokens = vocab.tokenize(prompt, opt.add_special, opt.parse_special);
    if (prompt_tokens.empty()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "the prompt is empty (no tokens to start from)");
    if (prompt_tokens.size() > size_t(session.n_ctx()))
        fail(LLM4ALL_ERR_CONTEXT_FULL, "the prompt has " + std::to_string(prompt_tokens.size()) +
                                           " tokens but the context holds only " + std::to_string(session.n_ctx()));
    const int32_t decoded = session.set_tokens(prompt_tokens.data(), prompt_tokens.size());
    for (int32_t t : prompt_tokens) sampler.accept(t);
    const auto t1 = clock::now();

    std::string text, pending;
    int32_t n_gen = 0, stop = 0;
    const int32_t n_vocab = model.hparams().n_vocab;
    while (n_gen < opt.max_tokens) {
        // The last row: logits may hold several rows when set_tokens found the
        // prompt already cached after an all-logits decode.
        const float *last = session.logits() + size_t(session.logits_rows() - 1) * n_vocab;
        const int32_t tok = sampler.sample(last, n_vocab);
        if (opt.stop_at_eog && vocab.is_eog(tok)) { stop = 1; break; }
        sampler.accept(tok);
        ++n_gen;
        pending += vocab.token_to_piece(tok, false);
        const size_t ready = utf8_complete_prefix(pending.data(), pending.size());
        std::string piece = sanitize_utf8(pending.substr(0, ready));
        pending.erase(0, ready);
        text += piece;
        if (on_token && !on_token(piece.c_str(), tok, user)) { stop = 2; break; }
        if (n_gen >= opt.max_tokens) break;
        if (session.n_past() >= session.n_ctx()) { stop = 3; break; }
        session.decode(&tok, 1, false);
    }
    // A character cut off at the end. After a callback stop it is dropped, so
    // that out_text stays exactly what the callback was shown.
    if (!pending.empty() && stop != 2) {
        std::string piece = sanitize_utf8(pending);
        text += piece;
        if (on_token) on_token(piece.c_str(), -1, user);
    }
    const auto t2 = clock::now();
    if (result && result->size >= sizeof(llm4all_generate_result)) {
        result->n_prompt_tokens = static_cast<int32_t>(prompt_tokens.size());
        result->n_prompt_decoded = decoded;
        result->n_generated = n_gen;
        result->stop_reason = stop;
        result->prompt_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
        result->generate_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    }
    return text;
}

} // namespace llm4all
