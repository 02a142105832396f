// kv_cache.cpp — allocation of the per-layer K/V tensors and the sliding of
// windowed layers: such a layer keeps a contiguous run of recent positions
// starting at row 0, so the backend's attention reads it like any cache, with
// positions given relative to the layer's first row.
#include "kv_cache.h"

#include <algorithm>
#include <string>

#include "error.h"

namespace llm4all {

int32_t layer_window(const Hparams &hp, int32_t layer) {
    if (hp.n_swa <= 0) return 0;
    if (hp.swa_pattern <= 0) return hp.n_swa;
    return layer % hp.swa_pattern < hp.swa_pattern - 1 ? hp.n_swa : 0;
}

namespace {
// Rows a layer keeps: a window of w positions plus a batch of n needs w - 1 + n rows;
// one more row than that leaves room for the slack that slide() keeps for rewinds,
// and 2 * k_kv_align - 1 more let every slide start the kept rows on the grid.
int64_t layer_rows(int32_t window, int32_t n_ctx, int32_t n_batch) {
    return window > 0 ? std::min<int64_t>(n_ctx, int64_t(window) + n_batch + 2 * k_kv_align - 1) : n_ctx;
}
} // namespace

uint64_t KvCache::layer_bytes(const Hparams &hp, int32_t l, int32_t n_ctx, int32_t n_batch, int32_t kv_type) {
    const uint64_t row_bytes = uint64_t(hp.head_dim) * uint64_t(hp.n_head_kv) * (kv_type == LLM4ALL_TYPE_F16 ? 2 : 4);
    return 2 * row_bytes * uint64_t(layer_rows(layer_window(hp, l), n_ctx, n_batch));
}

uint64_t KvCache::bytes_needed(const Hparams &hp, int32_t n_ctx, int32_t n_batch, int32_t kv_type) {
    uint64_t total = 0;
    for (int32_t l = 0; l < hp.n_layer; ++l) total += layer_bytes(hp, l, n_ctx, n_batch, kv_type);
    return total;
}

KvCache::KvCache(const std::vector<Place> &place, const Hparams &hp, int32_t n_ctx, int32_t n_batch, int32_t kv_type)
    : n_ctx_(n_ctx) {
    const size_t row_bytes = size_t(hp.head_dim) * size_t(hp.n_head_kv) * (kv_type == LLM4ALL_TYPE_F16 ? 2 : 4);
    layers_.resize(hp.n_layer);
    for (int32_t l = 0; l < hp.n_layer; ++l) {
        Layer &L = layers_[l];
        L.at = place[size_t(l)];
        L.window = layer_window(hp, l);
        const int64_t rows = layer_rows(L.window, n_ctx, n_batch);
        for (llm4all_tensor *t : {&L.k, &L.v}) {
            const size_t bytes = row_bytes * size_t(rows);
            t->data = bytes ? L.at.be->buffer_alloc(L.at.ctx, bytes) : nullptr;
            if (!t->data) {
                free_buffers();
                fail(LLM4ALL_ERR_OUT_OF_MEMORY, "cannot allocate the KV cache on " + std::string(L.at.be->name) +
                                                    " (" + std::to_string(bytes >> 20) + " MiB for layer " +
                                                    std::to_string(l) + ", n_ctx " + std::to_string(n_ctx) +
                                                    "): use a smaller context or fewer GPU layers");
            }
            bytes_ += bytes;
            // Cleared now, as llama.cpp does: the cache's memory is committed when the session
            // is created (and counted by the memory check, memory.h), not discovered by the
            // first long prompt, and no row ever holds stale bytes.
            zero(L.at, t->data, bytes);
            t->type = kv_type;
            t->n_dims = 3;
            t->ne[0] = hp.head_dim;
            t->ne[1] = hp.n_head_kv;
            t->ne[2] = rows;
            t->ne[3] = 1;
        }
    }
    rel_pos_.resize(size_t(std::max(n_batch, 1)));
}

KvCache::~KvCache() { free_buffers(); }

void KvCache::zero(const Place &at, void *data, size_t bytes) {
    // Through upload in chunks: the buffer may live on a device.
    const size_t chunk = std::min<size_t>(bytes, size_t(1) << 20);
    if (staging_.size() < chunk) staging_.assign(chunk, 0);
    std::fill(staging_.begin(), staging_.begin() + chunk, uint8_t(0));
    for (size_t off = 0; off < bytes; off += chunk)
        at.be->upload(at.ctx, static_cast<char *>(data) + off, staging_.data(), std::min(chunk, bytes - off));
}

void KvCache::free_buffers() {
    for (Layer &L : layers_)
        for (llm4all_tensor *t : {&L.k, &L.v})
            if (t->data) L.at.be->buffer_free(L.at.ctx, t->data), t->data = nullptr;
}

void KvCache::clear() {
    for (Layer &L : layers_) L.first = 0;
}

bool KvCache::can_resume_at(int32_t n_keep) const {
    // Position n_keep sees n_keep - window + 1 .. n_keep - 1, which must still be held.
    for (const Layer &L : layers_)
        if (L.first > 0 && int64_t(n_keep) - (L.window - 1) < L.first) return false;
    return true;
}

void KvCache::reserve(int32_t n_past, int32_t n) {
    for (Layer &L : layers_) {
        const int64_t rows = L.k.ne[2];
        if (L.window == 0 || int64_t(n_past) + n - L.first <= rows) continue;
        const int64_t need = int64_t(L.window) - 1;   // rows the batch's first query still sees
        if (int64_t(n_past) - need < L.first || need + n > rows)
            fail(LLM4ALL_ERR_INTERNAL, "KV cache: positions " + std::to_string(n_past) + "+" + std::to_string(n) +
                                           " do not fit a window of " + std::to_string(L.window));
        // Keep what the window needs plus half the spare rows, so that a later rewind of a
        // few tokens (re-decoding a prompt's last token, scoring) still finds its history;
        // the other half delays the next slide.
        const int64_t spare = rows - n - need;
        int64_t keep = std::min<int64_t>(int64_t(n_past) - L.first, need + spare / 2);
        // Row 0 stays a multiple of k_kv_align positions (L.first already is, so this
        // never reaches below it; spare >= 2 * k_kv_align - 1 leaves the rows for it).
        keep += (int64_t(n_past) - keep) % k_kv_align;
        slide(L, n_past, static_cast<int32_t>(keep));
    }
}

void KvCache::slide(Layer &L, int32_t n_past, int32_t keep) {
    const int32_t first = n_past - keep;
    for (llm4all_tensor *t : {&L.k, &L.v}) {
        const size_t row_bytes = size_t(t->ne[0] * t->ne[1]) * (t->type == LLM4ALL_TYPE_F16 ? 2 : 4);
        const size_t bytes = row_bytes * size_t(keep);
        if (!bytes) continue;
        // Through host memory: the buffer may live on a device, and the ranges may overlap.
        if (staging_.size() < bytes) staging_.resize(bytes);
        const char *src = static_cast<const char *>(t->data) + row_bytes * size_t(first - L.first);
        L.at.be->download(L.at.ctx, staging_.data(), src, bytes);
        L.at.be->upload(L.at.ctx, t->data, staging_.data(), bytes);
    }
    L.first = first;
}

KvLayerView KvCache::layer(int32_t l, int32_t n_past, int32_t n) {
    Layer &L = layers_[l];
    const int64_t rel = int64_t(n_past) - L.first, rows = L.k.ne[2];
    if (rel < 0 || rel + n > rows)
        fail(LLM4ALL_ERR_INTERNAL, "KV cache: layer " + std::to_string(l) + " holds no room for positions " +
                                       std::to_string(n_past) + "+" + std::to_string(n));
    if (rel_pos_.size() < size_t(n)) rel_pos_.resize(size_t(n));
    for (int32_t i = 0; i < n; ++i) rel_pos_[i] = static_cast<int32_t>(rel) + i;
    KvLayerView c;
    c.k = L.k;
    c.v = L.v;
    c.k_rows = L.k;
    c.v_rows = L.v;
    for (llm4all_tensor *t : {&c.k_rows, &c.v_rows}) {
        t->n_dims = 2;
        t->ne[0] = L.k.ne[0] * L.k.ne[1];
        t->ne[1] = rows;
        t->ne[2] = 1;
    }
    c.store_row = rel;
    c.n_kv = static_cast<int32_t>(rel + n);
    c.pos = rel_pos_.data();
    c.window = L.window;
    return c;
}

} // namespace llm4all
