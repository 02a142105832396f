// ops.cpp — the element-wise ops of the Vulkan backend (scale, add, swiglu,
// geglu, gelu), the norms, store_rows and get_rows: the CPU backend's argument
// checks, then one dispatch each (get_rows: one per window of table rows that a
// binding can span). Rope and attention are in rope_attention.cpp.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops.h"
#include "quant_types.h"

namespace llm4all::vk {

namespace {

constexpr uint32_t k_wg = 256;  // the element-wise shaders' local_size_x

void need(bool ok, const char *what) {
    if (!ok) fail(what);
}
bool is_f32(const llm4all_tensor *t) { return t && t->data && t->type == LLM4ALL_TYPE_F32; }

// Workgroups for n elements handled k_wg at a time, as a 2-D grid.
void groups_for(llm4all_backend_ctx *ctx, uint64_t n, uint32_t *gx, uint32_t *gy) {
    ctx->groups_2d((n + k_wg - 1) / k_wg, gx, gy);
}

uint32_t u32(uint64_t v) {
    if (v > UINT32_MAX) fail("a size is too large for the shaders' 32-bit indices");
    return uint32_t(v);
}

// A row-wise F32 op's binding must hold whole rows; ops on more data than one binding
// may span run in pieces of whole rows.
int64_t rows_per_piece(llm4all_backend_ctx *ctx, int64_t n) {
    const uint64_t limit = ctx->max_binding_bytes() - 256;
    return std::max<int64_t>(1, int64_t(limit / (uint64_t(n) * 4)));
}

const char *f32p(const void *p, int64_t elems) { return static_cast<const char *>(p) + elems * 4; }

// y = f(x[, u]) element-wise over rows of n values, in pieces a binding can hold.
template <class F>
void by_pieces(llm4all_backend_ctx *ctx, int64_t n, int64_t rows, F &&run) {
    const int64_t per = rows_per_piece(ctx, n);
    for (int64_t r0 = 0; r0 < rows; r0 += per) run(r0, std::min(per, rows - r0));
}

void gated(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y,
           float a, float c) {
    need(is_f32(gate) && is_f32(up) && is_f32(y) && n_elements(gate) == n_elements(up) &&
             n_elements(gate) == n_elements(y),
         "gate, up, y must be F32 of the same size");
    const int64_t n = gate->ne[0];
    by_pieces(ctx, n, n_rows(gate), [&](int64_t r0, int64_t nr) {
        const uint64_t bytes = uint64_t(nr * n) * 4;
        const Binding bg = ctx->resolve(f32p(gate->data, r0 * n), bytes), bu = ctx->resolve(f32p(up->data, r0 * n), bytes),
                      by = ctx->resolve(f32p(y->data, r0 * n), bytes);
        struct { uint32_t total, g_off, u_off, y_off; float a, c; } pc{u32(nr * n), bg.elem(4), bu.elem(4), by.elem(4), a, c};
        uint32_t gx, gy;
        groups_for(ctx, uint64_t(nr * n), &gx, &gy);
        ctx->dispatch("gated", {bg, bu, by}, &pc, sizeof pc, gx, gy, 1);
    });
}

// The norms' optional weight / bias: an F32 row of n values, or absent.
bool param_row(const llm4all_tensor *t, int64_t n, const char *what) {
    if (!t || !t->data) return false;
    if (t->type != LLM4ALL_TYPE_F32 || n_elements(t) != n)
        fail(std::string(what) + " must be an F32 row of the row length");
    return true;
}

void norm(llm4all_backend_ctx *ctx, const char *shader, const llm4all_tensor *x, const llm4all_tensor *weight,
          const llm4all_tensor *bias, float eps, llm4all_tensor *y) {
    need(is_f32(x) && is_f32(y) && n_elements(x) == n_elements(y) && y->ne[0] == x->ne[0],
         "x and y must be F32 of the same shape");
    const int64_t n = x->ne[0];
    const bool has_w = param_row(weight, n, "weight"), has_b = param_row(bias, n, "bias");
    const Binding bw = has_w ? ctx->resolve(weight->data, size_t(n) * 4) : Binding{};
    const Binding bb = has_b ? ctx->resolve(bias->data, size_t(n) * 4) : Binding{};
    by_pieces(ctx, n, n_rows(x), [&](int64_t r0, int64_t nr) {
        const uint64_t bytes = uint64_t(nr * n) * 4;
        const Binding bx = ctx->resolve(f32p(x->data, r0 * n), bytes), by = ctx->resolve(f32p(y->data, r0 * n), bytes);
        // An absent weight or bias binds x in its place (never read).
        const Binding w = has_w ? bw : bx, b = has_b ? bb : bx;
        struct { uint32_t n, rows, x_off, w_off, b_off, y_off, has_w, has_b; float eps; } pc{
            u32(n), u32(nr), bx.elem(4), w.elem(4), b.elem(4), by.elem(4), has_w, has_b, eps};
        uint32_t gx, gy;
        ctx->groups_2d(uint64_t(nr), &gx, &gy);
        ctx->dispatch(shader, {bx, w, b, by}, &pc, sizeof pc, gx, gy, 1);
    });
}

} // namespace

bool get_rows_supported(int32_t type) { return quant_type(type) != nullptr; }

int32_t scale(llm4all_backend_ctx *ctx, const llm4all_tensor *x, float s, llm4all_tensor *y) {
    return guarded(ctx, "scale", [&] {
        need(is_f32(x) && is_f32(y) && n_elements(x) == n_elements(y), "x and y must be F32 of the same size");
        const int64_t n = x->ne[0];
        by_pieces(ctx, n, n_rows(x), [&](int64_t r0, int64_t nr) {
            const uint64_t bytes = uint64_t(nr * n) * 4;
            const Binding bx = ctx->resolve(f32p(x->data, r0 * n), bytes), by = ctx->resolve(f32p(y->data, r0 * n), bytes);
            struct { uint32_t n, x_off, y_off; float s; } pc{u32(nr * n), bx.elem(4), by.elem(4), s};
            uint32_t gx, gy;
            groups_for(ctx, uint64_t(nr * n), &gx, &gy);
            ctx->dispatch("scale", {bx, by}, &pc, sizeof pc, gx, gy, 1);
        });
    });
}

int32_t gelu(llm4all_backend_ctx *ctx, const llm4all_tensor *x, llm4all_tensor *y) {
    return guarded(ctx, "gelu", [&] {
        need(is_f32(x) && is_f32(y) && n_elements(x) == n_elements(y), "x and y must be F32 of the same size");
        const int64_t n = x->ne[0];
        by_pieces(ctx, n, n_rows(x), [&](int64_t r0, int64_t nr) {
            const uint64_t bytes = uint64_t(nr * n) * 4;
            const Binding bx = ctx->resolve(f32p(x->data, r0 * n), bytes), by = ctx->resolve(f32p(y->data, r0 * n), bytes);
            struct { uint32_t total, x_off, y_off; } pc{u32(nr * n), bx.elem(4), by.elem(4)};
            uint32_t gx, gy;
            groups_for(ctx, uint64_t(nr * n), &gx, &gy);
            ctx->dispatch("gelu", {bx, by}, &pc, sizeof pc, gx, gy, 1);
        });
    });
}

int32_t swiglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y) {
    return guarded(ctx, "swiglu", [&] { gated(ctx, gate, up, y, 1.0f, 0.0f); });
}

