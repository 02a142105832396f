// encode.cpp — the embedding pipeline over an encoder architecture: tokenize
// (prefix + text), split texts longer than a window into overlapping windows,
// pack whole windows into passes, pool each window's token vectors (mean / CLS /
// last), apply the file's dense projections, truncate (Matryoshka), normalise,
// and average the windows of a long text as gpt4all does.
#include "encode.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "arch/common.h"
#include "error.h"
#include "limits.h"

namespace llm4all {

namespace {
// Later windows of a long text start this many tokens before the previous one ended (gpt4all).
constexpr int32_t k_overlap = 8;
// Tokens per pass: large enough that the matmuls run at full speed, small enough that
// the activations stay a few tens of MB.
constexpr int32_t k_pass_tokens = 4096;
} // namespace

Encoder::Encoder(const Model &model, int32_t n_threads) : model_(model) {
    n_threads = resolve_threads(n_threads, "n_threads");
    ctx_ = be().ctx_new(0, n_threads);
    if (!ctx_) fail(LLM4ALL_ERR_BACKEND, std::string("backend ") + be().name + " could not create a context");
}

Encoder::~Encoder() {
    scratch_.release(be(), ctx_);
    be().ctx_free(ctx_);
}

llm4all_tensor Encoder::scratch(int32_t slot, int64_t ne0, int64_t ne1, int64_t ne2) {
    return scratch_.get(be(), ctx_, slot, ne0, ne1, ne2);
}

void Encoder::check(int32_t rc, const char *op) const {
    if (rc != 0)
        fail(LLM4ALL_ERR_BACKEND, std::string("backend ") + be().name + "-" + be().variant + " failed in " + op);
}

void EncodeBatch::add(const int32_t *t, int32_t n) {
    seqs.push_back({n_tokens(), n});
    tokens.insert(tokens.end(), t, t + n);
    for (int32_t i = 0; i < n; ++i) pos.push_back(i);
}

namespace {

struct Window {
    std::vector<int32_t> tokens;
    size_t text;     // index of the text it belongs to
};

void check_model(const Model &model) {
    if (model.hparams().n_embd_out <= 0 || !model.arch().encode)
        fail(LLM4ALL_ERR_UNSUPPORTED, model.file().path() + ": architecture '" + model.hparams().arch +
                                          "' is not an embedding model");
}

int32_t window_tokens(const Model &model, const EmbedParams &p) {
    const int32_t n_train = model.hparams().n_ctx_train;
    if (p.n_ctx < 0 || p.n_ctx > n_train)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "n_ctx " + std::to_string(p.n_ctx) + " is outside 0.." +
                                               std::to_string(n_train) + " (the model's context)");
    return p.n_ctx > 0 ? p.n_ctx : n_train;
}

int32_t out_dim(const Model &model, const EmbedParams &p) {
    const int32_t full = model.hparams().n_embd_out;
    if (p.dimensionality < 0 || p.dimensionality > full)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "dimensionality " + std::to_string(p.dimensionality) +
                                               " is outside 1.." + std::to_string(full) + " (0 = full)");
    return p.dimensionality > 0 ? p.dimensionality : full;
}

void l2_normalise(float *v, int32_t n) {
    double ss = 0.0;
    for (int32_t i = 0; i < n; ++i) ss += double(v[i]) * v[i];
    const double scale = 1.0 / std::max(std::sqrt(ss), 1e-12);  // as torch's F.normalize
    for (int32_t i = 0; i < n; ++i) v[i] = float(v[i] * scale);
}

// Pools one pass's hidden states per sequence, then projects: out [n_embd_out, n_seqs].
void pool_and_project(Encoder &enc, const EncodeBatch &b, const float *hidden, int32_t pooling,
                      std::vector<float> &out) {
    const Model &model = enc.model();
    const Hparams &hp = model.hparams();
    const int64_t E = hp.n_embd;
    const int32_t n_seqs = static_cast<int32_t>(b.seqs.size());
    std::vector<float> pooled(size_t(E) * n_seqs);
    for (int32_t s = 0; s < n_seqs; ++s) {
        const EncodeBatch::Seq &q = b.seqs[s];
        float *dst = pooled.data() + size_t(s) * E;
        if (pooling == LLM4ALL_POOLING_CLS || pooling == LLM4ALL_POOLING_LAST) {
            const int32_t row = q.row + (pooling == LLM4ALL_POOLING_CLS ? 0 : q.n - 1);
            std::copy(hidden + size_t(row) * E, hidden + size_t(row + 1) * E, dst);
            continue;
        }
        std::vector<double> sum(E, 0.0);
        for (int32_t r = q.row; r < q.row + q.n; ++r)
            for (int64_t i = 0; i < E; ++i) sum[i] += hidden[size_t(r) * E + i];
        for (int64_t i = 0; i < E; ++i) dst[i] = float(sum[i] / q.n);
    }
    const std::vector<const llm4all_tensor *> &dense = model.weights().dense;
    if (dense.empty()) {
        out.swap(pooled);
        return;
    }
    const llm4all_backend_iface &be = enc.be();
    // Ping-pong between two scratch slots past the architectures' ones.
    llm4all_tensor x = enc.scratch(30, E, n_seqs);
    be.upload(enc.ctx(), x.data, pooled.data(), pooled.size() * sizeof(float));
    int32_t slot = 31;
    for (const llm4all_tensor *w : dense) {
        llm4all_tensor y = enc.scratch(slot, w->ne[1], n_seqs);
        arch::matmul(enc, w, &x, &y, "mul_mat(dense)");
        x = y;
        slot = slot == 31 ? 30 : 31;
    }
    out.resize(size_t(x.ne[0]) * n_seqs);
    be.download(enc.ctx(), out.data(), x.data, out.size() * sizeof(float));
}

