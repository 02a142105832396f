// ops.cpp — the CUDA plugin's table entries for every op but the matmuls: each
// checks types, shapes and that every address lies in this device's memory (a host
// pointer or a range past its allocation fails with a reason, never a device
// fault), copies per-call host arrays (ids, pos, first/last, freq_factors) to the
// device in stream order, and queues the kernel (kernels.h).
#include <cmath>
#include <string>

#include "kernels.h"
#include "ops.h"
#include "quant_types.h"

namespace llm4all::cu {

namespace {

const float *f32_in(const llm4all_tensor *t, int64_t n, const char *what) {
    if (!t || !t->data || t->type != LLM4ALL_TYPE_F32) fail(std::string(what) + " must be F32");
    need(t->data, size_t(n) * 4, what);
    return static_cast<const float *>(t->data);
}
float *f32_out(llm4all_tensor *t, int64_t n, const char *what) {
    return const_cast<float *>(f32_in(t, n, what));
}
// An optional F32 parameter row (norm weight, bias) of n values; null when absent.
const float *param(const llm4all_tensor *t, int64_t n, const char *what) {
    if (!t || !t->data) return nullptr;
    if (n_elements(t) != n) fail(std::string(what) + " length differs from the row length");
    return f32_in(t, n, what);
}
void same_shape(const llm4all_tensor *a, const llm4all_tensor *b, const char *what) {
    if (!a || !b || n_elements(a) != n_elements(b)) fail(std::string(what) + " must have the same size");
}

int32_t gated(llm4all_backend_ctx *ctx, const char *op, const llm4all_tensor *gate, const llm4all_tensor *up,
              llm4all_tensor *y, float a, float c) {
    return guarded(ctx, op, [&] {
        same_shape(gate, up, "gate and up");
        same_shape(gate, y, "gate and y");
        const int64_t n = n_elements(gate);
        launch_gated(ctx->stream, f32_in(gate, n, "gate"), f32_in(up, n, "up"), f32_out(y, n, "y"), n, a, c);
    });
}

// Checks of attention's tensors shared by its three forms; fills the shapes of args.
void attention_shapes(const llm4all_tensor *q, const llm4all_tensor *k, const llm4all_tensor *v, int32_t n_kv,
                      llm4all_tensor *out, AttentionArgs &a) {
    if (!q || !k || !v || !out || !k->data || !v->data) fail("q, k, v and out must be given");
    const int64_t hd = q->ne[0], n_head = q->ne[1], n_tok = n_rows(q) / (n_head > 0 ? n_head : 1);
    const int64_t n_head_kv = k->ne[1];
    if (hd < 1 || hd > k_attention_max_hd) fail("head_dim must be 1.." + std::to_string(k_attention_max_hd));
    if (k->ne[0] != hd || v->ne[0] != hd || v->ne[1] != n_head_kv || n_head_kv < 1 || n_head % n_head_kv)
        fail("k/v heads do not fit q (head_dim or grouped-query heads)");
    for (const llm4all_tensor *c : {k, v})
        if (c->type != LLM4ALL_TYPE_F32 && c->type != LLM4ALL_TYPE_F16) fail("the cache must be F32 or F16");
    if (n_kv < 0 || n_kv > k->ne[2] || n_kv > v->ne[2]) fail("n_kv exceeds the cache");
    a.q = f32_in(q, hd * n_head * n_tok, "q");
    a.out = f32_out(out, hd * n_head * n_tok, "out");
    const size_t cache = size_t(hd * n_head_kv) * size_t(n_kv);
    need(k->data, cache * (k->type == LLM4ALL_TYPE_F16 ? 2 : 4), "k");
    need(v->data, cache * (v->type == LLM4ALL_TYPE_F16 ? 2 : 4), "v");
    a.k = k->data;
    a.v = v->data;
    a.k_f16 = k->type == LLM4ALL_TYPE_F16;
    a.v_f16 = v->type == LLM4ALL_TYPE_F16;
    a.hd = hd;
    a.n_head = n_head;
    a.n_head_kv = n_head_kv;
    a.n_tok = n_tok;
    a.n_kv = n_kv;
    a.pos = a.first = a.last = nullptr;
    a.scale = 1.0f;
    a.softcap = 0.0f;
    a.n_swa = 0;
}

} // namespace

int32_t get_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const int32_t *ids, int64_t n_ids,
                 llm4all_tensor *y) {
    return guarded(ctx, "get_rows", [&] {
        if (!w || !w->data || !y || (n_ids > 0 && !ids)) fail("w, ids and y must be given");
        const QuantType *qt = quant_type(w->type);
        if (!qt) fail("unsupported weight type " + std::to_string(w->type));
        const int64_t n = w->ne[0], rows = n_rows(w);
        if (n < 1 || n % qt->block_size) fail("rows are not whole blocks of the weight type");
        if (y->ne[0] != n || n_rows(y) < n_ids) fail("y must hold n_ids rows of the row length");
        for (int64_t i = 0; i < n_ids; ++i)
            if (ids[i] < 0 || ids[i] >= rows)
                fail("id " + std::to_string(ids[i]) + " is outside the table of " + std::to_string(rows) + " rows");
        if (n_ids <= 0) return;
        if (n_ids > 0x7fffffff) fail("too many ids");
        const size_t rb = row_bytes(*qt, n);
        need(w->data, rb * size_t(rows), "w");
        float *yf = f32_out(y, n * n_ids, "y");
        const int32_t *dids = static_cast<const int32_t *>(ctx->to_device(ids, size_t(n_ids) * 4));
        launch_get_rows(ctx->stream, w->type, w->data, rb, dids, n_ids, n, yf);
    });
}

