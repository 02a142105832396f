// matmul.cpp — y = W x on a Vulkan device for every weight type the CPU runs, and
// mul_mat_multi (several matrices on one input). A few tokens (decode) take the
// matrix-vector shader (mul_mat_vec.comp), more take the tiled one (mul_mat_mm.comp).
//
// Accuracy: both shaders multiply the exactly dequantized weights (dequant.glsl
// follows the CPU's dequantize_row) with the F32 activations and accumulate in F32;
// against a double-precision product of the same dequantized weights the relative
// error is ~1e-6. The CPU backend instead quantizes the activations to Q8_0/Q8_1/Q8_K
// (or rounds them to F16/BF16 for 16-bit weights), as llama.cpp does, which moves its
// results by up to ~1e-2 of the largest output on random data; the two backends
// therefore differ by the CPU's activation rounding, not by the Vulkan arithmetic.
#include "matmul.h"

#include <algorithm>
#include <string>

#include "context.h"
#include "quant_types.h"

namespace llm4all::vk {

namespace {

// Tile shapes of the shaders (#defines there): rows x tokens per workgroup.
constexpr int64_t MV_ROWS = 8, MV_TOK = 8; // mul_mat_vecn; mul_mat_vec takes one token
// On an emulated device (lavapipe) each workgroup costs several microseconds of
// scheduling, so one token against a matrix of at least 512 rows takes mul_mat_vec64
// (64 rows per workgroup: a 576x49152 Q8_0 product ~2x faster there); GPUs keep 8
// rows, many workgroups to fill their cores. Several tokens against such a matrix go
// one by one there too (see run_one). The op test's small matrices keep every other
// shader covered on lavapipe.
constexpr int64_t MV_ROWS_EMULATED = 64, MV_EMULATED_MIN_ROWS = 512;
constexpr int64_t MM_ROWS = 64, MM_TOK = 32;
// Workgroups along x; more spill into z (the guaranteed maxComputeWorkGroupCount).
constexpr int64_t MAX_GROUPS_X = 65535;

struct Push {
    uint32_t n_in, n_out, n_tok; // n_out / n_tok of this dispatch's chunk
    uint32_t w_byte, w_row_bytes;
    uint32_t x_off, x_stride; // floats
    uint32_t y_off, y_stride;
};

int64_t rows_of(const llm4all_tensor &t) { return t.ne[1] * t.ne[2] * t.ne[3]; }

const QuantType &check_shapes(const llm4all_tensor *w, const llm4all_tensor *x, const llm4all_tensor *y) {
    if (!w || !x || !y || !w->data || !x->data || !y->data) fail("a tensor or its data is missing");
    const QuantType *qt = quant_type(w->type);
    if (!qt) fail("unsupported weight type " + std::to_string(w->type));
    const int64_t n_in = w->ne[0], n_out = rows_of(*w), n_tok = rows_of(*x);
    if (x->type != LLM4ALL_TYPE_F32 || y->type != LLM4ALL_TYPE_F32)
        fail("x and y must be F32");
    if (n_in < 1 || n_in % qt->block_size)
        fail("rows of " + std::to_string(n_in) + " values are not whole " + qt->name + " blocks of " +
             std::to_string(qt->block_size));
    if (x->ne[0] != n_in || y->ne[0] != n_out || rows_of(*y) != n_tok)
        fail("shapes do not fit: w [" + std::to_string(n_in) + ", " + std::to_string(n_out) + "], x [" +
             std::to_string(x->ne[0]) + ", " + std::to_string(n_tok) + "], y [" + std::to_string(y->ne[0]) + ", " +
             std::to_string(rows_of(*y)) + "]");
    if (n_out > UINT32_MAX / 4 || n_tok > UINT32_MAX / 4) fail("too many rows for 32-bit indices");
    return *qt;
}

void run_one(llm4all_backend_ctx *ctx, const QuantType &qt, const llm4all_tensor &w, const llm4all_tensor &x,
             llm4all_tensor &y) {
    const int64_t n_in = w.ne[0], n_out = rows_of(w), n_tok = rows_of(x);
    const size_t wrb = row_bytes(qt, n_in);
    if (n_tok == 0 || n_out == 0) return;
    if (n_tok > 1 && n_out >= MV_EMULATED_MIN_ROWS && (ctx->dev->caps() & LLM4ALL_CAP_EMULATED)) {
        // lavapipe runs the tiled and multi-token shaders slower per token than one
        // mul_mat_vec64 per token (576x4608 Q4_1, 24 tokens: ~200 ms tiled, ~110 ms
        // as 24 single-token products), so large products go token by token there.
        for (int64_t t = 0; t < n_tok; ++t) {
            llm4all_tensor xt = x, yt = y;
            xt.data = static_cast<uint8_t *>(x.data) + size_t(t * n_in) * 4;
            yt.data = static_cast<uint8_t *>(y.data) + size_t(t * n_out) * 4;
            xt.ne[1] = xt.ne[2] = xt.ne[3] = yt.ne[1] = yt.ne[2] = yt.ne[3] = 1;
            run_one(ctx, qt, w, xt, yt);
        }
        return;
    }
    const bool vec = n_tok <= MV_TOK, wide = n_tok == 1 && n_out >= MV_EMULATED_MIN_ROWS &&
                                           (ctx->dev->caps() & LLM4ALL_CAP_EMULATED);
    const int64_t wg_rows = wide ? MV_ROWS_EMULATED : vec ? MV_ROWS : MM_ROWS, wg_tok = vec ? MV_TOK : MM_TOK;
    const std::string shader =
        std::string(wide ? "mul_mat_vec64_" : n_tok == 1 ? "mul_mat_vec_" : vec ? "mul_mat_vecn_" : "mul_mat_mm_") +
        suffix(qt);

    // One binding may span at most max_binding_bytes (128 MiB on lavapipe) including
    // the skew of an unaligned start: split large matrices by rows, long batches by tokens.
    const uint64_t limit = ctx->max_binding_bytes() - 256;
    if (wrb > limit || uint64_t(n_in) * 4 > limit || uint64_t(n_out) * 4 > limit)
        fail("one row is larger than a binding may span (" + std::to_string(ctx->max_binding_bytes()) + " bytes)");
    const int64_t rows_per_chunk = std::min<int64_t>(n_out, int64_t(limit / wrb));
    const int64_t tok_per_chunk = std::min<int64_t>(n_tok, int64_t(limit / (4 * uint64_t(std::max(n_in, n_out)))));

    const uint8_t *wd = static_cast<const uint8_t *>(w.data);
    const uint8_t *xd = static_cast<const uint8_t *>(x.data);
    uint8_t *yd = static_cast<uint8_t *>(y.data);
    for (int64_t t0 = 0; t0 < n_tok; t0 += tok_per_chunk) {
        const int64_t nt = std::min(tok_per_chunk, n_tok - t0);
        const Binding bx = ctx->resolve(xd + size_t(t0 * n_in) * 4, size_t(nt * n_in) * 4);
        for (int64_t r0 = 0; r0 < n_out; r0 += rows_per_chunk) {
            const int64_t nr = std::min(rows_per_chunk, n_out - r0);
            const Binding bw = ctx->resolve(wd + size_t(r0) * wrb, size_t(nr) * wrb);
            const Binding by = ctx->resolve(yd + size_t(t0 * n_out + r0) * 4, size_t((nt - 1) * n_out + nr) * 4);
            const Push pc{uint32_t(n_in), uint32_t(nr), uint32_t(nt), bw.skew, uint32_t(wrb),
                          bx.elem(4), uint32_t(n_in), by.elem(4), uint32_t(n_out)};
            const int64_t groups = (nr + wg_rows - 1) / wg_rows;
            const int64_t gx = std::min(groups, MAX_GROUPS_X), gz = (groups + gx - 1) / gx;
            ctx->dispatch(shader.c_str(), {bw, bx, by}, &pc, sizeof pc, uint32_t(gx),
                          uint32_t((nt + wg_tok - 1) / wg_tok), uint32_t(gz));
        }
    }
}

} // namespace

bool mul_mat_supports(int32_t type) { return quant_type(type) != nullptr; }

int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y) {
    return guarded(ctx, "mul_mat", [&] { run_one(ctx, check_shapes(w, x, y), *w, *x, *y); });
}

// Each matrix is its own dispatch: they read the same x, which the device keeps
// in its caches, and a dispatch per matrix keeps every shader variant simple.
int32_t mul_mat_multi(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                      llm4all_tensor *const *y) {
    return guarded(ctx, "mul_mat_multi", [&] {
        if (n < 1 || !w || !y) fail("no matrices");
        for (int32_t j = 0; j < n; ++j) check_shapes(w[j], x, y[j]); // all checked before any runs
        for (int32_t j = 0; j < n; ++j) run_one(ctx, *quant_type(w[j]->type), *w[j], *x, *y[j]);
    });
}

} // namespace llm4all::vk
