// ops.cpp — the element-wise and attention ops of the CPU backend: rms_norm,
// rope, attention (plain, and with sliding window / soft cap), swiglu, geglu,
// scale, add, store_rows. Their arithmetic follows llama.cpp's
// CPU code step by step (e.g. rope's angles by repeated multiplication, the
// norm's sum of squares in double) so our logits track llama.cpp's closely.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cpu.h"
#include "quants.h"

#ifdef __F16C__
#include <immintrin.h>
#endif

namespace llm4all::cpu {

namespace {

void f16_row_to_f32(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + i))));
#endif
    for (; i < n; ++i) dst[i] = fp16_to_f32(src[i]);
}

void f32_row_to_f16(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; i < n; ++i) dst[i] = f32_to_fp16(src[i]);
}

// A small parameter tensor (norm weight, bias) as floats: stored F32 in every
// GGUF we know, but any supported type is widened rather than refused.
const float *as_f32(const llm4all_tensor *t, int64_t n, std::vector<float> &buf) {
    if (t->type == LLM4ALL_TYPE_F32) return static_cast<const float *>(t->data);
    if (!type_supported(t->type) || type_row_bytes(t->type, n) == 0) return nullptr;
    buf.resize(n);
    dequantize_row(t->type, t->data, buf.data(), n);
    return buf.data();
}

bool is_f32(const llm4all_tensor *t) { return t && t->data && t->type == LLM4ALL_TYPE_F32; }

int32_t bad(const char *what) {
    log(LLM4ALL_LOG_ERROR, what);
    return 1;
}

} // namespace

int32_t rms_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight, float eps,
                 llm4all_tensor *y) {
    if (!ctx || !is_f32(x) || !is_f32(y) || n_elements(x) != n_elements(y) || y->ne[0] != x->ne[0])
        return bad("cpu rms_norm: x and y must be F32 of the same shape");
    const int64_t n = x->ne[0], rows = n_rows(x);
    std::vector<float> wbuf;
    const float *w = nullptr;
    if (weight && weight->data) {
        if (n_elements(weight) != n) return bad("cpu rms_norm: weight length differs from the row length");
        if (!(w = as_f32(weight, n, wbuf))) return bad("cpu rms_norm: unsupported weight type");
    }
    const float *xf = static_cast<const float *>(x->data);
    float *yf = static_cast<float *>(y->data);
    ctx->pool.parallel_for(rows, [&](int64_t r) {
        const float *xr = xf + r * n;
        float *yr = yf + r * n;
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += double(xr[i] * xr[i]);
        const float mean = float(sum / double(n));
        const float scale = 1.0f / std::sqrt(mean + eps);
        // Scaled first, then weighted: two roundings, like llama.cpp's norm + mul.
        if (w)
            for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] * scale) * w[i];
        else
            for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * scale;
    });
    return 0;
}

