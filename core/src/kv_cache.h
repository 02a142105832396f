// kv_cache.h — a session's key/value cache: one K and one V tensor per layer on
// the backend. Full-attention layers hold n_ctx positions; sliding-window layers
// hold only their window plus one batch and slide the kept rows down when full,
// so a Gemma 3 cache costs what its attention actually reads.
#pragma once

#include <cstdint>
#include <vector>

#include "llm4all/backend.h"
#include "model.h"

namespace llm4all {

// A sliding layer's row 0 always holds a position that is a multiple of this, so
// a backend that walks the cache in blocks aligned to its rows (the CPU attention:
// blocks and softmax slices of 32 positions) sees the same blocks for a position
// whatever batches and slides
// came before: the logits of a position must not depend on how its tokens were
// split into decode calls.
constexpr int32_t k_kv_align = 32;

// The attention window of a layer, 0 = the whole causal past. Gemma 2/3 alternate
// windowed and global layers by hp.swa_pattern; a window without a pattern (Phi-3)
// covers every layer.
int32_t layer_window(const Hparams &hp, int32_t layer);

// One layer's cache as a forward pass at positions n_past .. n_past + n - 1 uses it.
struct KvLayerView {
    llm4all_tensor k, v;            // [head_dim, n_head_kv, rows]
    llm4all_tensor k_rows, v_rows;  // the same bytes as [head_dim * n_head_kv, rows], for store_rows
    int64_t store_row = 0;          // the row of position n_past
    int32_t n_kv = 0;               // rows valid once the batch is stored
    const int32_t *pos = nullptr;   // the batch's positions as rows of this cache (masking only:
                                    // RoPE has already used the absolute positions)
    int32_t window = 0;             // as layer_window()
};

class KvCache {
public:
    // Bytes the cache of these sizes takes (K and V, every layer), for refusing a size
    // before allocating it.
    static uint64_t bytes_needed(const Hparams &hp, int32_t n_ctx, int32_t n_batch, int32_t kv_type);
    // The same for layer l alone (K and V).
    static uint64_t layer_bytes(const Hparams &hp, int32_t l, int32_t n_ctx, int32_t n_batch, int32_t kv_type);
    // Where one layer's cache lives: the backend and context of the layer's device.
    struct Place {
        const llm4all_backend_iface *be;
        llm4all_backend_ctx *ctx;
    };
    // place: one entry per layer. Throws Error(OUT_OF_MEMORY) when a backend cannot allocate it.
    KvCache(const std::vector<Place> &place, const Hparams &hp, int32_t n_ctx, int32_t n_batch, int32_t kv_type);
    ~KvCache();
    KvCache(const KvCache &) = delete;
    KvCache &operator=(const KvCache &) = delete;

    // Makes room for positions n_past .. n_past + n - 1 (n <= n_batch), sliding the
    // windowed layers' rows down when needed. Call once before each forward pass.
    void reserve(int32_t n_past, int32_t n);
    // Valid until the next call of layer(), reserve() or clear().
    KvLayerView layer(int32_t l, int32_t n_past, int32_t n);
    // Whether decoding can resume at position n_keep (<= the positions stored):
    // false once a windowed layer has dropped rows that position still sees.
    bool can_resume_at(int32_t n_keep) const;
    // Forgets every position.
    void clear();
    size_t bytes() const { return bytes_; }

private:
    struct Layer {
        Place at{};
        llm4all_tensor k{}, v{};   // [head_dim, n_head_kv, rows]
        int32_t window = 0;
        int32_t first = 0;         // position held in row 0 (0 unless the layer slides)
    };
    void slide(Layer &L, int32_t n_past, int32_t keep);
    void free_buffers();
    void zero(const Place &at, void *data, size_t bytes);

    int32_t n_ctx_;
    std::vector<Layer> layers_;
    std::vector<int32_t> rel_pos_;   // positions relative to a layer's first row
    std::vector<uint8_t> staging_;   // host copy of the rows a slide keeps
    size_t bytes_ = 0;
};

} // namespace llm4all
