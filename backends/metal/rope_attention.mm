// rope_attention.mm — rope / rope_ext and the three attention ops of the Metal
// backend, the host side of backends/vulkan/rope_attention.cpp line for line. The
// host does what needs the per-call host arrays: rope's angle step (computed as the
// CPU computes it) and each query's range of cache positions (causal, sliding window
// or explicit span), which the kernels then read.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops.h"

namespace llm4all::mt {

namespace {

void need(bool ok, const char *what) {
    if (!ok) fail(what);
}
bool is_f32(const llm4all_tensor *t) { return t && t->data && t->type == LLM4ALL_TYPE_F32; }

constexpr int64_t k_max_hd = 512;  // attention.metal's MAX_HD
constexpr uint32_t k_wg = 64;      // threadgroup size of attention, attention_merge and rope

// Query t sees cache positions [lo[t], hi[t]]; pos given: causal (n_swa > 0: the
// window of n_swa positions ending at pos[t]); else the span [first, last]; both
// clamped to [0, n_kv).
void attend(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k, const llm4all_tensor *v,
            int32_t n_kv, const int32_t *pos, const int32_t *first, const int32_t *last, float scale, int32_t n_swa,
            float softcap, llm4all_tensor *out) {
    need(is_f32(q) && is_f32(out) && k && v && k->data && v->data && (pos || (first && last)),
         "q/out must be F32, k/v/pos given");
    need(n_swa >= 0 && softcap >= 0.0f && std::isfinite(softcap),
         "the window must be >= 0 and the soft cap a finite number >= 0");
    const int64_t hd = q->ne[0], n_head = q->ne[1], n_tok = n_rows(q) / std::max<int64_t>(n_head, 1);
    const int64_t n_head_kv = k->ne[1], n_ctx = n_rows(k) / std::max<int64_t>(n_head_kv, 1);
    const bool k16 = k->type == LLM4ALL_TYPE_F16, v16 = v->type == LLM4ALL_TYPE_F16;
    need((k16 || k->type == LLM4ALL_TYPE_F32) && (v16 || v->type == LLM4ALL_TYPE_F32),
         "k/v cache must be F32 or F16");
    need(k->ne[0] == hd && v->ne[0] == hd && v->ne[1] == n_head_kv && n_rows(v) == n_rows(k) &&
             n_elements(out) == n_elements(q) && n_head_kv > 0 && n_head % n_head_kv == 0 && n_kv > 0 &&
             n_kv <= n_ctx,
         "shapes do not fit");
    if (hd > k_max_hd) fail("head size " + std::to_string(hd) + " is over the shader's 512");
    if (n_tok == 0) return;
    std::vector<int32_t> range(size_t(2 * n_tok));
    for (int64_t t = 0; t < n_tok; ++t) {
        int64_t lo, hi;
        if (pos) {
            hi = std::min<int64_t>(pos[t], n_kv - 1);
            lo = n_swa > 0 ? std::max<int64_t>(0, int64_t(pos[t]) - n_swa + 1) : 0;
        } else {
            lo = std::max<int64_t>(0, first[t]);
            hi = std::min<int64_t>(last[t], n_kv - 1);
        }
        range[size_t(t)] = int32_t(lo);
        range[size_t(n_tok + t)] = int32_t(hi);
    }
    // Few query rows over a long range (decoding): slices of the range in parallel
    // workgroups, merged by a second dispatch, so the device has more than n_head
    // workgroups to run.
    const int64_t rows = n_tok * n_head;
    int64_t longest = 0;
    for (int64_t t = 0; t < n_tok; ++t) longest = std::max<int64_t>(longest, range[size_t(n_tok + t)] - range[size_t(t)] + 1);
    uint32_t n_split = 1, slice = 0;
    if (rows < 64 && longest > 256) {
        n_split = uint32_t(std::clamp<int64_t>((longest + 127) / 128, 2, 32));
        slice = uint32_t(((longest + n_split - 1) / n_split + 63) / 64 * 64);
        n_split = uint32_t((longest + slice - 1) / slice);
    }
    const size_t part_bytes = size_t(rows) * n_split * size_t(hd + 2) * 4;
    const Binding bpart = n_split > 1 ? ctx->scratch(part_bytes) : Binding{};
    const uint64_t row = uint64_t(n_head_kv * hd);
    const Binding bq = ctx->resolve(q->data, size_t(n_elements(q)) * 4);
    const Binding bk = ctx->resolve(k->data, size_t(n_kv * row) * (k16 ? 2 : 4));
    const Binding bv = ctx->resolve(v->data, size_t(n_kv * row) * (v16 ? 2 : 4));
    const Binding br = ctx->host_array(range.data(), range.size() * 4);
    const Binding bo = ctx->resolve(out->data, size_t(n_elements(out)) * 4);
    struct {
        uint32_t hd, n_head, n_head_kv, n_tok, q_off, k_off, v_off, o_off;
        float scale, softcap;
        uint32_t n_split, slice;
    } pc{uint32_t(hd), uint32_t(n_head), uint32_t(n_head_kv), uint32_t(n_tok), bq.elem(4), bk.elem(k16 ? 2 : 4),
         bv.elem(v16 ? 2 : 4), bo.elem(4), scale, softcap, n_split, slice};
    const std::string shader = std::string(n_split > 1 ? "attention_split_" : "attention_") + (k16 ? "k16" : "k32") +
                               (v16 ? "_v16" : "_v32");
    uint32_t gx, gy;
    if (n_split == 1) {
        ctx->groups_2d(uint64_t(rows), &gx, &gy);
        ctx->dispatch(shader.c_str(), {bq, bk, bv, br, bo}, &pc, sizeof pc, gx, gy, 1, k_wg);
        return;
    }
    pc.o_off = bpart.elem(4);
    ctx->groups_2d(uint64_t(rows) * n_split, &gx, &gy);
    ctx->dispatch(shader.c_str(), {bq, bk, bv, br, bpart}, &pc, sizeof pc, gx, gy, 1, k_wg);
    struct { uint32_t hd, rows, n_split, part_off, o_off; } mc{uint32_t(hd), uint32_t(rows), n_split, bpart.elem(4),
                                                              bo.elem(4)};
    ctx->groups_2d(uint64_t(rows), &gx, &gy);
    ctx->dispatch("attention_merge", {bpart, bo}, &mc, sizeof mc, gx, gy, 1, k_wg);
}

} // namespace

int32_t rope(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float freq_base,
             float freq_scale, int32_t mode) {
    return rope_ext(ctx, x, pos, n_rot, freq_base, freq_scale, mode, nullptr, 1.0f);
}

int32_t rope_ext(llm4all_backend_ctx *ctx, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float freq_base,
                 float freq_scale, int32_t mode, const float *freq_factors, float mscale) {
    return guarded(ctx, "rope", [&] {
        need(is_f32(x) && pos, "x must be F32 and pos given");
        need(mscale > 0.0f && std::isfinite(mscale), "mscale must be a finite number > 0");
        const int64_t hd = x->ne[0], n_head = x->ne[1], n_tok = n_rows(x) / std::max<int64_t>(n_head, 1);
        need(n_rot > 0 && n_rot <= hd && n_rot % 2 == 0, "n_rot must be even and <= head_dim");
        need(mode == LLM4ALL_ROPE_NORMAL || mode == LLM4ALL_ROPE_NEOX, "unknown mode");
        if (n_tok == 0) return;
        // The CPU's expression, so both step by the same float.
        const float theta_scale = std::pow(freq_base, -2.0f / float(n_rot));
        const Binding bx = ctx->resolve(x->data, size_t(n_elements(x)) * 4);
        const Binding bp = ctx->host_array(pos, size_t(n_tok) * 4);
        const Binding bf = freq_factors ? ctx->host_array(freq_factors, size_t(n_rot / 2) * 4) : bp;
        struct {
            uint32_t hd, n_head, n_tok, half_rot, x_off, neox, has_ff;
            float theta_scale, freq_scale, mscale;
        } pc{uint32_t(hd), uint32_t(n_head), uint32_t(n_tok), uint32_t(n_rot / 2), bx.elem(4),
             mode == LLM4ALL_ROPE_NEOX, freq_factors != nullptr, theta_scale, freq_scale, mscale};
        uint32_t gx, gy;
        ctx->groups_2d(uint64_t(n_tok), &gx, &gy);
        ctx->dispatch("rope", {bx, bp, bf}, &pc, sizeof pc, gx, gy, 1, k_wg);
    });
}

int32_t attention(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                  const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, llm4all_tensor *out) {
    return guarded(ctx, "attention",
                   [&] { attend(ctx, q, k, v, n_kv, pos, nullptr, nullptr, scale, 0, 0.0f, out); });
}

int32_t attention_ext(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                      const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, int32_t n_swa,
                      float softcap, llm4all_tensor *out) {
    return guarded(ctx, "attention_ext",
                   [&] { attend(ctx, q, k, v, n_kv, pos, nullptr, nullptr, scale, n_swa, softcap, out); });
}

int32_t attention_span(llm4all_backend_ctx *ctx, const llm4all_tensor *q, const llm4all_tensor *k,
                       const llm4all_tensor *v, int32_t n_kv, const int32_t *first, const int32_t *last, float scale,
                       llm4all_tensor *out) {
    return guarded(ctx, "attention_span", [&] {
        need(first && last, "first and last must be given");
        attend(ctx, q, k, v, n_kv, nullptr, first, last, scale, 0, 0.0f, out);
    });
}

} // namespace llm4all::mt