int32_t rms_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight, float eps,
                 llm4all_tensor *y) {
    return guarded(ctx, "rms_norm", [&] {
        same_shape(x, y, "x and y");
        if (y->ne[0] != x->ne[0]) fail("x and y must have the same row length");
        const int64_t n = x->ne[0], rows = n_rows(x);
        const float *w = param(weight, n, "weight");
        launch_rms_norm(ctx->stream, f32_in(x, n * rows, "x"), w, eps, f32_out(y, n * rows, "y"), n, rows);
    });
}

int32_t layer_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight,
                   const llm4all_tensor *bias, float eps, llm4all_tensor *y) {
    return guarded(ctx, "layer_norm", [&] {
        same_shape(x, y, "x and y");
        if (y->ne[0] != x->ne[0]) fail("x and y must have the same row length");
        const int64_t n = x->ne[0], rows = n_rows(x);
        const float *w = param(weight, n, "weight"), *b = param(bias, n, "bias");
        launch_layer_norm(ctx->stream, f32_in(x, n * rows, "x"), w, b, eps, f32_out(y, n * rows, "y"), n, rows);
    });
}

int32_t rope(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float freq_base,
             float freq_scale, int32_t mode) {
    return rope_ext(ctx, x, pos, n_rot, freq_base, freq_scale, mode, nullptr, 1.0f);
}

int32_t rope_ext(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float freq_base,
                 float freq_scale, int32_t mode, const float *freq_factors, float mscale) {
    return guarded(ctx, "rope", [&] {
        if (!x || !pos) fail("x and pos must be given");
        if (!(mscale > 0.0f) || !std::isfinite(mscale)) fail("mscale must be a finite number > 0");
        const int64_t hd = x->ne[0], n_head = x->ne[1] > 0 ? x->ne[1] : 1, n_tok = n_rows(x) / n_head;
        if (n_rot <= 0 || n_rot > hd || n_rot % 2) fail("n_rot must be even and <= head_dim");
        if (mode != LLM4ALL_ROPE_NORMAL && mode != LLM4ALL_ROPE_NEOX) fail("unknown mode");
        float *xf = f32_out(x, hd * n_head * n_tok, "x");
        if (n_tok <= 0) return;
        // The same host pow as the CPU backend, so the angles start from the same float.
        const float theta_scale = std::pow(freq_base, -2.0f / float(n_rot));
        const int32_t *dpos = static_cast<const int32_t *>(ctx->to_device(pos, size_t(n_tok) * 4));
        const float *dff =
            freq_factors ? static_cast<const float *>(ctx->to_device(freq_factors, size_t(n_rot / 2) * 4)) : nullptr;
        launch_rope(ctx->stream, xf, dpos, hd, n_head, n_tok, n_rot, theta_scale, freq_scale,
                    mode == LLM4ALL_ROPE_NEOX, dff, mscale);
    });
}

