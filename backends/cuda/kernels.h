// kernels.h — the host-side launchers of the CUDA kernels (*.cu), called by the
// table entries in ops.cpp and matmul.cpp after they checked shapes and addresses.
// Every launcher only queues work on stream; pointers are device pointers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace llm4all::cu {

// y[t, o] = w[o, :] . x[t, :]; w rows of row_bytes bytes (type: a weight type of quant_types.h).
// n_tok <= k_mmv_max_tok takes the matrix-vector kernel, more the tiled one.
constexpr int64_t k_mmv_max_tok = 8;
void launch_mul_mat_vec(cudaStream_t s, int32_t type, const void *w, size_t row_bytes, const float *x, float *y,
                        int64_t n_in, int64_t n_out, int64_t n_tok);
void launch_mul_mat_mm(cudaStream_t s, int32_t type, const void *w, size_t row_bytes, const float *x, float *y,
                       int64_t n_in, int64_t n_out, int64_t n_tok);
// y[i, :] = dequant(w[ids[i], :]), rows of n values; ids on the device, already checked.
void launch_get_rows(cudaStream_t s, int32_t type, const void *w, size_t row_bytes, const int32_t *ids,
                     int64_t n_ids, int64_t n, float *y);

// w, b may be null.
void launch_rms_norm(cudaStream_t s, const float *x, const float *w, float eps, float *y, int64_t n, int64_t rows);
void launch_layer_norm(cudaStream_t s, const float *x, const float *w, const float *b, float eps, float *y, int64_t n,
                       int64_t rows);

// x: [hd, n_head, n_tok] in place; pos: [n_tok]; freq_factors: n_rot/2 floats or null.
void launch_rope(cudaStream_t s, float *x, const int32_t *pos, int64_t hd, int64_t n_head, int64_t n_tok, int n_rot,
                 float theta_scale, float freq_scale, bool neox, const float *freq_factors, float mscale);

// y = x u / (1 + exp(-a (x + c x^3))): swiglu a = 1, c = 0; geglu (tanh) a = 2 beta, c = kappa.
void launch_gated(cudaStream_t s, const float *gate, const float *up, float *y, int64_t n, float a, float c);
void launch_gelu(cudaStream_t s, const float *x, float *y, int64_t n);
void launch_scale(cudaStream_t s, const float *x, float k, float *y, int64_t n);
// y[i] = a[i] + b[i % n_b]
void launch_add(cudaStream_t s, const float *a, const float *b, float *y, int64_t n, int64_t n_b);
// dst[i] = src[i] as F32 or F16 (round to nearest even).
void launch_store_rows(cudaStream_t s, const float *src, void *dst, bool f16, int64_t n);

struct AttentionArgs {
    const float *q;
    const void *k, *v;
    bool k_f16, v_f16;
    float *out;
    int64_t hd, n_head, n_head_kv, n_tok, n_kv;
    const int32_t *pos;                 // causal (attention, attention_ext), or null
    const int32_t *first, *last;        // span (attention_span), or null
    float scale, softcap;
    int32_t n_swa;
};
// Largest head_dim the attention kernel takes (16 values per lane of a warp).
constexpr int64_t k_attention_max_hd = 512;
void launch_attention(cudaStream_t s, const AttentionArgs &a);

} // namespace llm4all::cu