int32_t geglu(llm4all_backend_ctx *ctx, const llm4all_tensor *gate, const llm4all_tensor *up, llm4all_tensor *y) {
    // The constants of the CPU backend's geglu (2 sqrt(2/pi), 0.044715).
    const float k_beta = 0.7978845608028654f, k_kappa = 0.044715f;
    return guarded(ctx, "geglu", [&] { gated(ctx, gate, up, y, 2.0f * k_beta, k_kappa); });
}

int32_t add(llm4all_backend_ctx *ctx, const llm4all_tensor *a, const llm4all_tensor *b, llm4all_tensor *y) {
    return guarded(ctx, "add", [&] {
        need(is_f32(a) && is_f32(y) && n_elements(a) == n_elements(y), "a and y must be F32 of the same size");
        need(is_f32(b), "b must be F32");
        const int64_t n = a->ne[0], rows = n_rows(a), nb = n_elements(b);
        need(b->ne[0] == n && (nb == n || nb == n * rows), "b must have one row or a's shape");
        const bool bcast = nb == n && rows > 1;
        const Binding b_row = bcast ? ctx->resolve(b->data, size_t(n) * 4) : Binding{};
        by_pieces(ctx, n, rows, [&](int64_t r0, int64_t nr) {
            const uint64_t bytes = uint64_t(nr * n) * 4;
            const Binding ba = ctx->resolve(f32p(a->data, r0 * n), bytes), by = ctx->resolve(f32p(y->data, r0 * n), bytes);
            const Binding bb = bcast ? b_row : ctx->resolve(f32p(b->data, r0 * n), bytes);
            struct { uint32_t total, n, bcast, a_off, b_off, y_off; } pc{u32(nr * n), u32(n), bcast,
                                                                         ba.elem(4), bb.elem(4), by.elem(4)};
            uint32_t gx, gy;
            groups_for(ctx, uint64_t(nr * n), &gx, &gy);
            ctx->dispatch("add", {ba, bb, by}, &pc, sizeof pc, gx, gy, 1);
        });
    });
}

int32_t rms_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight, float eps,
                 llm4all_tensor *y) {
    return guarded(ctx, "rms_norm", [&] { norm(ctx, "rms_norm", x, weight, nullptr, eps, y); });
}

