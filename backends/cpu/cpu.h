// cpu.h — what the CPU backend's files share: the per-session context (thread
// pool + scratch memory), the plugin's log function, and the op entry points
// that plugin.cpp puts into the function table.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "llm4all/backend.h"
#include "llm4all/llm4all.h" // log levels
#include "threads.h"

struct llm4all_backend_ctx {
    explicit llm4all_backend_ctx(int n_threads) : pool(n_threads) {}
    llm4all::cpu::ThreadPool pool;
    std::vector<uint8_t> act;  // mul_mat's prepared activations, reused between calls
};

namespace llm4all::cpu {

// Logs through the function the core passed to init (no-op before that).
void log(int32_t level, const char *message);

inline int64_t n_elements(const llm4all_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < 4; ++i) n *= t->ne[i] > 0 ? t->ne[i] : 1;
    return n;
}
// Rows = every dimension but the first.
inline int64_t n_rows(const llm4all_tensor *t) { return n_elements(t) / (t->ne[0] > 0 ? t->ne[0] : 1); }

int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y);
int32_t mul_mat_multi(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                      llm4all_tensor *const *y);
int32_t get_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const int32_t *ids, int64_t n_ids,
                 llm4all_tensor *y);
int32_t rms_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight, float eps,
                 llm4all_tensor *y);
int32_t rope(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float freq_base,
             float freq_scale, int32_t mode);
int32_t rope_ext(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float freq_base,
                 float freq_scale, int32_t mode, const float *freq_factors, float mscale);
int32_t attention(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                  const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, llm4all_tensor *out);
int32_t swiglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y);
int32_t add(llm4all_backend_ctx *ctx, const llm4all_tensor *a, const llm4all_tensor *b, llm4all_tensor *y);
int32_t store_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *src, llm4all_tensor *dst, int64_t dst_row);
int32_t geglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y);
int32_t scale(llm4all_backend_ctx *ctx, const llm4all_tensor *x, float s, llm4all_tensor *y);
int32_t attention_ext(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                      const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, int32_t n_swa,
                      float softcap, llm4all_tensor *out);
int32_t layer_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight,
                   const llm4all_tensor *bias, float eps, llm4all_tensor *y);
int32_t gelu(llm4all_backend_ctx *ctx, const llm4all_tensor *x, llm4all_tensor *y);
int32_t attention_span(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                       const llm4all_tensor *v, int32_t n_kv, const int32_t *first, const int32_t *last, float scale,
                       llm4all_tensor *out);
int32_t attention_batch(llm4all_backend_ctx *ctx, int32_t n, const llm4all_attention_item *items);

} // namespace llm4all::cpu
