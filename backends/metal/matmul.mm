// matmul.mm — y = W x on a Metal device for every weight type the CPU runs, and
// mul_mat_multi (several matrices on one input): the host side of
// backends/vulkan/matmul.cpp line for line. A few tokens (decode) take the
// matrix-vector kernel (mul_mat_vec.metal), more take the tiled one (mul_mat_mm.metal).
//
// Accuracy: both kernels multiply the exactly dequantized weights (dequant.h follows
// the CPU's dequantize_row) with the F32 activations and accumulate in F32. The CPU
// backend instead quantizes the activations to Q8_0/Q8_1/Q8_K (or rounds them to
// F16/BF16 for 16-bit weights), as llama.cpp does, so the two backends differ by the
// CPU's activation rounding, as the Vulkan backend does (see its matmul.cpp).
#include "matmul.h"

#include <algorithm>
#include <string>

#include "context.h"
#include "quant_types.h"

namespace llm4all::mt {

namespace {

// Tile shapes of the kernels (#defines there): rows x tokens per threadgroup, and
// their threadgroup sizes (MV_WG; MM_WG = MM_ROWS / 4 * MM_TOK / 4).
constexpr int64_t MV_ROWS = 8, MV_TOK = 8; // mul_mat_vecn; mul_mat_vec takes one token
constexpr int64_t MM_ROWS = 64, MM_TOK = 32;
constexpr uint32_t MV_WG = 32, MM_WG = 128;
// Threadgroups along x; more spill into z (as the Vulkan shaders do).
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
    const bool vec = n_tok <= MV_TOK;
    const int64_t wg_rows = vec ? MV_ROWS : MM_ROWS, wg_tok = vec ? MV_TOK : MM_TOK;
    const std::string shader = std::string(n_tok == 1 ? "mul_mat_vec_" : vec ? "mul_mat_vecn_" : "mul_mat_mm_") + suffix(qt);

    // One binding may span at most max_binding_bytes (2 GiB: the kernels' 32-bit
    // indices) including the skew of an unaligned start: split large matrices by rows,
    // long batches by tokens.
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
                          uint32_t((nt + wg_tok - 1) / wg_tok), uint32_t(gz), vec ? MV_WG : MM_WG);
        }
    }
}

} // namespace

bool mul_mat_supports(int32_t type) { return quant_type(type) != nullptr; }

int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y) {
    return guarded(ctx, "mul_mat", [&] { run_one(ctx, check_shapes(w, x, y), *w, *x, *y); });
}

// Each matrix is its own dispatch: they read the same x, which the device keeps
// in its caches, and a dispatch per matrix keeps every kernel variant simple.
int32_t mul_mat_multi(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                      llm4all_tensor *const *y) {
    return guarded(ctx, "mul_mat_multi", [&] {
        if (n < 1 || !w || !y) fail("no matrices");
        for (int32_t j = 0; j < n; ++j) check_shapes(w[j], x, y[j]); // all checked before any runs
        for (int32_t j = 0; j < n; ++j) run_one(ctx, *quant_type(w[j]->type), *w[j], *x, *y[j]);
    });
}

} // namespace llm4all::mt