// Runs the windows in passes and combines them per text.
std::vector<float> run_windows(const Model &model, const std::vector<Window> &windows, size_t n_texts,
                               const EmbedParams &p, int32_t *dim_out) {
    const Hparams &hp = model.hparams();
    const int32_t full = hp.n_embd_out, dim = out_dim(model, p);
    const int32_t pooling = p.pooling >= 0 ? p.pooling : hp.pooling;
    if (pooling != LLM4ALL_POOLING_MEAN && pooling != LLM4ALL_POOLING_CLS && pooling != LLM4ALL_POOLING_LAST)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "pooling " + std::to_string(pooling) + " is not mean (1), CLS (2) or last (3)");

    // Whole windows per pass, in order, up to k_pass_tokens (a longer window runs alone).
    std::vector<std::pair<size_t, size_t>> passes;   // [first, end) windows
    std::vector<int32_t> plan;
    for (size_t i = 0; i < windows.size();) {
        size_t j = i;
        int32_t n = 0;
        while (j < windows.size() && (j == i || n + int32_t(windows[j].tokens.size()) <= k_pass_tokens))
            n += static_cast<int32_t>(windows[j++].tokens.size());
        passes.emplace_back(i, j);
        plan.push_back(n);
        i = j;
    }

    std::vector<int32_t> n_windows(n_texts, 0);
    for (const Window &w : windows) n_windows[w.text]++;
    std::vector<double> acc(n_texts * size_t(dim), 0.0);
    std::vector<float> result(n_texts * size_t(dim));

    Encoder enc(model, p.n_threads);
    EncodeBatch b;
    std::vector<float> hidden, vecs;
    for (size_t pi = 0; pi < passes.size(); ++pi) {
        if (p.on_batch && !p.on_batch(plan.data() + pi, plan.size() - pi))
            fail(LLM4ALL_ERR_CANCELLED, "embedding cancelled by the callback");
        b.clear();
        for (size_t wi = passes[pi].first; wi < passes[pi].second; ++wi)
            b.add(windows[wi].tokens.data(), static_cast<int32_t>(windows[wi].tokens.size()));
        hidden.resize(size_t(hp.n_embd) * b.n_tokens());
        model.arch().encode(enc, b, hidden.data());
        pool_and_project(enc, b, hidden.data(), pooling, vecs);
        for (size_t wi = passes[pi].first; wi < passes[pi].second; ++wi) {
            float *v = vecs.data() + (wi - passes[pi].first) * size_t(full);
            const size_t t = windows[wi].text;
            if (n_windows[t] == 1) {
                std::copy(v, v + dim, result.data() + t * dim);
                continue;
            }
            // A long text: each window's vector normalised, then averaged (gpt4all).
            l2_normalise(v, dim);
            for (int32_t i = 0; i < dim; ++i) acc[t * dim + i] += v[i];
        }
    }
    for (size_t t = 0; t < n_texts; ++t) {
        float *r = result.data() + t * dim;
        if (n_windows[t] > 1)
            for (int32_t i = 0; i < dim; ++i) r[i] = float(acc[t * dim + i] / n_windows[t]);
        if (p.normalize) l2_normalise(r, dim);
    }
    if (dim_out) *dim_out = dim;
    return result;
}

} // namespace

