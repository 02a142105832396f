// test_session.cpp — sessions, scoring, sampling and generation through the
// public C ABI only, on stories260K: prefix reuse, batching, the context
// limit, scoring, sampler options, streaming, bad arguments and two sessions
// sharing one model on two threads.
// Test data: $LLM4ALL_TESTDATA or ../shared/testdata; skips when absent.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include "llm4all/llm4all.h"

#include "check.h"

namespace {

llm4all_model *g_model = nullptr;
int32_t g_vocab = 0;


// Checks a status and that an error comes with a message.
void check_status(llm4all_status got, llm4all_status want, const std::string &what) {
    bool ok = got == want;
    if (ok && want != LLM4ALL_OK) ok = std::strlen(llm4all_last_error()) > 0;
    check(ok, what + ": got " + llm4all_status_name(got) + " (" + (got ? llm4all_last_error() : "") + "), want " +
                  llm4all_status_name(want));
}

bool file_exists(const std::string &p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

std::string find_model() {
    std::vector<std::string> roots;
    if (const char *env = std::getenv("LLM4ALL_TESTDATA")) roots.push_back(env);
    roots.push_back("../shared/testdata");
    roots.push_back("../../shared/testdata");
    for (const std::string &r : roots)
        if (file_exists(r + "/models/stories260K.gguf")) return r + "/models/stories260K.gguf";
    return "";
}

// Strict UTF-8: shortest forms only, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const std::string &s) {
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        size_t len;
        uint32_t cp;
        if (c < 0x80) { len = 1; cp = c; }
        else if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return false;
        if (i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            const unsigned char d = static_cast<unsigned char>(s[i + k]);
            if ((d & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

std::vector<int32_t> tokenize(const std::string &text, bool add_special = true) {
    int32_t *toks = nullptr;
    size_t n = 0;
    if (llm4all_tokenize(g_model, text.data(), text.size(), add_special, false, &toks, &n) != LLM4ALL_OK) {
        check(false, "tokenize '" + text + "': " + llm4all_last_error());
        return {};
    }
    std::vector<int32_t> out(toks, toks + n);
    llm4all_free(toks);
    return out;
}

llm4all_session *new_session(int32_t n_ctx, int32_t n_batch = 512, int32_t n_threads = 1) {
    llm4all_session_options o;
    llm4all_session_options_init(&o);
    o.n_ctx = n_ctx;
    o.n_batch = n_batch;
    o.n_threads = n_threads;
    llm4all_session *s = nullptr;
    if (llm4all_session_new(g_model, &o, &s) != LLM4ALL_OK) {
        std::printf("FATAL: session_new: %s\n", llm4all_last_error());
        std::exit(1);
    }
    return s;
}

// All rows of the session's current logits (empty if there are none).
std::vector<std::vector<float>> logit_rows(llm4all_session *s) {
    const float *l = nullptr;
    int32_t rows = 0;
    if (llm4all_session_logits(s, &l, &rows) != LLM4ALL_OK) return {};
    std::vector<std::vector<float>> out;
    for (int32_t r = 0; r < rows; ++r) out.emplace_back(l + size_t(r) * g_vocab, l + size_t(r + 1) * g_vocab);
    return out;
}

std::vector<float> last_logits(llm4all_session *s) {
    auto rows = logit_rows(s);
    return rows.empty() ? std::vector<float>{} : rows.back();
}

double max_diff(const std::vector<float> &a, const std::vector<float> &b) {
    if (a.size() != b.size() || a.empty()) return std::numeric_limits<double>::infinity();
    double d = 0.0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
    return d;
}

// Logits of the last token of `tokens` from a brand-new session.
std::vector<float> fresh_logits(const std::vector<int32_t> &tokens) {
    llm4all_session *s = new_session(256);
    std::vector<float> out;
    if (llm4all_session_set_tokens(s, tokens.data(), tokens.size()) == LLM4ALL_OK) out = last_logits(s);
    llm4all_session_free(s);
    return out;
}

int argmax(const std::vector<float> &v) { return int(std::max_element(v.begin(), v.end()) - v.begin()); }

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t> &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

llm4all_generate_options greedy(int32_t max_tokens) {
    llm4all_generate_options o;
    llm4all_generate_options_init(&o);
    o.max_tokens = max_tokens;
    o.sampling.temp = 0.0f;
    o.sampling.repeat_penalty = 1.0f;
    return o;
}

// What one generate call produced, as seen by the callback and the out-params.
struct Gen {
    llm4all_status status = LLM4ALL_OK;
    std::string text;                 // out_text
    std::string streamed;             // callback pieces, concatenated
    std::vector<std::string> pieces;
    std::vector<int32_t> tokens;      // ids given to the callback (-1 = trailing bytes)
    llm4all_generate_result result{};
    int stop_after = -1;              // callback returns false at this many tokens
};

bool on_piece(const char *piece, int32_t token, void *user) {
    Gen &g = *static_cast<Gen *>(user);
    g.pieces.push_back(piece);
    g.streamed += piece;
    g.tokens.push_back(token);
    return !(g.stop_after >= 0 && int(g.tokens.size()) >= g.stop_after);
}

Gen generate(llm4all_session *s, const std::string &prompt, const llm4all_generate_options &o, int stop_after = -1) {
    Gen g;
    g.stop_after = stop_after;
    g.result.size = sizeof g.result;
    char *text = nullptr;
    g.status = llm4all_session_generate(s, prompt.c_str(), &o, on_piece, &g, &text, &g.result);
    if (text) g.text = text;
    llm4all_free(text);
    return g;
}

const char *kPrompt = "Once upon a time";
const char *kGolden = ", there was a little girl named Lily. She loved to play";

// ---- prefix reuse --------------------------------------------------------------

void test_prefix_reuse() {
    const std::vector<int32_t> A = tokenize("Once upon a time, there was");
    const std::vector<int32_t> B = tokenize(" a little girl who liked cats", false);
    const std::vector<int32_t> AB = concat(A, B);
    llm4all_session *s = new_session(256);

    check_status(llm4all_session_set_tokens(s, A.data(), A.size()), LLM4ALL_OK, "set_tokens(A)");
    check(llm4all_session_n_past(s) == int32_t(A.size()), "n_past after set_tokens(A)");
    const std::vector<float> la = last_logits(s);
    check(max_diff(la, fresh_logits(A)) < 1e-5, "set_tokens(A) logits equal a fresh session's");

    // Same tokens again: nothing to decode, logits still there and unchanged.
    check_status(llm4all_session_set_tokens(s, A.data(), A.size()), LLM4ALL_OK, "set_tokens(A) again");
    check(llm4all_session_n_past(s) == int32_t(A.size()), "n_past after repeating set_tokens(A)");
    check(max_diff(last_logits(s), la) == 0.0, "set_tokens of the cached tokens keeps valid logits");

    check_status(llm4all_session_set_tokens(s, AB.data(), AB.size()), LLM4ALL_OK, "set_tokens(A+B)");
    check(llm4all_session_n_past(s) == int32_t(AB.size()), "n_past after set_tokens(A+B)");
    check(max_diff(last_logits(s), fresh_logits(AB)) < 1e-5, "set_tokens(A+B) logits equal a fresh session's");

    // A different continuation after the first 4 tokens: cache cut back to 4.
    std::vector<int32_t> C(A.begin(), A.begin() + 4);
    const std::vector<int32_t> tail = tokenize(" dog ran home", false);
    C = concat(C, tail);
    check_status(llm4all_session_set_tokens(s, C.data(), C.size()), LLM4ALL_OK, "set_tokens(diverging)");
    check(llm4all_session_n_past(s) == int32_t(C.size()), "n_past after a diverging prompt");
    check(max_diff(last_logits(s), fresh_logits(C)) < 1e-5, "diverging prompt logits equal a fresh session's");

    // A strict prefix of the cache: truncates, and the last token's logits are right.
    const std::vector<int32_t> P(A.begin(), A.begin() + 3);
    check_status(llm4all_session_set_tokens(s, P.data(), P.size()), LLM4ALL_OK, "set_tokens(shorter prefix)");
    check(llm4all_session_n_past(s) == 3, "n_past after a shorter prefix");
    check(max_diff(last_logits(s), fresh_logits(P)) < 1e-5, "shorter prefix logits equal a fresh session's");

    // Empty: clears the cache.
    check_status(llm4all_session_set_tokens(s, nullptr, 0), LLM4ALL_OK, "set_tokens(empty)");
    check(llm4all_session_n_past(s) == 0, "n_past after set_tokens(empty)");

    // After an all-logits decode of exactly these tokens, set_tokens has nothing
    // to decode; the last row must still be the one generation samples from.
    check_status(llm4all_session_decode(s, A.data(), A.size(), true), LLM4ALL_OK, "decode(A, all_logits)");
    check_status(llm4all_session_set_tokens(s, A.data(), A.size()), LLM4ALL_OK, "set_tokens(A) after decode");
    check(max_diff(last_logits(s), la) < 1e-5, "last row after all-logits decode + set_tokens");
    // Generation from that state must sample from the last token's row too.
    const std::vector<int32_t> P5 = tokenize(kPrompt);
    check_status(llm4all_session_set_tokens(s, nullptr, 0), LLM4ALL_OK, "clear");
    check_status(llm4all_session_decode(s, P5.data(), P5.size(), true), LLM4ALL_OK, "decode(prompt, all_logits)");
    Gen ga = generate(s, kPrompt, greedy(16));
    check(ga.result.n_prompt_decoded == 0, "generate after an all-logits decode of the prompt decodes nothing");
    check(ga.text == kGolden, "generate after an all-logits decode samples from the last row: '" + ga.text + "'");
    llm4all_session_free(s);

    // Through generate: a prompt extending the previous prompt + output decodes
    // only what the cache does not hold.
    s = new_session(256);
    llm4all_generate_options o = greedy(8);
    Gen g1 = generate(s, kPrompt, o);
    check_status(g1.status, LLM4ALL_OK, "generate #1");
    check(g1.result.n_prompt_decoded == g1.result.n_prompt_tokens, "first generate decodes the whole prompt");
    // The cache holds prompt + all generated tokens but the last (never decoded).
    const std::vector<int32_t> cached = concat(tokenize(kPrompt), std::vector<int32_t>(g1.tokens.begin(), g1.tokens.end() - 1));
    check(llm4all_session_n_past(s) == int32_t(cached.size()), "n_past after generate = prompt + generated - 1");
    const std::string p2 = std::string(kPrompt) + g1.text;
    const std::vector<int32_t> t2 = tokenize(p2);
    size_t common = 0;
    while (common < cached.size() && common < t2.size() && cached[common] == t2[common]) ++common;
    check(common >= cached.size() - 1, "re-tokenized prompt+output shares the cached prefix");
    Gen g2 = generate(s, p2, o);
    check_status(g2.status, LLM4ALL_OK, "generate #2");
    check(g2.result.n_prompt_tokens == int32_t(t2.size()), "generate #2 prompt token count");
    check(g2.result.n_prompt_decoded == int32_t(t2.size() - common),
          "generate #2 decodes only the new tokens: " + std::to_string(g2.result.n_prompt_decoded) + " vs " +
              std::to_string(t2.size() - common));
    // And the continuation matches a fresh session's.
    llm4all_session *f = new_session(256);
    Gen g2f = generate(f, p2, o);
    check(g2f.text == g2.text && g2f.result.n_prompt_decoded == int32_t(t2.size()),
          "reused-prefix generation equals a fresh session's");
    llm4all_session_free(f);

    // max_tokens 0 leaves exactly the prompt cached with its logits: repeating it decodes nothing.
    llm4all_generate_options o0 = greedy(0);
    Gen g3 = generate(s, kPrompt, o0);
    check(g3.status == LLM4ALL_OK && g3.result.n_generated == 0 && g3.result.stop_reason == 0, "max_tokens 0");
    Gen g4 = generate(s, kPrompt, o0);
    check(g4.result.n_prompt_decoded == 0, "same prompt again decodes nothing");
    Gen g5 = generate(s, kPrompt, greedy(16));
    check(g5.result.n_prompt_decoded == 0 && g5.text == kGolden, "generation from the cached prompt is the golden text");
    llm4all_session_free(s);
}

// ---- batching and all_logits ---------------------------------------------------------

void test_all_logits() {
    const std::vector<int32_t> T = tokenize("Once upon a time, there was a little girl named Lily. She loved to play");
    check(T.size() >= 15, "test text has enough tokens");
    llm4all_session *s = new_session(256);
    check_status(llm4all_session_decode(s, T.data(), T.size(), true), LLM4ALL_OK, "decode(all_logits)");
    const auto rows = logit_rows(s);
    check(rows.size() == T.size(), "all_logits gives one row per token");

    llm4all_session *one = new_session(256);
    double worst = 0.0;
    for (size_t i = 0; i < T.size(); ++i) {
        if (llm4all_session_decode(one, &T[i], 1, false) != LLM4ALL_OK) { worst = 1e9; break; }
        if (i < rows.size()) worst = std::max(worst, max_diff(last_logits(one), rows[i]));
    }
    check(worst < 1e-4, "all_logits rows equal one-by-one decoding (max diff " + std::to_string(worst) + ")");
    llm4all_session_free(one);

    // n_batch 7: the prompt runs in 7-token batches, same logits.
    llm4all_session *b7 = new_session(256, 7);
    check_status(llm4all_session_decode(b7, T.data(), T.size(), true), LLM4ALL_OK, "decode n_batch 7");
    const auto rows7 = logit_rows(b7);
    worst = rows7.size() == rows.size() ? 0.0 : 1e9;
    for (size_t i = 0; i < rows7.size() && i < rows.size(); ++i) worst = std::max(worst, max_diff(rows7[i], rows[i]));
    check(worst < 1e-4, "n_batch 7 all_logits equal n_batch 512 (max diff " + std::to_string(worst) + ")");
    check_status(llm4all_session_set_tokens(b7, nullptr, 0), LLM4ALL_OK, "clear n_batch 7 session");
    check_status(llm4all_session_set_tokens(b7, T.data(), T.size()), LLM4ALL_OK, "set_tokens n_batch 7");
    check(logit_rows(b7).size() == 1, "set_tokens keeps one row");
    check(max_diff(last_logits(b7), rows.back()) < 1e-4, "n_batch 7 set_tokens last logits");
    llm4all_session_free(b7);

    // Without all_logits: one row, the last token's.
    check_status(llm4all_session_truncate(s, 0), LLM4ALL_OK, "truncate(0)");
    check(llm4all_session_n_past(s) == 0, "n_past after truncate(0)");
    const float *l = nullptr;
    int32_t r = 0;
    check_status(llm4all_session_logits(s, &l, &r), LLM4ALL_ERR_INVALID_ARGUMENT, "no logits after truncate");
    check_status(llm4all_session_decode(s, T.data(), T.size(), false), LLM4ALL_OK, "decode(last only)");
    check(logit_rows(s).size() == 1 && max_diff(last_logits(s), rows.back()) < 1e-4, "decode keeps the last row");
    llm4all_session_free(s);
}

// ---- context limit ---------------------------------------------------------------

void test_context_full() {
    const std::vector<int32_t> T = tokenize("Once upon a time, there was a little girl named Lily. She loved to play outside");
    check(T.size() >= 20, "test text has 20 tokens");
    const std::vector<int32_t> T20(T.begin(), T.begin() + 20), T10(T.begin(), T.begin() + 10), T16(T.begin(), T.begin() + 16);
    llm4all_session *s = new_session(16);
    check(llm4all_session_n_ctx(s) == 16, "n_ctx 16");
    check_status(llm4all_session_set_tokens(s, T10.data(), T10.size()), LLM4ALL_OK, "set_tokens(10)");
    const std::vector<float> l10 = last_logits(s);
    check_status(llm4all_session_set_tokens(s, T20.data(), T20.size()), LLM4ALL_ERR_CONTEXT_FULL, "set_tokens(20) in n_ctx 16");
    check(llm4all_session_n_past(s) == 10, "context-full set_tokens leaves the cache untouched");
    check(max_diff(last_logits(s), l10) == 0.0, "context-full set_tokens leaves the logits untouched");

    check_status(llm4all_session_set_tokens(s, T16.data(), T16.size()), LLM4ALL_OK, "set_tokens(16) fills n_ctx 16");
    check_status(llm4all_session_decode(s, &T[16], 1, false), LLM4ALL_ERR_CONTEXT_FULL, "decode past n_ctx");
    check(llm4all_session_n_past(s) == 16, "decode past n_ctx leaves n_past");
    check_status(llm4all_session_set_tokens(s, T16.data(), T16.size()), LLM4ALL_OK, "set_tokens(16) after failed decode");
    check(max_diff(last_logits(s), fresh_logits(T16)) < 1e-5, "logits usable after a failed decode");

    // Generation that reaches n_ctx stops with reason 3, having used every slot.
    Gen g = generate(s, kPrompt, greedy(100));
    check_status(g.status, LLM4ALL_OK, "generate into a full context");
    check(g.result.stop_reason == 3, "generation stops with reason 3 at n_ctx (got " + std::to_string(g.result.stop_reason) + ")");
    check(llm4all_session_n_past(s) == 16, "cache is full after generation");
    check(g.result.n_generated == 16 - g.result.n_prompt_tokens + 1,
          "generated n_ctx - prompt + 1 tokens (got " + std::to_string(g.result.n_generated) + ")");
    check(std::string(kGolden).rfind(g.text, 0) == 0, "context-limited text is a prefix of the golden text");

    // A prompt longer than n_ctx: CONTEXT_FULL from generate too.
    const std::string long_prompt = "Once upon a time, there was a little girl named Lily. She loved to play outside";
    Gen gl = generate(s, long_prompt, greedy(4));
    check_status(gl.status, LLM4ALL_ERR_CONTEXT_FULL, "generate with a prompt over n_ctx");
    check(llm4all_session_n_past(s) == 16, "over-long prompt leaves the cache");

    // score() of more than n_ctx tokens.
    std::vector<float> lp(T20.size());
    check_status(llm4all_session_score(s, T20.data(), T20.size(), 1, lp.data(), nullptr), LLM4ALL_ERR_CONTEXT_FULL,
                 "score over n_ctx");
    llm4all_session_free(s);
}

// ---- scoring -------------------------------------------------------------------------

double log_softmax(const std::vector<float> &row, int32_t t) {
    double mx = *std::max_element(row.begin(), row.end()), z = 0.0;
    for (float v : row) z += std::exp(double(v) - mx);
    return double(row[t]) - mx - std::log(z);
}

void test_score() {
    const std::vector<int32_t> T = tokenize("Once upon a time, there was a little girl named Lily. She loved to play");
    const size_t n = T.size();
    llm4all_session *ref = new_session(256);
    check_status(llm4all_session_decode(ref, T.data(), n, true), LLM4ALL_OK, "reference decode");
    const auto rows = logit_rows(ref);
    llm4all_session_free(ref);
    if (rows.size() != n) return;

    llm4all_session *s = new_session(256, 5);
    std::vector<float> lp(n, 0.0f);
    std::vector<int32_t> top(n, -1);
    check_status(llm4all_session_score(s, T.data(), n, 1, lp.data(), top.data()), LLM4ALL_OK, "score(first 1)");
    double worst = 0.0;
    bool top_ok = true;
    for (size_t i = 1; i < n; ++i) {
        worst = std::max(worst, std::fabs(lp[i - 1] - log_softmax(rows[i - 1], T[i])));
        top_ok = top_ok && top[i - 1] == argmax(rows[i - 1]);
    }
    check(worst < 1e-4, "score equals log_softmax of all_logits rows (max diff " + std::to_string(worst) + ")");
    check(top_ok, "score top1 equals argmax of all_logits rows");
    check(llm4all_session_n_past(s) == int32_t(n), "score leaves the tokens cached");

    // Again from position 6, reusing the cache; no top1 wanted.
    std::vector<float> lp6(n - 6, 0.0f);
    check_status(llm4all_session_score(s, T.data(), n, 6, lp6.data(), nullptr), LLM4ALL_OK, "score(first 6)");
    worst = 0.0;
    for (size_t i = 6; i < n; ++i) worst = std::max(worst, std::fabs(double(lp6[i - 6]) - lp[i - 1]));
    check(worst < 1e-4, "score with prefix reuse equals the first score");
    check_status(llm4all_session_score(s, T.data(), n, n, nullptr, nullptr), LLM4ALL_OK, "score(first n) scores nothing");

    check_status(llm4all_session_score(s, T.data(), n, 0, lp.data(), nullptr), LLM4ALL_ERR_INVALID_ARGUMENT, "score first 0");
    check_status(llm4all_session_score(s, T.data(), n, n + 1, lp.data(), nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "score first > n");
    std::vector<int32_t> bad = T;
    bad[3] = g_vocab;
    check_status(llm4all_session_score(s, bad.data(), n, 1, lp.data(), nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "score token id n_vocab");
    bad[3] = -1;
    check_status(llm4all_session_score(s, bad.data(), n, 1, lp.data(), nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "score token id -1");
    bad[3] = std::numeric_limits<int32_t>::max();
    check_status(llm4all_session_set_tokens(s, bad.data(), n), LLM4ALL_ERR_INVALID_ARGUMENT, "set_tokens token id INT32_MAX");
    check_status(llm4all_session_decode(s, bad.data(), n, false), LLM4ALL_ERR_INVALID_ARGUMENT, "decode token id INT32_MAX");
    check(llm4all_session_n_past(s) == int32_t(n), "bad token ids leave the cache");
    check_status(llm4all_session_score(s, T.data(), n, 1, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "score NULL out_logprobs");
    check_status(llm4all_session_score(s, nullptr, n, 1, lp.data(), nullptr), LLM4ALL_ERR_INVALID_ARGUMENT, "score NULL tokens");
    check_status(llm4all_session_score(nullptr, T.data(), n, 1, lp.data(), nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "score NULL session");
    llm4all_session_free(s);
}

// ---- NULL pointers and bad options --------------------------------------------------------

void test_bad_arguments() {
    const int32_t tok[2] = {1, 2};
    const float *l = nullptr;
    int32_t rows = 0;
    llm4all_session *s = nullptr;
    check_status(llm4all_session_new(nullptr, nullptr, &s), LLM4ALL_ERR_INVALID_ARGUMENT, "session_new NULL model");
    check(s == nullptr, "failed session_new leaves *out NULL");
    check_status(llm4all_session_new(g_model, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT, "session_new NULL out");
    llm4all_session_options so;
    llm4all_session_options_init(&so);
    so.size = 0;
    check_status(llm4all_session_new(g_model, &so, &s), LLM4ALL_ERR_INVALID_ARGUMENT, "session options size 0");
    so.size = sizeof so + 8;
    check_status(llm4all_session_new(g_model, &so, &s), LLM4ALL_ERR_INVALID_ARGUMENT, "session options size too big");
    llm4all_session_options_init(&so);
    so.n_ctx = -5;
    check_status(llm4all_session_new(g_model, &so, &s), LLM4ALL_ERR_INVALID_ARGUMENT, "negative n_ctx");

    check_status(llm4all_session_set_tokens(nullptr, tok, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "set_tokens NULL session");
    check_status(llm4all_session_decode(nullptr, tok, 2, false), LLM4ALL_ERR_INVALID_ARGUMENT, "decode NULL session");
    check_status(llm4all_session_logits(nullptr, &l, &rows), LLM4ALL_ERR_INVALID_ARGUMENT, "logits NULL session");
    check_status(llm4all_session_truncate(nullptr, 0), LLM4ALL_ERR_INVALID_ARGUMENT, "truncate NULL session");
    check_status(llm4all_session_generate(nullptr, "x", nullptr, nullptr, nullptr, nullptr, nullptr),
                 LLM4ALL_ERR_INVALID_ARGUMENT, "generate NULL session");
    check(llm4all_session_n_past(nullptr) == 0 && llm4all_session_n_ctx(nullptr) == 0, "n_past/n_ctx of NULL");
    llm4all_session_free(nullptr);

    s = new_session(64);
    check_status(llm4all_session_set_tokens(s, nullptr, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "set_tokens NULL tokens");
    check_status(llm4all_session_decode(s, nullptr, 2, false), LLM4ALL_ERR_INVALID_ARGUMENT, "decode NULL tokens");
    check_status(llm4all_session_decode(s, tok, 0, false), LLM4ALL_ERR_INVALID_ARGUMENT, "decode 0 tokens");
    check_status(llm4all_session_logits(s, nullptr, &rows), LLM4ALL_ERR_INVALID_ARGUMENT, "logits NULL out");
    check_status(llm4all_session_logits(s, &l, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT, "logits NULL rows");
    check_status(llm4all_session_logits(s, &l, &rows), LLM4ALL_ERR_INVALID_ARGUMENT, "logits before any decode");
    check_status(llm4all_session_truncate(s, -1), LLM4ALL_ERR_INVALID_ARGUMENT, "truncate -1");
    check_status(llm4all_session_generate(s, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr),
                 LLM4ALL_ERR_INVALID_ARGUMENT, "generate NULL prompt");

    char *text = reinterpret_cast<char *>(1);
    llm4all_generate_options o = greedy(4);
    o.size = 0;
    check_status(llm4all_session_generate(s, kPrompt, &o, nullptr, nullptr, &text, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "generate options size 0");
    check(text == nullptr, "failed generate sets *out_text NULL");
    o = greedy(4);
    o.size = sizeof o + 16;
    check_status(llm4all_session_generate(s, kPrompt, &o, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "generate options size too big");
    o = greedy(4);
    o.sampling.size = 3;
    check_status(llm4all_session_generate(s, kPrompt, &o, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "sampler options size wrong");
    o = greedy(4);
    o.sampling.temp = std::numeric_limits<float>::quiet_NaN();
    check_status(llm4all_session_generate(s, kPrompt, &o, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "NaN temperature");
    o = greedy(4);
    o.sampling.top_p = std::numeric_limits<float>::infinity();
    check_status(llm4all_session_generate(s, kPrompt, &o, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "infinite top_p");
    o = greedy(4);
    o.sampling.repeat_penalty = -1.0f;
    check_status(llm4all_session_generate(s, kPrompt, &o, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "negative repeat_penalty");
    o = greedy(4);
    o.max_tokens = -1;
    check_status(llm4all_session_generate(s, kPrompt, &o, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_INVALID_ARGUMENT,
                 "negative max_tokens");
    o = greedy(4);
    check_status(llm4all_session_generate(s, "Once \xff\xfe upon", &o, nullptr, nullptr, nullptr, nullptr),
                 LLM4ALL_ERR_BAD_UTF8, "invalid UTF-8 prompt");
    check_status(llm4all_session_generate(s, "caf\xc3", &o, nullptr, nullptr, nullptr, nullptr), LLM4ALL_ERR_BAD_UTF8,
                 "truncated UTF-8 prompt");
    // NULL options, callback, out_text and result are all allowed.
    check_status(llm4all_session_generate(s, kPrompt, nullptr, nullptr, nullptr, nullptr, nullptr), LLM4ALL_OK,
                 "generate with every optional pointer NULL");
    llm4all_session_free(s);
}

// ---- sampling through generate ---------------------------------------------------------

size_t repeats(const std::vector<int32_t> &toks) {
    std::set<int32_t> seen;
    size_t r = 0;
    for (int32_t t : toks) {
        if (t < 0) continue;
        r += !seen.insert(t).second;
    }
    return r;
}

void test_sampling() {
    llm4all_session *s = new_session(256);

    // Greedy: the golden text, and every token the argmax of the logits.
    Gen g = generate(s, kPrompt, greedy(16));
    check_status(g.status, LLM4ALL_OK, "greedy generate");
    check(g.text == kGolden, "greedy text equals llama.cpp's: '" + g.text + "'");
    check(g.result.n_generated == 16 && g.result.stop_reason == 0, "16 tokens, stop reason 0");
    check(g.streamed == g.text, "streamed pieces equal out_text (greedy)");
    {
        llm4all_session *m = new_session(256);
        std::vector<int32_t> t = tokenize(kPrompt);
        bool ok = llm4all_session_set_tokens(m, t.data(), t.size()) == LLM4ALL_OK;
        for (size_t i = 0; ok && i < g.tokens.size(); ++i) {
            ok = argmax(last_logits(m)) == g.tokens[i];
            ok = ok && llm4all_session_decode(m, &g.tokens[i], 1, false) == LLM4ALL_OK;
        }
        check(ok, "temp 0 picks the argmax at every step");
        llm4all_session_free(m);
    }

    llm4all_generate_options o = greedy(16);
    o.sampling.temp = 1.5f;
    o.sampling.top_k = 1;
    o.sampling.top_p = 1.0f;
    for (uint64_t seed : {1u, 2u, 3u}) {
        o.sampling.seed = seed;
        check(generate(s, kPrompt, o).text == kGolden, "top_k 1 at temp 1.5 is greedy (seed " + std::to_string(seed) + ")");
    }
    o = greedy(16);
    o.sampling.temp = 1.0f;
    o.sampling.top_k = 0;
    o.sampling.top_p = 1.0f;
    o.sampling.min_p = 1.0f;
    check(generate(s, kPrompt, o).text == kGolden, "min_p 1 is greedy");

    // Seeds: reproducible, and different seeds wander apart.
    o = greedy(32);
    o.sampling.temp = 1.0f;
    o.sampling.top_k = 0;
    o.sampling.top_p = 1.0f;
    o.sampling.seed = 42;
    const std::string a = generate(s, kPrompt, o).text;
    llm4all_session *other = new_session(64);
    check(generate(other, kPrompt, o).text == a, "same seed, same text (other session)");
    check(generate(s, kPrompt, o).text == a, "same seed, same text (same session)");
    llm4all_session_free(other);
    std::set<std::string> texts;
    for (uint64_t seed = 100; seed < 105; ++seed) {
        o.sampling.seed = seed;
        texts.insert(generate(s, kPrompt, o).text);
    }
    check(texts.size() >= 3, "different seeds give different texts (" + std::to_string(texts.size()) + " of 5 distinct)");

    // Repeat penalty: greedy loops on this tiny model; a penalty repeats less.
    o = greedy(64);
    o.sampling.repeat_last_n = 64;
    Gen plain = generate(s, kPrompt, o);
    o.sampling.repeat_penalty = 1.5f;
    Gen pen = generate(s, kPrompt, o);
    check(repeats(pen.tokens) < repeats(plain.tokens),
          "repeat_penalty 1.5 repeats less (" + std::to_string(repeats(pen.tokens)) + " vs " +
              std::to_string(repeats(plain.tokens)) + ")");

    // The callback stops generation right after the token it refused.
    Gen stopped = generate(s, kPrompt, greedy(16), 5);
    check_status(stopped.status, LLM4ALL_OK, "callback stop");
    check(stopped.result.stop_reason == 2, "callback stop gives stop reason 2");
    check(stopped.result.n_generated == 5 && stopped.tokens.size() == 5, "callback stop after exactly 5 tokens");
    check(stopped.text == stopped.streamed && std::string(kGolden).rfind(stopped.text, 0) == 0,
          "callback-stopped text is what was streamed");

    // Very hot sampling picks raw byte tokens and broken sequences: every piece must
    // still be valid UTF-8 and the pieces must add up to out_text.
    o = greedy(200);
    o.sampling.temp = 100.0f;  // near uniform: half the picks are raw byte tokens
    o.sampling.top_k = 0;
    o.sampling.top_p = 1.0f;
    o.stop_at_eog = false;
    bool all_valid = true, concat_ok = true;
    int with_high_bytes = 0;
    for (uint64_t seed = 1; seed <= 6; ++seed) {
        o.sampling.seed = seed;
        s = (llm4all_session_free(s), new_session(256));
        Gen h = generate(s, "\xe4\xb8\x80 Once upon a time \xc3\xa9", o);
        check_status(h.status, LLM4ALL_OK, "hot generate seed " + std::to_string(seed));
        for (const std::string &p : h.pieces) all_valid = all_valid && valid_utf8(p);
        if (h.streamed != h.text || !valid_utf8(h.text)) {
            concat_ok = false;
            std::printf("note: seed %d: streamed %zu bytes, out_text %zu, out_text valid %d\n", int(seed),
                        h.streamed.size(), h.text.size(), int(valid_utf8(h.text)));
        }
        with_high_bytes += std::any_of(h.text.begin(), h.text.end(), [](char c) { return (unsigned char)c >= 0x80; });
    }
    // Stopping from the callback at every possible step: out_text is still
    // exactly what was streamed (a character cut short is not added unseen).
    o.max_tokens = 40;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        o.sampling.seed = seed;
        for (int k = 1; k <= 40; ++k) {
            Gen h = generate(s, "\xe4\xb8\x80 Once upon a time", o, k);
            for (const std::string &p : h.pieces) all_valid = all_valid && valid_utf8(p);
            if (h.streamed != h.text) {
                concat_ok = false;
                std::printf("note: stop after %d (seed %d): streamed %zu bytes, out_text %zu\n", k, int(seed),
                            h.streamed.size(), h.text.size());
            }
        }
    }
    check(all_valid, "every streamed piece is valid UTF-8");
    check(concat_ok, "streamed pieces concatenate to out_text");
    std::printf("note: %d of 6 hot generations produced non-ASCII text\n", with_high_bytes);
    llm4all_session_free(s);
}

// ---- one model, two threads -------------------------------------------------------------

void test_threads() {
    const std::string prompts[2] = {"Once upon a time", "The little dog"};
    std::string sequential[2], parallel[2];
    for (int i = 0; i < 2; ++i) {
        llm4all_session *s = new_session(128, 512, 1);
        sequential[i] = generate(s, prompts[i], greedy(48)).text;
        llm4all_session_free(s);
    }
    for (int round = 0; round < 3; ++round) {
        llm4all_session *ss[2] = {new_session(128, 512, 1), new_session(128, 512, 2)};
        llm4all_status st[2] = {LLM4ALL_OK, LLM4ALL_OK};
        std::thread th[2];
        for (int i = 0; i < 2; ++i)
            th[i] = std::thread([&, i] {
                Gen g = generate(ss[i], prompts[i], greedy(48));
                st[i] = g.status;
                parallel[i] = g.text;
            });
        for (auto &t : th) t.join();
        for (int i = 0; i < 2; ++i) {
            check(st[i] == LLM4ALL_OK, "thread generate status");
            check(parallel[i] == sequential[i], "concurrent greedy text equals sequential (round " +
                                                    std::to_string(round) + ", prompt " + std::to_string(i) + ")");
            llm4all_session_free(ss[i]);
        }
    }
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
    g_vocab = llm4all_model_n_vocab(g_model);

    test_prefix_reuse();
    test_all_logits();
    test_context_full();
    test_score();
    test_bad_arguments();
    test_sampling();
    test_threads();

    llm4all_model_free(g_model);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
