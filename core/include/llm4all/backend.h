/* backend.h — the plugin ABI that llm4all backends implement.
 * A backend is a shared library exporting llm4all_backend_score() and
 * llm4all_backend_init(). The core loads every plugin it finds, asks each for
 * its score on this machine, and uses the best one per device kind.
 * Fields of llm4all_backend_iface are only ever appended.
 *
 * Layers: devices (device_count, device_info) -> memory (device_alloc for what
 * every session shares, i.e. weights; buffer_alloc per context for the KV cache
 * and scratch; upload/download) -> ops on a context, queued in order and
 * finished by synchronize() or a download().
 *
 * Addresses. llm4all_tensor.data is an address in the device's address space:
 * a host pointer on the CPU, a device pointer on CUDA, an address the plugin
 * hands out and resolves to (buffer, offset) on Vulkan and Metal. The core may
 * offset an address within the allocation it came from (views of rows), but
 * dereferences it only on devices with LLM4ALL_CAP_HOST_MEMORY. Small per-call
 * arrays (ids, pos, first/last, freq_factors) are always host memory. */
#ifndef LLM4ALL_BACKEND_H
#define LLM4ALL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLM4ALL_BACKEND_API_VERSION 2

/* How a plugin exports its entry points (llm4all_backend_score, _init, _refusal):
 * a DLL exports only what it marks, an ELF or Mach-O library built with hidden
 * visibility only what is made visible. */
#if defined(_WIN32)
#  define LLM4ALL_BACKEND_EXPORT __declspec(dllexport)
#else
#  define LLM4ALL_BACKEND_EXPORT __attribute__((visibility("default")))
#endif

/* Tensor element types; ids equal GGUF's (ggml_type) so files map directly. */
enum llm4all_type {
    LLM4ALL_TYPE_F32 = 0,
    LLM4ALL_TYPE_F16 = 1,
    LLM4ALL_TYPE_Q4_0 = 2,
    LLM4ALL_TYPE_Q4_1 = 3,
    LLM4ALL_TYPE_Q5_0 = 6,
    LLM4ALL_TYPE_Q5_1 = 7,
    LLM4ALL_TYPE_Q8_0 = 8,
    LLM4ALL_TYPE_Q8_1 = 9,
    LLM4ALL_TYPE_Q2_K = 10,
    LLM4ALL_TYPE_Q3_K = 11,
    LLM4ALL_TYPE_Q4_K = 12,
    LLM4ALL_TYPE_Q5_K = 13,
    LLM4ALL_TYPE_Q6_K = 14,
    LLM4ALL_TYPE_Q8_K = 15,
    LLM4ALL_TYPE_IQ4_NL = 20,
    LLM4ALL_TYPE_IQ4_XS = 23,
    LLM4ALL_TYPE_BF16 = 30
};

/* A dense tensor view, row-major with ne[0] the fastest (innermost) dimension,
 * rows of ne[0] elements stored back to back (quantized rows are whole blocks). */
typedef struct llm4all_tensor {
    void *data;       /* host pointer or device buffer address */
    int32_t type;     /* enum llm4all_type */
    int32_t n_dims;
    int64_t ne[4];    /* unused dims are 1 */
} llm4all_tensor;

/* One attention_ext call of an attention_batch (the arguments of attention_ext). */
typedef struct llm4all_attention_item {
    const llm4all_tensor *q, *k, *v;
    int32_t n_kv;
    const int32_t *pos;
    float scale;
    int32_t n_swa;
    float softcap;
    llm4all_tensor *out;
} llm4all_attention_item;

typedef enum llm4all_op {
    LLM4ALL_OP_MUL_MAT = 0,  /* y[t,o] = w[o,:] . x[t,:]          w: any type, x/y: F32 */
    LLM4ALL_OP_GET_ROWS = 1, /* y[i,:] = dequant(w[ids[i],:])                          */
    LLM4ALL_OP_RMS_NORM = 2,
    LLM4ALL_OP_ROPE = 3,
    LLM4ALL_OP_ATTENTION = 4,
    LLM4ALL_OP_SWIGLU = 5,
    LLM4ALL_OP_ADD = 6,
    LLM4ALL_OP_GEGLU = 7,
    LLM4ALL_OP_SCALE = 8,
    LLM4ALL_OP_ATTENTION_EXT = 9,
    LLM4ALL_OP_LAYER_NORM = 10,
    LLM4ALL_OP_GELU = 11,
    LLM4ALL_OP_ATTENTION_SPAN = 12,
    LLM4ALL_OP_COUNT
} llm4all_op;

typedef enum llm4all_rope_mode {
    LLM4ALL_ROPE_NORMAL = 0, /* rotate adjacent pairs (x0,x1),(x2,x3)...   llama */
    LLM4ALL_ROPE_NEOX = 2    /* rotate halves (x_i, x_{i+n/2})              qwen2, gemma */
} llm4all_rope_mode;

