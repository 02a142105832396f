// test_batch.cpp — several sequences in shared forward passes (llm4all_decode_batch)
// and the standalone sampler, through the public C ABI on stories260K: a sequence's
// logits are bit-identical (memcmp) alone, batched with others of other lengths and
// phases (chunked prefill beside single-token steps), and after a prefix-cache hit;
// bad batches change no cache; the sampler masks -inf, applies llama.cpp's penalties
// as computed by hand here, refuses NaN, and reproduces llm4all_session_generate.
// Test data: $LLM4ALL_TESTDATA or ../shared/testdata; skips when absent.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "llm4all/llm4all.h"

#include "check.h"

namespace {

llm4all_model *g_model = nullptr;
int32_t g_vocab = 0;

void check_status(llm4all_status got, llm4all_status want, const std::string &what) {
    bool ok = got == want;
    if (ok && want != LLM4ALL_OK) ok = std::strlen(llm4all_last_error()) > 0;
    check(ok, what + ": got " + llm4all_status_name(got) + " (" + (got ? llm4all_last_error() : "") + "), want " +
                  llm4all_status_name(want));
}

std::string find_model() {
    std::vector<std::string> roots;
    if (const char *env = std::getenv("LLM4ALL_TESTDATA")) roots.push_back(env);
    roots.push_back("../shared/testdata");
    roots.push_back("../../shared/testdata");
    struct stat st;
    for (const std::string &r : roots)
        if (stat((r + "/models/stories260K.gguf").c_str(), &st) == 0) return r + "/models/stories260K.gguf";
    return "";
}

llm4all_session *new_session(llm4all_model *m, int32_t n_ctx, int32_t n_batch, int32_t n_threads = 2) {
    llm4all_session_options o;
    llm4all_session_options_init(&o);
    o.n_ctx = n_ctx;
    o.n_batch = n_batch;
    o.n_threads = n_threads;
    llm4all_session *s = nullptr;
    check_status(llm4all_session_new(m, &o, &s), LLM4ALL_OK, "session_new");
    return s;
}

// A fixed pseudo-random token stream per sequence (no BOS games: ids 3.. n_vocab-1).
std::vector<int32_t> stream(uint32_t seed, size_t n) {
    std::vector<int32_t> t(n);
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; ++i) {
        x = x * 1664525u + 1013904223u;
        t[i] = 3 + int32_t((x >> 8) % uint32_t(g_vocab - 3));
    }
    t[0] = 1;   // BOS
    return t;
}

std::vector<float> logits_of(llm4all_session *s) {
    const float *l = nullptr;
    int32_t rows = 0;
    if (llm4all_session_logits(s, &l, &rows) != LLM4ALL_OK) return {};
    return std::vector<float>(l, l + size_t(rows) * g_vocab);
}

// Logits of every position of toks, decoded by one session alone in one call.
std::vector<float> reference(const std::vector<int32_t> &toks) {
    llm4all_session *s = new_session(g_model, 256, 512);
    check_status(llm4all_session_decode(s, toks.data(), toks.size(), true), LLM4ALL_OK, "reference decode");
    std::vector<float> out = logits_of(s);
    llm4all_session_free(s);
    return out;
}

bool rows_equal(const std::vector<float> &got, const std::vector<float> &ref, size_t first_pos) {
    if (got.empty() || got.size() % g_vocab) return false;
    const size_t off = first_pos * g_vocab;
    if (off + got.size() > ref.size()) return false;
    return std::memcmp(got.data(), ref.data() + off, got.size() * sizeof(float)) == 0;
}

