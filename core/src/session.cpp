// session.cpp — KV cache management, batching, prefix reuse and scoring.
#include "session.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "error.h"
#include "limits.h"
#include "sampler.h"

namespace llm4all {

Session::Session(const Model &model, int32_t n_ctx, int32_t n_batch, int32_t n_threads, int32_t kv_type)
    : model_(model) {
    const Hparams &hp = model.hparams();
    if (!model.arch().forward)
        fail(LLM4ALL_ERR_UNSUPPORTED, model.file().path() + ": '" + hp.arch + "' is an embedding model: it " +
                                          "embeds text (llm4all_embed) and cannot generate");
    // Every size is checked before anything is allocated: a caller's typo (or a hostile
    // request) must give an error naming the option, not a crash or a machine out of memory.
    if (n_ctx < 0 || n_ctx > k_max_session_ctx)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "n_ctx = " + std::to_string(n_ctx) + " is out of range (0.." +
                                               std::to_string(k_max_session_ctx) + "; 0 = the model's, at most 4096)");
    if (n_batch < 0)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "n_batch = " + std::to_string(n_batch) + " is negative (0 = 512)");
    if (kv_type != LLM4ALL_TYPE_F16 && kv_type != LLM4ALL_TYPE_F32)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, "the KV cache must be F16 or F32");
    n_threads = resolve_threads(n_threads, "n_threads");
    n_ctx_ = n_ctx > 0 ? n_ctx : std::min(hp.n_ctx_train, 4096);
    // No decode step can take more tokens than the context holds, so a larger batch
    // means the whole context (as in llama.cpp); it sizes per-step buffers, so it is
    // never kept above n_ctx.
    n_batch_ = std::min(n_batch > 0 ? n_batch : 512, n_ctx_);
    check_fits_memory(KvCache::bytes_needed(hp, n_ctx_, n_batch_, kv_type),
                      ("a KV cache of n_ctx " + std::to_string(n_ctx_)).c_str());
    try {
        for (const DeviceRef &d : model.devices()) {
            DeviceCtx &c = devs_.emplace_back();
            c.be = &d.be();
            c.ctx = c.be->ctx_new(d.index, n_threads);
            if (!c.ctx) fail(LLM4ALL_ERR_BACKEND, d.label() + " could not create a context");
        }
        // Each layer's cache lives on the device that runs the layer.
        std::vector<KvCache::Place> place;
        for (int32_t l = 0; l < hp.n_layer; ++l) {
            const DeviceCtx &c = devs_[size_t(model.layer_device(l))];
            place.push_back({c.be, c.ctx});
        }
        kv_ = std::make_unique<KvCache>(place, hp, n_ctx_, n_batch_, kv_type);
    } catch (...) {
        release();
        throw;
    }
}

Session::~Session() { release(); }

void Session::release() {
    batch_.reset();
    kv_.reset();
    for (DeviceCtx &c : devs_) {
        if (!c.ctx) continue;
        c.scratch.release(*c.be, c.ctx);
        c.be->ctx_free(c.ctx);
    }
    devs_.clear();
}

llm4all_tensor Session::scratch(int32_t slot, int64_t ne0, int64_t ne1, int64_t ne2) {
    DeviceCtx &c = devs_[size_t(active_)];
    return c.scratch.get(*c.be, c.ctx, slot, ne0, ne1, ne2);
}

void Session::check_tokens(const int32_t *tokens, size_t n) const {
    if (n && !tokens) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "tokens is NULL");
    const int32_t n_vocab = model_.hparams().n_vocab;
    for (size_t i = 0; i < n; ++i)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            fail(LLM4ALL_ERR_INVALID_ARGUMENT, "token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                                                   " is outside the vocabulary (0.." + std::to_string(n_vocab - 1) + ")");
}

void Session::check_room(size_t n) const {
    if (tokens_.size() + n > size_t(n_ctx_))
        fail(LLM4ALL_ERR_CONTEXT_FULL, "context is full: " + std::to_string(tokens_.size()) + " cached + " +
                                           std::to_string(n) + " new tokens exceed n_ctx " + std::to_string(n_ctx_));
}

Batch &Session::batch() {
    if (!batch_) batch_ = std::make_unique<Batch>(*this);
    return *batch_;
}