int32_t rope(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float freq_base,
             float freq_scale, int32_t mode) {
    if (!ctx || !is_f32(x) || !pos) return bad("cpu rope: x must be F32 and pos given");
    const int64_t hd = x->ne[0], n_head = x->ne[1], n_tok = n_rows(x) / std::max<int64_t>(n_head, 1);
    if (n_rot <= 0 || n_rot > hd || n_rot % 2) return bad("cpu rope: n_rot must be even and <= head_dim");
    if (mode != LLM4ALL_ROPE_NORMAL && mode != LLM4ALL_ROPE_NEOX) return bad("cpu rope: unknown mode");
    float *xf = static_cast<float *>(x->data);
    // llama.cpp's angles: theta_i = p * scale_i with scale_i = base^(-2/n_rot)^i
    // built by repeated float multiplication; computing base^(-2i/n_rot) directly
    // differs in the last bits at large positions.
    const float theta_scale = std::pow(freq_base, -2.0f / float(n_rot));
    const int64_t half = n_rot / 2;
    ctx->pool.parallel_for(n_tok, [&](int64_t t) {
        std::vector<float> cs(static_cast<size_t>(n_rot));
        float theta = float(pos[t]);
        for (int64_t i = 0; i < half; ++i) {
            const float th = freq_scale * theta;
            cs[2 * i] = std::cos(th);
            cs[2 * i + 1] = std::sin(th);
            theta *= theta_scale;
        }
        for (int64_t h = 0; h < n_head; ++h) {
            float *v = xf + (t * n_head + h) * hd;
            for (int64_t i = 0; i < half; ++i) {
                const float c = cs[2 * i], s = cs[2 * i + 1];
                const int64_t a = mode == LLM4ALL_ROPE_NEOX ? i : 2 * i;
                const int64_t b = mode == LLM4ALL_ROPE_NEOX ? i + half : 2 * i + 1;
                const float x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
        }
    });
    return 0;
}

int32_t attention(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                  const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, llm4all_tensor *out) {
    return attention_ext(ctx, q, k, v, n_kv, pos, scale, 0, 0.0f, out);
}

int32_t attention_ext(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                      const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float kq_scale, int32_t n_swa,
                      float softcap, llm4all_tensor *out) {
    if (!ctx || !is_f32(q) || !is_f32(out) || !k || !v || !k->data || !v->data || !pos)
        return bad("cpu attention: q/out must be F32, k/v/pos given");
    if (n_swa < 0 || !(softcap >= 0.0f) || !std::isfinite(softcap))
        return bad("cpu attention: the window must be >= 0 and the soft cap a finite number >= 0");
    const int64_t hd = q->ne[0], n_head = q->ne[1], n_tok = n_rows(q) / std::max<int64_t>(n_head, 1);
    const int64_t n_head_kv = k->ne[1], n_ctx = n_rows(k) / std::max<int64_t>(n_head_kv, 1);
    const bool k16 = k->type == LLM4ALL_TYPE_F16, v16 = v->type == LLM4ALL_TYPE_F16;
    if ((!k16 && k->type != LLM4ALL_TYPE_F32) || (!v16 && v->type != LLM4ALL_TYPE_F32))
        return bad("cpu attention: k/v cache must be F32 or F16");
    if (k->ne[0] != hd || v->ne[0] != hd || v->ne[1] != n_head_kv || n_rows(v) != n_rows(k) ||
        n_elements(out) != n_elements(q) || n_head_kv <= 0 || n_head % n_head_kv || n_kv <= 0 || n_kv > n_ctx)
        return bad("cpu attention: shapes do not fit");
    const int64_t group = n_head / n_head_kv;
    const float *qf = static_cast<const float *>(q->data);
    float *of = static_cast<float *>(out->data);
    const uint8_t *kd = static_cast<const uint8_t *>(k->data), *vd = static_cast<const uint8_t *>(v->data);
    const size_t kes = k16 ? 2 : 4, ves = v16 ? 2 : 4;

    ctx->pool.parallel_for(n_tok * n_head, [&](int64_t task) {
        const int64_t t = task / n_head, h = task % n_head, hk = h / group;
        const int64_t last = std::min<int64_t>(pos[t], n_kv - 1);
        // Sliding window: the n_swa positions ending at the query's own.
        const int64_t first = n_swa > 0 ? std::max<int64_t>(0, int64_t(pos[t]) - n_swa + 1) : 0;
        thread_local std::vector<float> scores, qv, row, acc;
        scores.resize(size_t(std::max<int64_t>(last + 1, 1)));
        qv.resize(size_t(hd));
        row.resize(size_t(hd));
        acc.assign(size_t(hd), 0.0f);
        const float *qs = qf + (t * n_head + h) * hd;
        // With an F16 cache llama.cpp rounds q to F16 before the dot product.
        if (k16)
            for (int64_t i = 0; i < hd; ++i) qv[i] = fp16_to_f32(f32_to_fp16(qs[i]));
        else
            std::copy(qs, qs + hd, qv.begin());

        float mx = -INFINITY;
        for (int64_t j = first; j <= last; ++j) {
            const uint8_t *kr = kd + size_t((j * n_head_kv + hk) * hd) * kes;
            const float *kf = reinterpret_cast<const float *>(kr);
            if (k16) {
                f16_row_to_f32(reinterpret_cast<const uint16_t *>(kr), row.data(), hd);
                kf = row.data();
            }
            float d[8] = {};
            int64_t i = 0;
            for (; i + 8 <= hd; i += 8)
                for (int l = 0; l < 8; ++l) d[l] += qv[i + l] * kf[i + l];
            float s = 0.0f;
            for (int l = 0; l < 8; ++l) s += d[l];
            for (; i < hd; ++i) s += qv[i] * kf[i];
            s *= kq_scale;
            if (softcap > 0.0f) s = softcap * std::tanh(s / softcap);
            scores[j] = s;
            mx = std::max(mx, s);
        }
        float sum = 0.0f;
        for (int64_t j = first; j <= last; ++j) {
            scores[j] = std::exp(scores[j] - mx);
            sum += scores[j];
        }
        // A window past the valid cache (pos far beyond n_kv) leaves nothing to attend to.
        const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
        for (int64_t j = first; j <= last; ++j) {
            const float p = scores[j] * inv;
            const uint8_t *vr = vd + size_t((j * n_head_kv + hk) * hd) * ves;
            const float *vf = reinterpret_cast<const float *>(vr);
            if (v16) {
                f16_row_to_f32(reinterpret_cast<const uint16_t *>(vr), row.data(), hd);
                vf = row.data();
            }
            for (int64_t i = 0; i < hd; ++i) acc[i] += p * vf[i];
        }
        std::copy(acc.begin(), acc.end(), of + (t * n_head + h) * hd);
    });
    return 0;
}

int32_t swiglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y) {
    if (!ctx || !is_f32(gate) || !is_f32(up) || !is_f32(y) || n_elements(gate) != n_elements(up) ||
        n_elements(gate) != n_elements(y))
        return bad("cpu swiglu: gate, up, y must be F32 of the same size");
    const int64_t n = gate->ne[0], rows = n_rows(gate);
    const float *g = static_cast<const float *>(gate->data), *u = static_cast<const float *>(up->data);
    float *yf = static_cast<float *>(y->data);
    ctx->pool.parallel_for(rows, [&](int64_t r) {
        for (int64_t i = r * n; i < (r + 1) * n; ++i) yf[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    });
    return 0;
}

int32_t geglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y) {
    if (!ctx || !is_f32(gate) || !is_f32(up) || !is_f32(y) || n_elements(gate) != n_elements(up) ||
        n_elements(gate) != n_elements(y))
        return bad("cpu geglu: gate, up, y must be F32 of the same size");
    const int64_t n = gate->ne[0], rows = n_rows(gate);
    const float *g = static_cast<const float *>(gate->data), *u = static_cast<const float *>(up->data);
    float *yf = static_cast<float *>(y->data);
    // The tanh approximation in float, as PyTorch's gelu(approximate="tanh") computes it.
    // llama.cpp's CPU path looks gelu(x) up in a table indexed by x rounded to F16; we keep
    // the formula so the tiny-model test can hold transformers to float precision.
    const float k_beta = 0.7978845608028654f, k_kappa = 0.044715f;
    ctx->pool.parallel_for(rows, [&](int64_t r) {
        for (int64_t i = r * n; i < (r + 1) * n; ++i) {
            const float x = g[i];
            const float inner = k_beta * (x + k_kappa * x * x * x);
            yf[i] = 0.5f * x * (1.0f + std::tanh(inner)) * u[i];
        }
    });
    return 0;
}

