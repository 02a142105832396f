// matmul.cpp — mul_mat and mul_mat_multi of the CUDA plugin: shape and address
// checks, then the matrix-vector kernel for a few tokens (mul_mat_vec.cu) or the
// tiled one (mul_mat_mm.cu). Both multiply exactly dequantized weights with the F32
// activations in F32; the CPU backend rounds the activations to Q8 (or F16/BF16)
// first, so the two differ by that rounding (test_backend_ops bounds it per output).
#include <string>

#include "kernels.h"
#include "ops.h"
#include "quant_types.h"

namespace llm4all::cu {

bool weight_type_supported(int32_t type) { return quant_type(type) != nullptr; }

namespace {

void run_one(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y) {
    if (!w || !x || !y || !w->data || !x->data || !y->data) fail("a tensor or its data is missing");
    const QuantType *qt = quant_type(w->type);
    if (!qt) fail("unsupported weight type " + std::to_string(w->type));
    if (x->type != LLM4ALL_TYPE_F32 || y->type != LLM4ALL_TYPE_F32) fail("x and y must be F32");
    const int64_t n_in = w->ne[0], n_out = n_rows(w), n_tok = n_rows(x);
    if (n_in < 1 || n_in % qt->block_size)
        fail("rows of " + std::to_string(n_in) + " values are not whole " + qt->name + " blocks of " +
             std::to_string(qt->block_size));
    if (x->ne[0] != n_in || y->ne[0] != n_out || n_rows(y) != n_tok)
        fail("shapes do not fit: w [" + std::to_string(n_in) + ", " + std::to_string(n_out) + "], x [" +
             std::to_string(x->ne[0]) + ", " + std::to_string(n_tok) + "], y [" + std::to_string(y->ne[0]) + ", " +
             std::to_string(n_rows(y)) + "]");
    if (n_tok > 65535 * 64) fail("too many tokens for one call");
    const size_t wrb = row_bytes(*qt, n_in);
    need(w->data, wrb * size_t(n_out), "w");
    need(x->data, size_t(n_in * n_tok) * 4, "x");
    need(y->data, size_t(n_out * n_tok) * 4, "y");
    const float *xf = static_cast<const float *>(x->data);
    float *yf = static_cast<float *>(y->data);
    if (n_tok <= k_mmv_max_tok)
        launch_mul_mat_vec(ctx->stream, w->type, w->data, wrb, xf, yf, n_in, n_out, n_tok);
    else
        launch_mul_mat_mm(ctx->stream, w->type, w->data, wrb, xf, yf, n_in, n_out, n_tok);
}

} // namespace

int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y) {
    return guarded(ctx, "mul_mat", [&] { run_one(ctx, w, x, y); });
}

// Each matrix in turn on the shared input: the kernels read x directly (nothing to
// prepare once), so this is mul_mat n times in one stream.
int32_t mul_mat_multi(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                      llm4all_tensor *const *y) {
    return guarded(ctx, "mul_mat_multi", [&] {
        if (n < 0 || (n > 0 && (!w || !y))) fail("bad matrix list");
        for (int32_t j = 0; j < n; ++j) run_one(ctx, w[j], x, y[j]);
    });
}

} // namespace llm4all::cu
