// matmul.cpp — y = W x for every supported weight type, the bulk of all work.
// Activations are prepared once per call (Q8_0/Q8_1 quantized or rounded to
// the weight's 16-bit type, as llama.cpp's CPU backend does), then the output
// is split into tiles of (weight rows x tokens): a weight row stays in L1 while
// a group of tokens passes over it, so a 512-token batch reads the weights a
// handful of times instead of 512 times.
#include <algorithm>
#include <string>

#include "cpu.h"
#include "dot.h"
#include "quants.h"

namespace llm4all::cpu {

namespace {
constexpr int64_t ROWS_PER_TILE = 16;
constexpr int64_t TOKENS_PER_TILE = 64;

bool whole_blocks(int32_t type, int64_t n) { return n > 0 && n % type_block_size(type) == 0; }
} // namespace

int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y) {
    if (!ctx || !w || !x || !y || !w->data || !x->data || !y->data) return 1;
    const int32_t wt = w->type;
    if (!type_supported(wt)) {
        log(LLM4ALL_LOG_ERROR, ("cpu mul_mat: unsupported weight type " + std::to_string(wt)).c_str());
        return 1;
    }
    const int64_t n_in = w->ne[0], n_out = n_rows(w), n_tok = n_rows(x);
    if (x->type != LLM4ALL_TYPE_F32 || y->type != LLM4ALL_TYPE_F32 || x->ne[0] != n_in || y->ne[0] != n_out ||
        n_rows(y) != n_tok || !whole_blocks(wt, n_in)) {
        log(LLM4ALL_LOG_ERROR, "cpu mul_mat: shapes or types do not fit");
        return 1;
    }

    const ActKind kind = act_kind(wt);
    // Rows padded to a cache line so threads preparing neighbours do not share lines.
    const size_t arb = (act_row_bytes(kind, n_in) + 63) & ~size_t(63);
    if (ctx->act.size() < arb * n_tok + 64) ctx->act.resize(arb * n_tok + 64);
    uint8_t *act = ctx->act.data();
    act += (64 - reinterpret_cast<uintptr_t>(act) % 64) % 64;
    const float *xf = static_cast<const float *>(x->data);
    ctx->pool.parallel_for(n_tok, [&](int64_t t) { prepare_act_row(kind, xf + t * n_in, act + t * arb, n_in); });

    const uint8_t *wd = static_cast<const uint8_t *>(w->data);
    const size_t wrb = type_row_bytes(wt, n_in);
    float *yf = static_cast<float *>(y->data);
    const bool widen = wt == LLM4ALL_TYPE_F16 || wt == LLM4ALL_TYPE_BF16; // dot in float on a widened row
    const int32_t dot_type = widen ? int32_t(LLM4ALL_TYPE_F32) : wt;

    const int64_t n_rt = (n_out + ROWS_PER_TILE - 1) / ROWS_PER_TILE;
    const int64_t n_tt = (n_tok + TOKENS_PER_TILE - 1) / TOKENS_PER_TILE;
    // Neighbouring tasks share a token tile, so concurrently running threads
    // read the same activations while each streams its own weight rows.
    ctx->pool.parallel_for(n_rt * n_tt, [&](int64_t task) {
        const int64_t r0 = (task % n_rt) * ROWS_PER_TILE, r1 = std::min(n_out, r0 + ROWS_PER_TILE);
        const int64_t t0 = (task / n_rt) * TOKENS_PER_TILE, t1 = std::min(n_tok, t0 + TOKENS_PER_TILE);
        thread_local std::vector<float> wide;
        if (widen && int64_t(wide.size()) < n_in) wide.resize(n_in);
        float out[DOT_MAX_TOK];
        for (int64_t r = r0; r < r1; ++r) {
            const void *wrow = wd + r * wrb;
            if (widen) {
                dequantize_row(wt, wrow, wide.data(), n_in);
                wrow = wide.data();
            }
            for (int64_t t = t0; t < t1; t += DOT_MAX_TOK) {
                const int nt = int(std::min<int64_t>(DOT_MAX_TOK, t1 - t));
                dot_rows(dot_type, wrow, act + t * arb, arb, nt, n_in, out);
                for (int k = 0; k < nt; ++k) yf[(t + k) * n_out + r] = out[k];
            }
        }
    });
    return 0;
}

int32_t get_rows(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const int32_t *ids, int64_t n_ids,
                 llm4all_tensor *y) {
    if (!ctx || !w || !ids || !y || !w->data || !y->data || n_ids < 0) return 1;
    const int32_t wt = w->type;
    const int64_t n = w->ne[0], rows = n_rows(w);
    const size_t rb = type_row_bytes(wt, n);
    if (!type_supported(wt) || !whole_blocks(wt, n) || y->type != LLM4ALL_TYPE_F32 || y->ne[0] != n || n_rows(y) < n_ids) {
        log(LLM4ALL_LOG_ERROR, "cpu get_rows: unsupported type or shapes that do not fit");
        return 1;
    }
    for (int64_t i = 0; i < n_ids; ++i) {
        if (ids[i] < 0 || ids[i] >= rows) {
            log(LLM4ALL_LOG_ERROR, ("cpu get_rows: row id " + std::to_string(ids[i]) + " outside [0, " +
                                    std::to_string(rows) + ")").c_str());
            return 1;
        }
    }
    const uint8_t *wd = static_cast<const uint8_t *>(w->data);
    float *yf = static_cast<float *>(y->data);
    ctx->pool.parallel_for(n_ids, [&](int64_t i) { dequantize_row(wt, wd + size_t(ids[i]) * rb, yf + i * n, n); });
    return 0;
}

} // namespace llm4all::cpu