// Three sequences, each given as chunks per step; one decode_batch per step holds
// the chunks of every sequence that has one. Sequence 1's sessions take 4 tokens
// per pass, so its long prompt is prefilled over several passes of one call while
// the others take single decode steps.
void test_alone_vs_batched() {
    const int n_seq = 3;
    const std::vector<std::vector<int>> schedule = {
        // step:   0   1  2  3  4  5  6
        /* seq 0 */ {5, 1, 1, 0, 1, 1, 3},
        /* seq 1 */ {13, 0, 1, 3, 1, 9, 1},
        /* seq 2 */ {2, 6, 1, 1, 0, 1, 1},
    };
    const int32_t n_batch[n_seq] = {512, 4, 3};
    std::vector<std::vector<int32_t>> toks(n_seq);
    std::vector<std::vector<float>> ref(n_seq);
    for (int i = 0; i < n_seq; ++i) {
        size_t n = 0;
        for (int c : schedule[i]) n += c;
        toks[i] = stream(uint32_t(i + 1), n);
        ref[i] = reference(toks[i]);
    }

    // Alone: the same chunks through llm4all_session_decode.
    for (int i = 0; i < n_seq; ++i) {
        llm4all_session *s = new_session(g_model, 256, n_batch[i], 1);
        size_t pos = 0;
        bool same = true;
        for (int c : schedule[i]) {
            if (!c) continue;
            check_status(llm4all_session_decode(s, toks[i].data() + pos, c, true), LLM4ALL_OK, "alone decode");
            same &= rows_equal(logits_of(s), ref[i], pos);
            pos += c;
        }
        check(same, "seq " + std::to_string(i) + ": chunked decode alone equals one whole decode");
        llm4all_session_free(s);
    }

    // Batched, with all logits and with the last one only (odd steps).
    for (int last_only = 0; last_only < 2; ++last_only) {
        llm4all_session *s[n_seq];
        for (int i = 0; i < n_seq; ++i) s[i] = new_session(g_model, 256, n_batch[i], 2);
        size_t pos[n_seq] = {0, 0, 0};
        bool same[n_seq] = {true, true, true};
        for (size_t step = 0; step < schedule[0].size(); ++step) {
            std::vector<llm4all_batch_item> items;
            std::vector<int> which;
            for (int i = 0; i < n_seq; ++i) {
                const int c = schedule[i][step];
                if (!c) continue;
                const bool all = !(last_only && step % 2);
                items.push_back({s[i], toks[i].data() + pos[i], size_t(c), all});
                which.push_back(i);
            }
            check_status(llm4all_decode_batch(items.data(), items.size()), LLM4ALL_OK, "decode_batch");
            for (size_t k = 0; k < items.size(); ++k) {
                const int i = which[k];
                const size_t c = items[k].n_tokens;
                const std::vector<float> got = logits_of(s[i]);
                const size_t first = items[k].all_logits ? pos[i] : pos[i] + c - 1;
                same[i] &= got.size() == (items[k].all_logits ? c : 1) * size_t(g_vocab) && rows_equal(got, ref[i], first);
                pos[i] += c;
                same[i] &= llm4all_session_n_past(s[i]) == int32_t(pos[i]);
            }
        }
        for (int i = 0; i < n_seq; ++i) {
            check(same[i], "seq " + std::to_string(i) + (last_only ? " (last logits only)" : "") +
                               ": batched logits are bit-identical to decoding alone");
            llm4all_session_free(s[i]);
        }
    }

    // Prefix-cache hit: a session holding seq 0 whole is cut back to 4 tokens and
    // decodes the rest in a batch beside a fresh seq 2.
    {
        llm4all_session *a = new_session(g_model, 256, 512), *b = new_session(g_model, 256, 512);
        check_status(llm4all_session_decode(a, toks[0].data(), toks[0].size(), false), LLM4ALL_OK, "prefill");
        check_status(llm4all_session_truncate(a, 4), LLM4ALL_OK, "truncate");
        const size_t rest = toks[0].size() - 4;
        llm4all_batch_item items[2] = {{b, toks[2].data(), toks[2].size(), true}, {a, toks[0].data() + 4, rest, true}};
        check_status(llm4all_decode_batch(items, 2), LLM4ALL_OK, "decode_batch after truncate");
        check(rows_equal(logits_of(a), ref[0], 4), "after a prefix-cache hit the batched logits equal the reference");
        check(rows_equal(logits_of(b), ref[2], 0), "its batch neighbour's logits equal the reference");
        llm4all_session_free(a);
        llm4all_session_free(b);
    }
}

