// session.h — one conversation's state over a shared model: the backend
// context (threads, scratch), the KV cache (kv_cache.h), the tokens it holds,
// and logits. Prefix reuse lives here: set_tokens() decodes only what is not
// cached yet.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "batch.h"
#include "error.h"
#include "kv_cache.h"
#include "model.h"
#include "scratch.h"

namespace llm4all {

class Session {
public:
    // n_ctx 0 = the model's training context capped at 4096; n_threads 0 = all cores;
    // kv_type: the cache's element type, LLM4ALL_TYPE_F16 or LLM4ALL_TYPE_F32.
    Session(const Model &model, int32_t n_ctx, int32_t n_batch, int32_t n_threads,
            int32_t kv_type = LLM4ALL_TYPE_F16);
    ~Session();
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    const Model &model() const { return model_; }
    int32_t n_ctx() const { return n_ctx_; }
    int32_t n_batch() const { return n_batch_; }
    int32_t n_past() const { return static_cast<int32_t>(tokens_.size()); }
    const std::vector<int32_t> &tokens() const { return tokens_; }

    // Makes the cache hold exactly tokens (prefix reuse); logits of the last
    // token are then available. Returns the number of tokens decoded.
    int32_t set_tokens(const int32_t *tokens, size_t n);
    // Appends tokens; keeps logits for all of them or only the last. The same
    // path as decode_batch() (batch.h) with this session alone.
    void decode(const int32_t *tokens, size_t n, bool all_logits);
    // Keeps the first n_keep tokens. When a sliding-window layer no longer holds the
    // history position n_keep needs, those tokens are decoded again from the start.
    void truncate(int32_t n_keep);
    // Log-probabilities of tokens[i] given tokens[0..i) for first <= i < n.
    void score(const int32_t *tokens, size_t n, size_t first, float *out_logprobs, int32_t *out_top1);

    // Abort: another thread asks the running call to stop; run() checks between
    // batches and throws LLM4ALL_ERR_CANCELLED. Cleared when the next call starts.
    void request_abort() { abort_.store(true, std::memory_order_relaxed); }
    void clear_abort() { abort_.store(false, std::memory_order_relaxed); }
    bool abort_requested() const { return abort_.load(std::memory_order_relaxed); }
    // For forwards, between layers. A batch cut short leaves the cache as before it:
    // its rows lie past n_past, and a slide by reserve() kept every row still needed.
    void check_abort() const {
        if (abort_requested()) fail(LLM4ALL_ERR_CANCELLED, "aborted: the session was asked to stop");
    }

    const float *logits() const { return logits_.data(); }
    int32_t logits_rows() const { return logits_rows_; }

    // For architectures: the backend of the device the pass is on, the cache of a
    // layer, and reusable scratch on that device.
    const llm4all_backend_iface &be() const { return *devs_[size_t(active_)].be; }
    llm4all_backend_ctx *ctx() const { return devs_[size_t(active_)].ctx; }
    KvCache &kv() { return *kv_; }
    // A tensor over scratch slot `slot` of the active device (grown on demand, contents not kept).
    llm4all_tensor scratch(int32_t slot, int64_t ne0, int64_t ne1, int64_t ne2 = 1);
    // The device (index into model().devices()) the pass runs on; forwards switch it at
    // layer boundaries (arch/common.h moves the activations).
    int32_t device() const { return active_; }
    void use_device(int32_t d) { active_ = d; }
    // Host memory for moving activations between devices.
    std::vector<float> &staging() { return staging_; }

private:
    // The batch machinery appends tokens, fills logits and checks arguments the
    // way decode() does.
    friend class Batch;
    friend void decode_batch(const DecodeItem *items, size_t n_items);

    // Runs tokens through the model in batches of n_batch; for each batch,
    // on_logits(first_row_position, rows, logits) sees the logits of the
    // positions >= logits_from that it holds.
    // A non-owning reference to the callback: std::function could allocate per call.
    class LogitsFn {
    public:
        template <class F>
        LogitsFn(const F &f)
            : obj_(&f), call_([](const void *o, int32_t p, int32_t r, const float *l) { (*static_cast<const F *>(o))(p, r, l); }) {}
        void operator()(int32_t pos0, int32_t rows, const float *logits) const { call_(obj_, pos0, rows, logits); }

    private:
        const void *obj_;
        void (*call_)(const void *, int32_t, int32_t, const float *);
    };
    void run(const int32_t *tokens, size_t n, int64_t logits_from, const LogitsFn &on_logits);
    void check_tokens(const int32_t *tokens, size_t n) const;
    // Throws CONTEXT_FULL unless n more tokens fit.
    void check_room(size_t n) const;
    // This session's reusable one-pass batch (it computes on this session).
    Batch &batch();
    void release();

    // One backend context and scratch per model device (the CPU first).
    struct DeviceCtx {
        const llm4all_backend_iface *be = nullptr;
        llm4all_backend_ctx *ctx = nullptr;
        ScratchSlots scratch;
    };

    const Model &model_;
    int32_t n_ctx_ = 0;
    int32_t n_batch_ = 0;
    std::vector<DeviceCtx> devs_;
    int32_t active_ = 0;
    std::unique_ptr<KvCache> kv_;
    std::vector<float> staging_;
    std::vector<int32_t> tokens_;
    std::vector<float> logits_;
    std::unique_ptr<Batch> batch_;
    int32_t logits_rows_ = 0;
    std::atomic<bool> abort_{false};
};

} // namespace llm4all