std::vector<float> embed_texts(const Model &model, const std::vector<std::string_view> &texts, const EmbedParams &p,
                               int32_t *dim_out, uint64_t *n_tokens_out) {
    check_model(model);
    if (texts.empty()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "no texts to embed");
    const int32_t n_ctx = window_tokens(model, p);
    out_dim(model, p);
    const Vocab &vocab = model.vocab();
    // The special tokens a text gets (e.g. [CLS] ... [SEP], or BOS ... EOS), read off the empty text.
    const std::vector<int32_t> specials = vocab.tokenize("", true, false);
    const size_t n_head = !specials.empty() && specials[0] == vocab.bos() ? 1 : 0;
    const std::vector<int32_t> head(specials.begin(), specials.begin() + n_head), tail(specials.begin() + n_head,
                                                                                       specials.end());
    std::vector<int32_t> prefix_tokens;   // only for texts that need several windows

    std::vector<Window> windows;
    uint64_t n_tokens = 0;
    std::string buf;
    for (size_t t = 0; t < texts.size(); ++t) {
        buf.assign(p.prefix);
        buf.append(texts[t]);
        std::vector<int32_t> body = vocab.tokenize(buf, false, false);
        const int32_t n_spec = static_cast<int32_t>(specials.size());
        if (int32_t(body.size()) + n_spec <= n_ctx || p.long_text == LongText::Truncate) {
            if (int32_t(body.size()) + n_spec > n_ctx) body.resize(size_t(std::max(0, n_ctx - n_spec)));
            Window w{head, t};
            w.tokens.insert(w.tokens.end(), body.begin(), body.end());
            w.tokens.insert(w.tokens.end(), tail.begin(), tail.end());
            n_tokens += w.tokens.size();
            windows.push_back(std::move(w));
            continue;
        }
        if (p.long_text == LongText::Error)
            fail(LLM4ALL_ERR_CONTEXT_FULL, "text " + std::to_string(t) + " has " + std::to_string(body.size() + n_spec) +
                                               " tokens, more than the window of " + std::to_string(n_ctx));
        // Several windows: each is [head] prefix + a slice of the text [tail].
        if (!p.prefix.empty() && prefix_tokens.empty()) prefix_tokens = vocab.tokenize(p.prefix, false, false);
        body = vocab.tokenize(texts[t], false, false);
        const int32_t max_len = n_ctx - n_spec - static_cast<int32_t>(prefix_tokens.size());
        if (max_len <= k_overlap)
            fail(LLM4ALL_ERR_INVALID_ARGUMENT, "a window of " + std::to_string(n_ctx) + " tokens leaves no room for text " +
                                                   "after the special tokens and the prefix");
        for (int32_t j = 0; j < int32_t(body.size()); j += max_len) {
            if (j) j -= k_overlap;
            const int32_t end = std::min<int32_t>(j + max_len, int32_t(body.size()));
            Window w{head, t};
            w.tokens.insert(w.tokens.end(), prefix_tokens.begin(), prefix_tokens.end());
            w.tokens.insert(w.tokens.end(), body.begin() + j, body.begin() + end);
            w.tokens.insert(w.tokens.end(), tail.begin(), tail.end());
            n_tokens += w.tokens.size();
            windows.push_back(std::move(w));
            if (end == int32_t(body.size())) break;
        }
    }
    std::vector<float> out = run_windows(model, windows, texts.size(), p, dim_out);
    if (n_tokens_out) *n_tokens_out = n_tokens;
    return out;
}

std::vector<float> embed_token_seqs(const Model &model, const std::vector<std::vector<int32_t>> &seqs,
                                    const EmbedParams &p, int32_t *dim_out, uint64_t *n_tokens_out) {
    check_model(model);
    if (seqs.empty()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "no token sequences to embed");
    const int32_t n_ctx = window_tokens(model, p), n_vocab = model.hparams().n_vocab;
    std::vector<Window> windows;
    uint64_t n_tokens = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
        const std::vector<int32_t> &t = seqs[s];
        if (t.empty()) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "token sequence " + std::to_string(s) + " is empty");
        for (int32_t id : t)
            if (id < 0 || id >= n_vocab)
                fail(LLM4ALL_ERR_INVALID_ARGUMENT, "token id " + std::to_string(id) + " in sequence " + std::to_string(s) +
                                                       " is outside the vocabulary");
        if (int32_t(t.size()) > n_ctx && p.long_text != LongText::Truncate)
            // Given tokens carry their own special tokens, so they are not split.
            fail(LLM4ALL_ERR_CONTEXT_FULL, "token sequence " + std::to_string(s) + " has " + std::to_string(t.size()) +
                                               " tokens, more than the window of " + std::to_string(n_ctx));
        Window w{std::vector<int32_t>(t.begin(), t.begin() + std::min<size_t>(t.size(), size_t(n_ctx))), s};
        n_tokens += w.tokens.size();
        windows.push_back(std::move(w));
    }
    std::vector<float> out = run_windows(model, windows, seqs.size(), p, dim_out);
    if (n_tokens_out) *n_tokens_out = n_tokens;
    return out;
}

} // namespace llm4all