void Session::run(const int32_t *tokens, size_t n, int64_t logits_from, const LogitsFn &on_logits) {
    check_tokens(tokens, n);
    check_room(n);
    Batch &b = batch();
    for (size_t i = 0; i < n; i += n_batch_) {
        check_abort();
        const int32_t nb = static_cast<int32_t>(std::min<size_t>(n_batch_, n - i));
        const int32_t pos = n_past();
        // The output head is the costliest matmul for large vocabularies: run it
        // only for the positions whose logits the caller wants (the batch's tail).
        const int32_t n_out = static_cast<int32_t>(std::clamp<int64_t>(int64_t(pos) + nb - logits_from, 0, nb));
        b.clear();
        b.add(*this, tokens + i, nb, n_out);
        b.run();
        if (n_out) on_logits(pos + nb - n_out, n_out, b.logits(0));
    }
}

void Session::decode(const int32_t *tokens, size_t n, bool all_logits) {
    const DecodeItem item{this, tokens, n, all_logits};
    decode_batch(&item, 1);
}

void Session::truncate(int32_t n_keep) {
    if (n_keep < 0) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "n_keep must not be negative");
    // Logits no longer describe the last cached token.
    logits_.clear();
    logits_rows_ = 0;
    if (size_t(n_keep) >= tokens_.size()) return;
    tokens_.resize(n_keep);
    if (kv_->can_resume_at(n_keep)) return;
    // A sliding-window layer has dropped rows that position n_keep still sees, and
    // they depend on everything before them: rebuild the cache from position 0.
    std::vector<int32_t> kept;
    kept.swap(tokens_);
    kv_->clear();
    run(kept.data(), kept.size(), INT64_MAX, [](int32_t, int32_t, const float *) {});
}

static size_t common_prefix(const std::vector<int32_t> &a, const int32_t *b, size_t n) {
    size_t p = 0;
    while (p < a.size() && p < n && a[p] == b[p]) ++p;
    return p;
}

int32_t Session::set_tokens(const int32_t *tokens, size_t n) {
    check_tokens(tokens, n);
    if (n > size_t(n_ctx_))
        fail(LLM4ALL_ERR_CONTEXT_FULL, "prompt of " + std::to_string(n) + " tokens does not fit n_ctx " + std::to_string(n_ctx_));
    if (n == 0) {
        truncate(0);
        return 0;
    }
    size_t keep = common_prefix(tokens_, tokens, n);
    if (keep == n && logits_rows_ > 0 && tokens_.size() == n) {
        // Logits already describe the last token; keep only its row.
        const size_t n_vocab = size_t(model_.hparams().n_vocab);
        if (logits_rows_ > 1) logits_.erase(logits_.begin(), logits_.end() - n_vocab);
        logits_rows_ = 1;
        return 0;
    }
    if (keep == n) keep = n - 1;  // re-decode the last token to get its logits
    truncate(static_cast<int32_t>(keep));
    decode(tokens + keep, n - keep, false);
    return static_cast<int32_t>(n - keep);
}

void Session::score(const int32_t *tokens, size_t n, size_t first, float *out_logprobs, int32_t *out_top1) {
    check_tokens(tokens, n);
    if (first < 1 || first > n) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "first must be in 1..n_tokens");
    if (n > size_t(n_ctx_))
        fail(LLM4ALL_ERR_CONTEXT_FULL, std::to_string(n) + " tokens do not fit n_ctx " + std::to_string(n_ctx_));
    if (first == n) return;
    if (!out_logprobs) fail(LLM4ALL_ERR_INVALID_ARGUMENT, "out_logprobs is NULL");
    // Position first-1 must be decoded again: its logits score tokens[first].
    const size_t keep = std::min(common_prefix(tokens_, tokens, n), first - 1);
    truncate(static_cast<int32_t>(keep));
    const int32_t n_vocab = model_.hparams().n_vocab;
    run(tokens + keep, n - keep, int64_t(first) - 1, [&](int32_t pos0, int32_t rows, const float *l) {
        for (int32_t r = 0; r < rows; ++r) {
            const size_t target = size_t(pos0) + r + 1;
            if (target < first || target >= n) continue;
            const float *row = l + size_t(r) * n_vocab;
            out_logprobs[target - first] = log_softmax_at(row, n_vocab, tokens[target]);
            if (out_top1) out_top1[target - first] = static_cast<int32_t>(std::max_element(row, row + n_vocab) - row);
        }
    });
    logits_.clear();
    logits_rows_ = 0;
}

} // namespace llm4all
