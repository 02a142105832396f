// ops.h — the op entry points of the Metal plugin that plugin.mm puts into the
// function table, and small helpers the op files share (tensor sizes, types).
#pragma once

#include <cstdint>

#include "context.h"
#include "matmul.h"  // mul_mat, mul_mat_multi, mul_mat_supports
#include "llm4all/backend.h"

namespace llm4all::mt {

inline int64_t n_elements(const llm4all_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < 4; ++i) n *= t->ne[i] > 0 ? t->ne[i] : 1;
    return n;
}
// Rows = every dimension but the first.
inline int64_t n_rows(const llm4all_tensor *t) { return n_elements(t) / (t->ne[0] > 0 ? t->ne[0] : 1); }

// Whether get_rows has a shader for this type.
bool get_rows_supported(int32_t type);
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
int32_t attention_ext(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                      const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, int32_t n_swa,
                      float softcap, llm4all_tensor *out);
int32_t attention_span(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                       const llm4all_tensor *v, int32_t n_kv, const int32_t *first, const int32_t *last, float scale,
                       llm4all_tensor *out);
int32_t swiglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y);
int32_t geglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y);
int32_t add(llm4all_backend_ctx *ctx, const llm4all_tensor *a, const llm4all_tensor *b, llm4all_tensor *y);
int32_t store_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *src, llm4all_tensor *dst, int64_t dst_row);
int32_t scale(llm4all_backend_ctx *ctx, const llm4all_tensor *x, float s, llm4all_tensor *y);
int32_t layer_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight,
                   const llm4all_tensor *bias, float eps, llm4all_tensor *y);
int32_t gelu(llm4all_backend_ctx *ctx, const llm4all_tensor *x, llm4all_tensor *y);

} // namespace llm4all::mt