int32_t attention(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                  const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, llm4all_tensor *out) {
    return attention_ext(ctx, q, k, v, n_kv, pos, scale, 0, 0.0f, out);
}

int32_t attention_ext(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                      const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, int32_t n_swa,
                      float softcap, llm4all_tensor *out) {
    return guarded(ctx, "attention", [&] {
        AttentionArgs a{};
        attention_shapes(q, k, v, n_kv, out, a);
        if (!pos) fail("pos must be given");
        if (a.n_tok <= 0) return;
        a.pos = static_cast<const int32_t *>(ctx->to_device(pos, size_t(a.n_tok) * 4));
        a.scale = scale;
        a.n_swa = n_swa > 0 ? n_swa : 0;
        a.softcap = softcap > 0.0f ? softcap : 0.0f;
        launch_attention(ctx->stream, a);
    });
}

int32_t attention_span(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                       const llm4all_tensor *v, int32_t n_kv, const int32_t *first, const int32_t *last, float scale,
                       llm4all_tensor *out) {
    return guarded(ctx, "attention_span", [&] {
        AttentionArgs a{};
        attention_shapes(q, k, v, n_kv, out, a);
        if (!first || !last) fail("first and last must be given");
        if (a.n_tok <= 0) return;
        a.first = static_cast<const int32_t *>(ctx->to_device(first, size_t(a.n_tok) * 4));
        a.last = static_cast<const int32_t *>(ctx->to_device(last, size_t(a.n_tok) * 4));
        a.scale = scale;
        launch_attention(ctx->stream, a);
    });
}

int32_t swiglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y) {
    return gated(ctx, "swiglu", gate, up, y, 1.0f, 0.0f);
}

int32_t geglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y) {
    const float k_beta = 0.7978845608028654f, k_kappa = 0.044715f;  // as the CPU backend
    return gated(ctx, "geglu", gate, up, y, 2.0f * k_beta, k_kappa);
}

int32_t gelu(llm4all_backend_ctx *ctx, const llm4all_tensor *x, llm4all_tensor *y) {
    return guarded(ctx, "gelu", [&] {
        same_shape(x, y, "x and y");
        const int64_t n = n_elements(x);
        launch_gelu(ctx->stream, f32_in(x, n, "x"), f32_out(y, n, "y"), n);
    });
}

int32_t scale(llm4all_backend_ctx *ctx, const llm4all_tensor *x, float s, llm4all_tensor *y) {
    return guarded(ctx, "scale", [&] {
        same_shape(x, y, "x and y");
        const int64_t n = n_elements(x);
        launch_scale(ctx->stream, f32_in(x, n, "x"), s, f32_out(y, n, "y"), n);
    });
}

int32_t add(llm4all_backend_ctx *ctx, const llm4all_tensor *a, const llm4all_tensor *b, llm4all_tensor *y) {
    return guarded(ctx, "add", [&] {
        same_shape(a, y, "a and y");
        if (!b) fail("b must be given");
        const int64_t n = a->ne[0], total = n_elements(a), nb = n_elements(b);
        if (b->ne[0] != n || (nb != n && nb != total)) fail("b must have one row or a's shape");
        launch_add(ctx->stream, f32_in(a, total, "a"), f32_in(b, nb, "b"), f32_out(y, total, "y"), total, nb);
    });
}

int32_t store_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *src, llm4all_tensor *dst, int64_t dst_row) {
    return guarded(ctx, "store_rows", [&] {
        if (!src || !dst || !dst->data || (dst->type != LLM4ALL_TYPE_F32 && dst->type != LLM4ALL_TYPE_F16))
            fail("src must be F32, dst F32 or F16");
        const int64_t n = src->ne[0], rows = n_rows(src);
        if (dst->ne[0] != n || dst_row < 0 || dst_row + rows > n_rows(dst)) fail("rows do not fit in dst");
        const float *s = f32_in(src, n * rows, "src");
        const bool f16 = dst->type == LLM4ALL_TYPE_F16;
        const size_t elem = f16 ? 2 : 4;
        char *d = static_cast<char *>(dst->data) + size_t(dst_row * n) * elem;
        need(d, size_t(n * rows) * elem, "dst");
        launch_store_rows(ctx->stream, s, d, f16, n * rows);
    });
}

} // namespace llm4all::cu