/* Device capability bits (llm4all_device_info.caps). */
enum llm4all_device_caps {
    LLM4ALL_CAP_HOST_MEMORY = 1u << 0, /* addresses are host pointers the core may read and write */
    LLM4ALL_CAP_EMULATED = 1u << 1,    /* a software device on the CPU (e.g. Mesa's lavapipe):
                                          correct but slower than the CPU backend, so "auto" skips it */
    LLM4ALL_CAP_F16 = 1u << 2          /* native half-precision arithmetic */
};

typedef struct llm4all_device_info {
    const char *name;       /* e.g. "CPU (AVX2)", "NVIDIA H100 80GB HBM3" */
    const char *kind;       /* "cpu", "cuda", "vulkan", "metal" */
    uint64_t memory_total;  /* bytes */
    uint64_t memory_free;   /* bytes */
    /* Version 2. */
    uint32_t caps;          /* enum llm4all_device_caps bits */
    const char *description; /* driver and API details, e.g. "Mesa 22.3 llvmpipe, Vulkan 1.3"; may be "" */
} llm4all_device_info;

typedef struct llm4all_backend_ctx llm4all_backend_ctx; /* opaque, per session */

typedef void (*llm4all_backend_log_fn)(int32_t level, const char *message);

typedef struct llm4all_backend_iface {
    uint32_t api_version; /* LLM4ALL_BACKEND_API_VERSION; must come first */
    uint32_t size;        /* sizeof(llm4all_backend_iface) as the plugin knows it */
    const char *name;     /* "cpu", "cuda", ... */
    const char *variant;  /* "generic", "avx2", ... */

    /* devices */
    int32_t (*device_count)(void);
    bool (*device_info)(int32_t device, llm4all_device_info *out);

    /* Can this backend run op on weights/inputs of this type? The core keeps
     * unsupported work on the CPU and reports why. */
    bool (*supports)(llm4all_op op, int32_t type);

    /* Contexts carry per-session state: thread pool, scratch space.
     * Return NULL on failure (message through the log function). */
    llm4all_backend_ctx *(*ctx_new)(int32_t device, int32_t n_threads);
    void (*ctx_free)(llm4all_backend_ctx *ctx);

    /* buffers: device memory (host memory for CPU) */
    void *(*buffer_alloc)(llm4all_backend_ctx *ctx, size_t bytes);
    void (*buffer_free)(llm4all_backend_ctx *ctx, void *buffer);
    void (*upload)(llm4all_backend_ctx *ctx, void *dst, const void *src, size_t bytes);
    void (*download)(llm4all_backend_ctx *ctx, void *dst, const void *src, size_t bytes);

    /* ops; all return 0 on success, nonzero on failure (e.g. unsupported type).
     * x/y are F32 unless stated. Shapes use ne[0] innermost. */

    /* w: [n_in, n_out] any supported type; x: [n_in, n_tok]; y: [n_out, n_tok] */
    int32_t (*mul_mat)(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x,
                       llm4all_tensor *y);
    /* w: [n_in, n_rows] any type; y: [n_in, n_ids]; y[i] = dequant(w[ids[i]]) */
    int32_t (*get_rows)(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const int32_t *ids,
                        int64_t n_ids, llm4all_tensor *y);
    /* x, y: [n, rows]; weight: [n] (or NULL); y = x / sqrt(mean(x^2) + eps) * weight. y may equal x. */
    int32_t (*rms_norm)(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight,
                        float eps, llm4all_tensor *y);
    /* x: [head_dim, n_head, n_tok], in place; pos: [n_tok]; rotates the first n_rot dims */
    int32_t (*rope)(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot,
                    float freq_base, float freq_scale, int32_t mode);
    /* Causal attention of the new queries over the cache.
     * q: [head_dim, n_head, n_tok]; k, v caches: [head_dim, n_head_kv, n_ctx] (F32 or F16),
     * of which the first n_kv positions are valid; query t sits at position pos[t] and
     * sees cache positions <= pos[t]. out: [head_dim, n_head, n_tok]. Grouped-query:
     * head h uses kv head h / (n_head / n_head_kv). */
    int32_t (*attention)(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                         const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale,
                         llm4all_tensor *out);
    /* y = silu(gate) * up, all [n, rows]; y may equal gate */
    int32_t (*swiglu)(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up,
                      llm4all_tensor *y);
    /* y = a + b, b broadcast over rows when it has one row; y may equal a */
    int32_t (*add)(llm4all_backend_ctx *ctx, const llm4all_tensor *a, const llm4all_tensor *b,
                   llm4all_tensor *y);
    /* Stores src rows (F32, [row_len, n]) into dst (F32 or F16) starting at row dst_row. */
    int32_t (*store_rows)(llm4all_backend_ctx *ctx, const llm4all_tensor *src, llm4all_tensor *dst,
                          int64_t dst_row);

    /* Appended for Gemma 3. */

    /* y = gelu(gate) * up, all [n, rows]; gelu is the tanh approximation
     * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). y may equal gate. */
    int32_t (*geglu)(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up,
                     llm4all_tensor *y);
    /* y = x * s, x and y [n, rows]; y may equal x */
    int32_t (*scale)(llm4all_backend_ctx *ctx, const llm4all_tensor *x, float s, llm4all_tensor *y);
    /* attention() with two extras. n_swa > 0: sliding window, query t sees only cache
     * positions j with pos[t] - n_swa < j <= pos[t] (n_swa positions, its own included);
     * 0 = the whole causal past. softcap > 0: each scaled score s becomes
     * softcap * tanh(s / softcap) before the softmax; 0 = none. Shapes as attention(). */
    int32_t (*attention_ext)(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                             const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale,
                             int32_t n_swa, float softcap, llm4all_tensor *out);

    /* Appended for faster decoding. */

    /* y[j] = mul_mat(w[j], x) for j < n, all sharing the input x (e.g. q, k and v, or
     * gate and up): the backend may prepare x once and run all n in one parallel
     * phase. Shapes per j as mul_mat; no y[j] may overlap x. Callers check
     * size > offsetof(llm4all_backend_iface, mul_mat_multi) and fall back to mul_mat. */
    int32_t (*mul_mat_multi)(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w,
                             const llm4all_tensor *x, llm4all_tensor *const *y);

    /* Appended for encoders (BERT, EmbeddingGemma). Callers check
     * size > offsetof(llm4all_backend_iface, <op>) before use. */

    /* x, y: [n, rows]; weight, bias: [n] F32 (either may be NULL);
     * y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias (biased variance). y may equal x. */
    int32_t (*layer_norm)(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight,
                          const llm4all_tensor *bias, float eps, llm4all_tensor *y);
    /* y = x * 0.5 * (1 + erf(x / sqrt(2))) (exact GELU, BERT's "gelu"), [n, rows]; y may equal x. */
    int32_t (*gelu)(llm4all_backend_ctx *ctx, const llm4all_tensor *x, llm4all_tensor *y);
    /* Attention without a causal mask: query t sees the positions j of k/v with
     * first[t] <= j <= last[t] (clamped to [0, n_kv)); an empty range gives zeros.
     * Shapes and grouped-query heads as attention(); k/v F32 or F16. */
    int32_t (*attention_span)(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                              const llm4all_tensor *v, int32_t n_kv, const int32_t *first, const int32_t *last,
                              float scale, llm4all_tensor *out);

    /* Appended for scaled RoPE (Llama 3.1+ rope_freqs, Phi-3.5/4 LongRoPE). Callers check
     * size > offsetof(llm4all_backend_iface, rope_ext) before use. */

    /* rope() where pair i turns by freq_scale * pos * base^(-2i/n_rot) / freq_factors[i]
     * (freq_factors: n_rot/2 floats, or NULL for all 1) and cos and sin are multiplied by
     * mscale (LongRoPE's attention factor; 1 = none), as llama.cpp's rope with freq factors. */
    int32_t (*rope_ext)(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot,
                        float freq_base, float freq_scale, int32_t mode, const float *freq_factors, float mscale);

    /* Version 2: device memory, synchronisation, per-device support, op errors.
     * Every plugin of version 2 fills all of these. */

    /* Memory on a device shared by every context on it (a model's weights), outside
     * any context; NULL when it cannot be had (the core reports the size and the
     * device's free memory). device_upload copies host bytes into it (0 on success). */
    void *(*device_alloc)(int32_t device, size_t bytes);
    void (*device_free)(int32_t device, void *buffer);
    int32_t (*device_upload)(int32_t device, void *dst, const void *src, size_t bytes);
    /* Waits for every op queued on ctx. Ops may run asynchronously; download() waits
     * for the ops before it, upload() orders after them. 0 on success. */
    int32_t (*synchronize)(llm4all_backend_ctx *ctx);
    /* supports() for one device of the plugin (devices of one API may differ). */
    bool (*device_supports)(int32_t device, llm4all_op op, int32_t type);
    /* Why the last op on ctx failed ("" when none did); the core puts it in
     * llm4all_last_error(). No C++ exception ever crosses this table. */
    const char *(*last_error)(llm4all_backend_ctx *ctx);

    /* Appended, optional (callers check size > offsetof(llm4all_backend_iface,
     * attention_batch) and a non-NULL entry): n attention_ext calls in one parallel phase
     * (a decode batch's sequences, each over its own cache); each item's out is
     * bit-identical to its own attention_ext call. */
    int32_t (*attention_batch)(llm4all_backend_ctx *ctx, int32_t n, const llm4all_attention_item *items);
} llm4all_backend_iface;

/* Every plugin exports these two.
 * score: 0 = cannot run on this machine; higher = better (CPU variants score
 * by the ISA extensions they need). Must not execute instructions the machine lacks.
 * init: returns the plugin's table (static storage) or NULL. */
typedef int32_t (*llm4all_backend_score_fn)(void);
typedef const llm4all_backend_iface *(*llm4all_backend_init_fn)(llm4all_backend_log_fn log);

/* Optional third export: when score() said 0, a short human-readable reason
 * (e.g. "needs AVX2, FMA; this CPU lacks AVX2"), "" otherwise. Static or
 * thread-local storage; like score() it must run on any machine. */
typedef const char *(*llm4all_backend_refusal_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* LLM4ALL_BACKEND_H */