int32_t layer_norm(llm4all_backend_ctx *ctx, const llm4all_tensor *x, const llm4all_tensor *weight,
                   const llm4all_tensor *bias, float eps, llm4all_tensor *y) {
    return guarded(ctx, "layer_norm", [&] { norm(ctx, "layer_norm", x, weight, bias, eps, y); });
}

int32_t store_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *src, llm4all_tensor *dst, int64_t dst_row) {
    return guarded(ctx, "store_rows", [&] {
        need(is_f32(src) && dst && dst->data && (dst->type == LLM4ALL_TYPE_F32 || dst->type == LLM4ALL_TYPE_F16),
             "src must be F32, dst F32 or F16");
        const int64_t n = src->ne[0], rows = n_rows(src);
        need(dst->ne[0] == n && dst_row >= 0 && dst_row + rows <= n_rows(dst), "rows do not fit in dst");
        const bool f16 = dst->type == LLM4ALL_TYPE_F16;
        const int64_t es = f16 ? 2 : 4;
        by_pieces(ctx, n, rows, [&](int64_t r0, int64_t nr) {
            const int64_t total = nr * n;
            const Binding bs = ctx->resolve(f32p(src->data, r0 * n), size_t(total) * 4);
            // F16 words are written whole: the binding covers the word holding each end.
            const char *d0 = static_cast<const char *>(dst->data) + (dst_row + r0) * n * es;
            const Binding bd = ctx->resolve(d0, size_t(total * es));
            const uint32_t d_off = bd.elem(uint32_t(es));
            struct { uint32_t total, s_off, d_off; } pc{u32(total), bs.elem(4), d_off};
            uint32_t gx, gy;
            // F16: one invocation per destination word, which may be one more than half.
            groups_for(ctx, f16 ? uint64_t(total + 2) / 2 : uint64_t(total), &gx, &gy);
            ctx->dispatch(f16 ? "store_rows_f16" : "store_rows_f32", {bs, bd}, &pc, sizeof pc, gx, gy, 1);
        });
    });
}

int32_t get_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const int32_t *ids, int64_t n_ids,
                 llm4all_tensor *y) {
    return guarded(ctx, "get_rows", [&] {
        need(w && w->data && ids && is_f32(y) && n_ids >= 0, "w, ids and an F32 y must be given");
        const QuantType *qt = quant_type(w->type);
        if (!qt) fail("unsupported weight type " + std::to_string(w->type));
        const int64_t n = w->ne[0], rows = n_rows(w);
        need(n > 0 && n % qt->block_size == 0 && y->ne[0] == n && n_rows(y) >= n_ids,
             "rows must be whole blocks and y [row length, n_ids]");
        for (int64_t i = 0; i < n_ids; ++i)
            if (ids[i] < 0 || ids[i] >= rows)
                fail("row id " + std::to_string(ids[i]) + " outside [0, " + std::to_string(rows) + ")");
        const size_t rb = row_bytes(*qt, n);
        const std::string shader = std::string("get_rows_") + suffix(*qt);
        const uint64_t limit = ctx->max_binding_bytes() - 256;
        if (rb > limit || uint64_t(n) * 4 > limit) fail("one row is larger than a binding may span");
        const int64_t ids_per_piece = std::max<int64_t>(1, int64_t(limit / (uint64_t(n) * 4)));
        const char *wd = static_cast<const char *>(w->data);
        // Runs of ids whose table rows fit one binding go in one dispatch: the whole
        // table when it fits (on GPUs it does), else runs of nearby rows (decoding: one).
        for (int64_t i0 = 0; i0 < n_ids;) {
            int64_t lo = ids[i0], hi = ids[i0], i1 = i0 + 1;
            while (i1 < n_ids && i1 - i0 < ids_per_piece) {
                const int64_t l = std::min<int64_t>(lo, ids[i1]), h = std::max<int64_t>(hi, ids[i1]);
                if (uint64_t(h - l + 1) * rb > limit) break;
                lo = l;
                hi = h;
                ++i1;
            }
            if (uint64_t(rows) * rb <= limit) lo = 0, hi = rows - 1;
            const int64_t cnt = i1 - i0;
            const Binding bw = ctx->resolve(wd + size_t(lo) * rb, size_t(hi - lo + 1) * rb);
            const Binding bi = ctx->host_array(ids + i0, size_t(cnt) * 4);
            const Binding by = ctx->resolve(f32p(y->data, i0 * n), size_t(cnt * n) * 4);
            struct { uint32_t n, n_ids, w_skew, row_bytes; int32_t row_base; uint32_t y_off; } pc{
                u32(n), u32(cnt), bw.skew, u32(rb), int32_t(lo), by.elem(4)};
            uint32_t gx, gy;
            ctx->groups_2d(uint64_t(cnt), &gx, &gy);
            ctx->dispatch(shader.c_str(), {bw, bi, by}, &pc, sizeof pc, gx, gy, 1);
            i0 = i1;
        }
    });
}

} // namespace llm4all::vk