// Nothing is decoded when any item is bad: every session keeps its n_past and
// decodes on afterwards exactly as the reference says.
void test_errors() {
    const std::vector<int32_t> t = stream(7, 12);
    const std::vector<float> ref = reference(t);
    llm4all_session *a = new_session(g_model, 64, 512), *b = new_session(g_model, 64, 512);
    llm4all_session *small = new_session(g_model, 8, 512);
    check_status(llm4all_session_decode(a, t.data(), 4, false), LLM4ALL_OK, "a prefill");
    check_status(llm4all_session_decode(b, t.data(), 2, false), LLM4ALL_OK, "b prefill");
    check_status(llm4all_session_decode(small, t.data(), 6, false), LLM4ALL_OK, "small prefill");

    llm4all_model *other = nullptr;
    check_status(llm4all_model_load(find_model().c_str(), nullptr, &other), LLM4ALL_OK, "second model");
    llm4all_session *o = new_session(other, 64, 512);

    const int32_t bad[2] = {5, g_vocab};
    auto unchanged = [&](const std::string &what) {
        check(llm4all_session_n_past(a) == 4 && llm4all_session_n_past(b) == 2 && llm4all_session_n_past(small) == 6 &&
                  llm4all_session_n_past(o) == 0,
              what + ": no session's cache changed");
    };
    {
        llm4all_batch_item items[2] = {{a, t.data() + 4, 2, false}, {o, t.data(), 2, false}};
        check_status(llm4all_decode_batch(items, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "sessions of two models");
        unchanged("mixed models");
    }
    {
        llm4all_batch_item items[3] = {{a, t.data() + 4, 2, false}, {b, t.data() + 2, 1, false}, {a, t.data() + 4, 1, false}};
        check_status(llm4all_decode_batch(items, 3), LLM4ALL_ERR_INVALID_ARGUMENT, "the same session twice");
        unchanged("duplicate session");
    }
    {
        llm4all_batch_item items[2] = {{a, t.data() + 4, 2, false}, {b, bad, 2, false}};
        check_status(llm4all_decode_batch(items, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "a token id outside the vocabulary");
        check(std::strstr(llm4all_last_error(), "item 1") != nullptr, "the error names the bad item");
        unchanged("bad token");
    }
    {
        llm4all_batch_item items[3] = {{a, t.data() + 4, 2, false}, {b, t.data() + 2, 1, false}, {small, t.data() + 6, 3, false}};
        check_status(llm4all_decode_batch(items, 3), LLM4ALL_ERR_CONTEXT_FULL, "one item overflows its context");
        unchanged("context full");
    }
    {
        llm4all_batch_item items[2] = {{a, t.data() + 4, 2, false}, {b, t.data() + 2, 0, false}};
        check_status(llm4all_decode_batch(items, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "an item without tokens");
        items[1] = {b, nullptr, 1, false};
        check_status(llm4all_decode_batch(items, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "NULL tokens");
        items[1] = {nullptr, t.data(), 1, false};
        check_status(llm4all_decode_batch(items, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "NULL session");
        check_status(llm4all_decode_batch(nullptr, 2), LLM4ALL_ERR_INVALID_ARGUMENT, "NULL items");
        check_status(llm4all_decode_batch(items, 0), LLM4ALL_ERR_INVALID_ARGUMENT, "no items");
        unchanged("malformed items");
    }
    // The caches were untouched: decoding on gives the reference's logits.
    llm4all_batch_item items[3] = {{a, t.data() + 4, 8, true}, {b, t.data() + 2, 10, true}, {small, t.data() + 6, 2, true}};
    check_status(llm4all_decode_batch(items, 3), LLM4ALL_OK, "decode after the refused batches");
    check(rows_equal(logits_of(a), ref, 4) && rows_equal(logits_of(b), ref, 2) && rows_equal(logits_of(small), ref, 6),
          "after refused batches every cache decodes on as the reference");

    // Abort on one session stops the batch with CANCELLED... unless it is cleared by
    // the call itself, as every call does: an abort before the call is forgotten.
    llm4all_session_abort(b);
    llm4all_batch_item again[1] = {{b, t.data(), 1, false}};
    check_status(llm4all_session_truncate(b, 0), LLM4ALL_OK, "truncate");
    check_status(llm4all_decode_batch(again, 1), LLM4ALL_OK, "an abort requested before the call is cleared");

    llm4all_session_free(o);
    llm4all_model_free(other);
    llm4all_session_free(a);
    llm4all_session_free(b);
    llm4all_session_free(small);
}

llm4all_sampler *new_sampler(float temp, float rep, int32_t last_n, float presence, float frequency,
                             uint64_t seed = 1) {
    llm4all_sampler_options o;
    llm4all_sampler_options_init(&o);
    o.temp = temp;
    o.top_k = 0;
    o.top_p = 1.0f;
    o.repeat_penalty = rep;
    o.repeat_last_n = last_n;
    o.presence_penalty = presence;
    o.frequency_penalty = frequency;
    o.seed = seed;
    llm4all_sampler *s = nullptr;
    check_status(llm4all_sampler_new(&o, &s), LLM4ALL_OK, "sampler_new");
    return s;
}

int32_t sample(llm4all_sampler *s, const std::vector<float> &l) {
    int32_t t = -1;
    check_status(llm4all_sampler_sample(s, l.data(), int32_t(l.size()), &t), LLM4ALL_OK, "sample");
    return t;
}

void test_sampler_masking() {
    const float inf = INFINITY;
    // Greedy: the largest unmasked logit; ties go to the first.
    llm4all_sampler *g = new_sampler(0.0f, 1.0f, 64, 0, 0);
    check(sample(g, {1.0f, 3.0f, -inf, 3.0f}) == 1, "greedy takes the first of equal maxima");
    check(sample(g, {-inf, -inf, -5.0f, -inf}) == 2, "greedy never takes a masked token");
    int32_t t = 0;
    std::vector<float> all_masked(8, -inf);
    check_status(llm4all_sampler_sample(g, all_masked.data(), 8, &t), LLM4ALL_ERR_INVALID_ARGUMENT, "all -inf");
    std::vector<float> nan = {0.0f, NAN, 1.0f};
    check_status(llm4all_sampler_sample(g, nan.data(), 3, &t), LLM4ALL_ERR_INVALID_ARGUMENT, "a NaN logit");
    check_status(llm4all_sampler_accept(g, -1), LLM4ALL_ERR_INVALID_ARGUMENT, "a negative token");
    llm4all_sampler_free(g);

    // Drawn at temperature 1.5 over a vocabulary where only 3 of 64 are allowed
    // (and a masked one would otherwise dominate).
    llm4all_sampler *d = new_sampler(1.5f, 1.0f, 64, 0, 0, 99);
    std::vector<float> l(64, -inf);
    l[7] = 0.0f;
    l[40] = 0.5f;
    l[63] = -0.25f;
    int hits[64] = {};
    for (int i = 0; i < 3000; ++i) ++hits[sample(d, l)];
    check(hits[7] + hits[40] + hits[63] == 3000 && hits[7] > 0 && hits[40] > 0 && hits[63] > 0,
          "draws land only on unmasked tokens, and on each of them");
    llm4all_sampler_free(d);
}

// llama.cpp's penalties over the window, computed by hand: a token seen c times has
// its logit l turned into (l > 0 ? l / rep : l * rep) - c * frequency - presence.
// Greedy choices between it and a rival just below / above that value show it.
void test_sampler_penalties() {
    struct Case {
        float rep, presence, frequency;
        int32_t last_n;
        std::vector<int32_t> accepted;
        float logit0;     // logit of token 0 (the penalized one)
        float expected;   // its penalized value
    };
    const std::vector<Case> cases = {
        {1.0f, 0.0f, 0.5f, 64, {0, 0, 0}, 5.0f, 3.5f},           // frequency alone: 5 - 3 * 0.5
        {1.0f, 1.25f, 0.0f, 64, {0, 0, 0}, 5.0f, 3.75f},         // presence alone counts once
        {2.0f, 0.25f, 0.5f, 64, {0, 2, 0, 0}, 5.0f, 0.75f},      // 5 / 2 - 3 * 0.5 - 0.25
        {2.0f, 0.25f, 0.5f, 64, {0, 3}, -1.5f, -3.75f},          // negative: -1.5 * 2 - 0.5 - 0.25
        {2.0f, 0.25f, 0.5f, 2, {0, 0, 0, 2, 3}, 5.0f, 5.0f},     // token 0 left the window of 2
        {2.0f, 0.25f, 0.5f, 3, {0, 0, 0, 2, 3}, 5.0f, 1.75f},    // one 0 left in a window of 3
        {1.0f, 0.5f, 0.5f, 0, {0, 0, 0}, 5.0f, 5.0f},            // repeat_last_n 0: no penalties
    };
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case &c = cases[i];
        bool ok = true;
        for (int side = -1; side <= 1; side += 2) {
            // Token 1 is the rival, a hair below or above the expected value.
            const float rival = c.expected + side * 0.01f;
            llm4all_sampler *s = new_sampler(0.0f, c.rep, c.last_n, c.presence, c.frequency);
            for (int32_t a : c.accepted) check_status(llm4all_sampler_accept(s, a), LLM4ALL_OK, "accept");
            const int32_t got = sample(s, {c.logit0, rival, -100.0f, -100.0f});
            ok &= got == (side < 0 ? 0 : 1);
            llm4all_sampler_free(s);
        }
        check(ok, "penalty case " + std::to_string(i) + " gives token 0 the hand-computed logit " +
                      std::to_string(c.expected));
    }
}

// The standalone sampler over a caller's decode loop reproduces
// llm4all_session_generate at the same seed: generate accepts every prompt token,
// then each token it samples.
void test_sampler_reproduces_generate() {
    const char *prompt = "Once upon a time";
    llm4all_generate_options go;
    llm4all_generate_options_init(&go);
    go.max_tokens = 24;
    go.stop_at_eog = false;
    go.sampling.temp = 0.9f;
    go.sampling.top_k = 20;
    go.sampling.repeat_penalty = 1.1f;
    go.sampling.presence_penalty = 0.3f;
    go.sampling.frequency_penalty = 0.2f;
    go.sampling.seed = 4242;
    llm4all_session *s = new_session(g_model, 128, 512);
    char *text = nullptr;
    check_status(llm4all_session_generate(s, prompt, &go, nullptr, nullptr, &text, nullptr), LLM4ALL_OK, "generate");
    const std::string want = text ? text : "";
    llm4all_free(text);
    llm4all_session_free(s);

    int32_t *ptoks = nullptr;
    size_t np = 0;
    check_status(llm4all_tokenize(g_model, prompt, std::strlen(prompt), true, true, &ptoks, &np), LLM4ALL_OK, "tokenize");
    llm4all_session *m = new_session(g_model, 128, 512);
    llm4all_sampler *sp = nullptr;
    check_status(llm4all_sampler_new(&go.sampling, &sp), LLM4ALL_OK, "sampler_new");
    for (size_t i = 0; i < np; ++i) llm4all_sampler_accept(sp, ptoks[i]);
    std::vector<int32_t> out;
    llm4all_batch_item item{m, ptoks, np, false};
    check_status(llm4all_decode_batch(&item, 1), LLM4ALL_OK, "prompt");
    for (int i = 0; i < go.max_tokens; ++i) {
        const int32_t t = sample(sp, logits_of(m));
        llm4all_sampler_accept(sp, t);
        out.push_back(t);
        if (i + 1 == go.max_tokens) break;
        item = {m, &out.back(), 1, false};
        check_status(llm4all_decode_batch(&item, 1), LLM4ALL_OK, "step");
    }
    // generate's text is its tokens' pieces, one after the other.
    std::string got;
    for (int32_t t : out) {
        char *piece = nullptr;
        size_t len = 0;
        check_status(llm4all_token_to_piece(g_model, t, false, &piece, &len), LLM4ALL_OK, "token_to_piece");
        got.append(piece, len);
        llm4all_free(piece);
    }
    check(want.size() > 10 && got == want,
          "sampler + decode loop reproduce generate at the same seed: '" + got + "' vs '" + want + "'");
    llm4all_free(ptoks);
    llm4all_sampler_free(sp);
    llm4all_session_free(m);

    // The ABI that moved generate_options' later fields says so.
    check(llm4all_abi_version() == 2 && LLM4ALL_ABI_VERSION == 2, "ABI version 2");
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

    test_alone_vs_batched();
    test_errors();
    test_sampler_masking();
    test_sampler_penalties();
    test_sampler_reproduces_generate();

    llm4all_model_free(g_model);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