int32_t scale(llm4all_backend_ctx *ctx, const llm4all_tensor *x, float s, llm4all_tensor *y) {
    if (!ctx || !is_f32(x) || !is_f32(y) || n_elements(x) != n_elements(y))
        return bad("cpu scale: x and y must be F32 of the same size");
    const int64_t n = x->ne[0], rows = n_rows(x);
    const float *xf = static_cast<const float *>(x->data);
    float *yf = static_cast<float *>(y->data);
    ctx->pool.parallel_for(rows, [&](int64_t r) {
        for (int64_t i = r * n; i < (r + 1) * n; ++i) yf[i] = xf[i] * s;
    });
    return 0;
}

int32_t add(llm4all_backend_ctx *ctx, const llm4all_tensor *a, const llm4all_tensor *b, llm4all_tensor *y) {
    if (!ctx || !is_f32(a) || !b || !b->data || !is_f32(y) || n_elements(a) != n_elements(y))
        return bad("cpu add: a and y must be F32 of the same size");
    const int64_t n = a->ne[0], rows = n_rows(a), nb = n_elements(b);
    if (b->ne[0] != n || (nb != n && nb != n * rows)) return bad("cpu add: b must have one row or a's shape");
    std::vector<float> bbuf;
    const float *bf = as_f32(b, nb, bbuf);
    if (!bf) return bad("cpu add: unsupported type of b");
    const bool bcast = nb == n;
    const float *af = static_cast<const float *>(a->data);
    float *yf = static_cast<float *>(y->data);
    ctx->pool.parallel_for(rows, [&](int64_t r) {
        const float *ar = af + r * n, *br = bf + (bcast ? 0 : r * n);
        float *yr = yf + r * n;
        for (int64_t i = 0; i < n; ++i) yr[i] = ar[i] + br[i];
    });
    return 0;
}

int32_t store_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *src, llm4all_tensor *dst, int64_t dst_row) {
    if (!ctx || !is_f32(src) || !dst || !dst->data || (dst->type != LLM4ALL_TYPE_F32 && dst->type != LLM4ALL_TYPE_F16))
        return bad("cpu store_rows: src must be F32, dst F32 or F16");
    const int64_t n = src->ne[0], rows = n_rows(src);
    if (dst->ne[0] != n || dst_row < 0 || dst_row + rows > n_rows(dst))
        return bad("cpu store_rows: rows do not fit in dst");
    const float *sf = static_cast<const float *>(src->data);
    if (dst->type == LLM4ALL_TYPE_F32) {
        float *df = static_cast<float *>(dst->data) + dst_row * n;
        std::copy(sf, sf + n * rows, df);
    } else {
        uint16_t *dh = static_cast<uint16_t *>(dst->data) + dst_row * n;
        ctx->pool.parallel_for(rows, [&](int64_t r) { f32_row_to_f16(sf + r * n, dh + r * n, n); });
    }
    return 0;
}

} // namespace llm4all::cpu
