// matmul.cpp — y = W x for every supported weight type, the bulk of all work,
// and mul_mat_multi: several matrices applied to the same input in one phase.
// Activations are prepared once per call (Q8_0/Q8_1 quantized or rounded to
// the weight's 16-bit type, as llama.cpp's CPU backend does), then the output
// is split into tiles of (weight rows x tokens): a weight row stays in L1 while
// a group of tokens passes over it, so a 512-token batch reads the weights a
// handful of times instead of 512 times. A single token (decode) takes the
// GEMV path instead: long row ranges, several rows per kernel call; so do a
// few tokens (several sequences decoding together), each weight block unpacked
// once for all of them (dot.h gemv_rows_multi).
#include <algorithm>
#include <string>

#include "cpu.h"
#include "dot.h"
#include "gemm_f32.h"
#include "quants.h"

namespace llm4all::cpu {

namespace {
constexpr int64_t ROWS_PER_TILE = 16;
constexpr int64_t TOKENS_PER_TILE = 64;
constexpr int MAX_MULTI = 8; // matrices one mul_mat_multi call may take

bool whole_blocks(int32_t type, int64_t n) { return n > 0 && n % type_block_size(type) == 0; }

// Whether n_tok tokens against weights of this type take the GEMV kernels.
bool use_gemv(int32_t wt, int64_t n_tok) {
    if (wt == LLM4ALL_TYPE_F32 || wt == LLM4ALL_TYPE_F16 || wt == LLM4ALL_TYPE_BF16) return false;
    return n_tok == 1 || (n_tok <= GEMV_MULTI_TOK && gemv_multi_supported(wt));
}

bool check_one(const llm4all_tensor *w, const llm4all_tensor *x, const llm4all_tensor *y) {
    if (!w || !y || !w->data || !y->data) return false;
    const int32_t wt = w->type;
    if (!type_supported(wt)) {
        log(LLM4ALL_LOG_ERROR, ("cpu mul_mat: unsupported weight type " + std::to_string(wt)).c_str());
        return false;
    }
    const int64_t n_in = w->ne[0], n_out = n_rows(w), n_tok = n_rows(x);
    if (x->type != LLM4ALL_TYPE_F32 || y->type != LLM4ALL_TYPE_F32 || x->ne[0] != n_in || y->ne[0] != n_out ||
        n_rows(y) != n_tok || !whole_blocks(wt, n_in)) {
        log(LLM4ALL_LOG_ERROR, "cpu mul_mat: shapes or types do not fit");
        return false;
    }
    return true;
}

// One output matrix of a (multi) matmul: its weights, where its prepared
// activations live, and the first task index that belongs to it.
struct Job {
    int32_t wt, dot_type;
    bool widen, gemv, tile; // tile: prompt batch through the interleaved-token kernels
    const uint8_t *wd;
    size_t wrb;
    int64_t n_out, rows_per_task, n_rt, first_task;
    const uint8_t *act;
    float *y;
};

// y_j = W_j x for all j in ONE parallel phase after one activation
// preparation per activation kind: q/k/v (or gate/up) share the quantized
// input and a single wake-up of the pool.
int32_t run(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
            llm4all_tensor *const *y) {
    if (!ctx || !x || !x->data || n < 1 || n > MAX_MULTI || !w || !y) return 1;
    for (int32_t j = 0; j < n; ++j)
        if (!check_one(w[j], x, y[j])) return 1;
    const int64_t n_in = x->ne[0], n_tok = n_rows(x);

    // Distinct activation kinds (at most one per matrix), each prepared once.
    ActKind kinds[MAX_MULTI];
    int n_kinds = 0, kind_of[MAX_MULTI];
    for (int32_t j = 0; j < n; ++j) {
        const ActKind k = act_kind(w[j]->type);
        int i = 0;
        while (i < n_kinds && kinds[i] != k) ++i;
        if (i == n_kinds) kinds[n_kinds++] = k;
        kind_of[j] = i;
    }
    // Rows padded to a cache line so threads preparing neighbours do not share lines.
    size_t arb[MAX_MULTI], base[MAX_MULTI], total = 0;
    for (int i = 0; i < n_kinds; ++i) {
        arb[i] = (act_row_bytes(kinds[i], n_in) + 63) & ~size_t(63);
        base[i] = total;
        total += arb[i] * n_tok;
    }
    // A prompt batch also gets its activations interleaved in groups of
    // TILE_TOK tokens for every kind that some matrix's tile kernel reads.
    const int64_t n_groups = (n_tok + TILE_TOK - 1) / TILE_TOK;
    size_t gbytes[MAX_MULTI] = {}, gbase[MAX_MULTI] = {};
    bool packed[MAX_MULTI] = {};
    if (n_tok > 1)
        for (int32_t j = 0; j < n; ++j)
            packed[kind_of[j]] |= tile_supported(w[j]->type) && !use_gemv(w[j]->type, n_tok);
    for (int i = 0; i < n_kinds; ++i) {
        if (!packed[i]) continue;
        gbytes[i] = kinds[i] == ActKind::Q8_K   ? size_t(n_in / QK_K) * sizeof(GroupQ8_K)
                    : kinds[i] == ActKind::Q8_1 ? size_t(n_in / QK) * sizeof(GroupQ8_1)
                                                : size_t(n_in / QK) * sizeof(GroupQ8_0);
        gbase[i] = total;
        total += gbytes[i] * n_groups;
    }
    if (ctx->act.size() < total + 64) ctx->act.resize(total + 64);
    uint8_t *act = ctx->act.data();
    act += (64 - reinterpret_cast<uintptr_t>(act) % 64) % 64;
    const float *xf = static_cast<const float *>(x->data);
    ctx->pool.parallel_for(n_kinds * n_tok, [&](int64_t it) {
        const int i = int(it / n_tok);
        const int64_t t = it % n_tok;
        prepare_act_row(kinds[i], xf + t * n_in, act + base[i] + t * arb[i], n_in);
    });
    if (n_tok > 1 && std::find(packed, packed + n_kinds, true) != packed + n_kinds)
        ctx->pool.parallel_for(n_kinds * n_groups, [&](int64_t it) {
            const int i = int(it / n_groups);
            const int64_t g = it % n_groups;
            if (!packed[i]) return;
            const uint8_t *src = act + base[i] + g * TILE_TOK * arb[i];
            const int cnt = int(std::min<int64_t>(TILE_TOK, n_tok - g * TILE_TOK));
            uint8_t *dst = act + gbase[i] + g * gbytes[i];
            if (kinds[i] == ActKind::Q8_K)
                pack_group_q8_K(src, arb[i], cnt, n_in, reinterpret_cast<GroupQ8_K *>(dst));
            else if (kinds[i] == ActKind::Q8_1)
                pack_group_q8_1(src, arb[i], cnt, n_in, reinterpret_cast<GroupQ8_1 *>(dst));
            else
                pack_group_q8_0(src, arb[i], cnt, n_in, reinterpret_cast<GroupQ8_0 *>(dst));
        });

    Job jobs[MAX_MULTI];
    int64_t n_tasks = 0;
    const int64_t n_tt = (n_tok + TOKENS_PER_TILE - 1) / TOKENS_PER_TILE;
    int64_t total_rows = 0;
    for (int32_t j = 0; j < n; ++j) total_rows += n_rows(w[j]);
    for (int32_t j = 0; j < n; ++j) {
        Job &b = jobs[j];
        b.wt = w[j]->type;
        b.widen = b.wt == LLM4ALL_TYPE_F16 || b.wt == LLM4ALL_TYPE_BF16; // dot in float on a widened row
        b.dot_type = b.widen ? int32_t(LLM4ALL_TYPE_F32) : b.wt;
        b.gemv = use_gemv(b.wt, n_tok);
        b.tile = n_tok > 1 && !b.gemv && tile_supported(b.wt);
        b.wd = static_cast<const uint8_t *>(w[j]->data);
        b.wrb = type_row_bytes(b.wt, n_in);
        b.n_out = n_rows(w[j]);
        b.act = act + (b.tile ? gbase[kind_of[j]] : base[kind_of[j]]);
        b.y = static_cast<float *>(y[j]->data);
        if (b.gemv) {
            // A few row ranges per thread, in whole groups of rows (8 for one
            // token, GEMV_MULTI_ROWS for several); the kernels prefetch ahead, so
            // ranges need not be long, and about 8 tasks per thread keep the
            // thread that finishes last (or was descheduled on a shared machine)
            // from leaving the other idle long.
            const int64_t want = std::max<int64_t>(1, total_rows / (8 * int64_t(ctx->pool.size())));
            const int64_t group = n_tok == 1 ? 8 : GEMV_MULTI_ROWS;
            b.rows_per_task = std::max<int64_t>(16, (want + group - 1) / group * group);
            b.n_rt = (b.n_out + b.rows_per_task - 1) / b.rows_per_task;
            b.first_task = n_tasks;
            n_tasks += b.n_rt;
        } else {
            b.rows_per_task = ROWS_PER_TILE;
            b.n_rt = (b.n_out + ROWS_PER_TILE - 1) / ROWS_PER_TILE;
            b.first_task = n_tasks;
            n_tasks += b.n_rt * n_tt;
        }
    }
    ctx->pool.parallel_for(n_tasks, [&](int64_t task) {
        int j = n - 1;
        while (jobs[j].first_task > task) --j;
        const Job &b = jobs[j];
        const size_t stride = arb[kind_of[j]];
        task -= b.first_task;
        const int64_t r0 = (task % b.n_rt) * b.rows_per_task, r1 = std::min(b.n_out, r0 + b.rows_per_task);
        if (b.gemv) {
            if (n_tok == 1)
                gemv_rows(b.wt, b.wd + r0 * b.wrb, b.wrb, r1 - r0, b.act, n_in, b.y + r0);
            else
                gemv_rows_multi(b.wt, b.wd + r0 * b.wrb, b.wrb, r1 - r0, b.act, stride, int(n_tok), n_in, b.y + r0,
                                b.n_out);
            return;
        }
        // Neighbouring tasks share a token tile, so concurrently running threads
        // read the same activations while each streams its own weight rows.
        const int64_t t0 = (task / b.n_rt) * TOKENS_PER_TILE, t1 = std::min(n_tok, t0 + TOKENS_PER_TILE);
        if (b.tile) {
            const size_t gb = gbytes[kind_of[j]];
            float out[TILE_TOK * TILE_MAX_GROUPS];
            for (int64_t r = r0; r < r1; ++r)
                for (int64_t t = t0; t < t1; t += TILE_TOK * TILE_MAX_GROUPS) {
                    const int64_t nt = std::min<int64_t>(TILE_TOK * TILE_MAX_GROUPS, t1 - t);
                    tile_dot(b.wt, b.wd + r * b.wrb, b.act + (t / TILE_TOK) * gb, gb, int((nt + TILE_TOK - 1) / TILE_TOK),
                             n_in, out);
                    for (int64_t k = 0; k < nt; ++k) b.y[(t + k) * b.n_out + r] = out[k];
                }
            return;
        }
        if (b.dot_type == LLM4ALL_TYPE_F32) {
            // Float weights: GEMM_F32_ROWS rows (widened once for the whole token
            // tile) against 4 tokens per kernel call, so an activation load serves
            // several rows; every (row, token) sum is dot_f32's.
            thread_local std::vector<float> wide;
            if (b.widen && int64_t(wide.size()) < GEMM_F32_ROWS * n_in) wide.resize(size_t(GEMM_F32_ROWS) * n_in);
            float out[GEMM_F32_ROWS * GEMM_F32_TOK];
            for (int64_t r = r0; r < r1; r += GEMM_F32_ROWS) {
                const int nr = int(std::min<int64_t>(GEMM_F32_ROWS, r1 - r));
                const float *wrows[GEMM_F32_ROWS];
                for (int k = 0; k < nr; ++k) {
                    const uint8_t *wrow = b.wd + (r + k) * b.wrb;
                    if (b.widen) {
                        dequantize_row(b.wt, wrow, wide.data() + k * n_in, n_in);
                        wrows[k] = wide.data() + k * n_in;
                    } else {
                        wrows[k] = reinterpret_cast<const float *>(wrow);
                    }
                }
                for (int64_t t = t0; t < t1; t += GEMM_F32_TOK) {
                    const int nt = int(std::min<int64_t>(GEMM_F32_TOK, t1 - t));
                    gemm_f32_block(wrows, nr, b.act + t * stride, stride, nt, n_in, out, GEMM_F32_TOK);
                    for (int k = 0; k < nr; ++k)
                        for (int q = 0; q < nt; ++q) b.y[(t + q) * b.n_out + r + k] = out[k * GEMM_F32_TOK + q];
                }
            }
            return;
        }
        float out[DOT_MAX_TOK];
        for (int64_t r = r0; r < r1; ++r) {
            const void *wrow = b.wd + r * b.wrb;
            for (int64_t t = t0; t < t1; t += DOT_MAX_TOK) {
                const int nt = int(std::min<int64_t>(DOT_MAX_TOK, t1 - t));
                dot_rows(b.dot_type, wrow, b.act + t * stride, stride, nt, n_in, out);
                for (int k = 0; k < nt; ++k) b.y[(t + k) * b.n_out + r] = out[k];
            }
        }
    });
    return 0;
}
} // namespace

int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y) {
    return run(ctx, 1, &w, x, &y);
}

int32_t mul_mat_multi(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                      llm4all_tensor *const *y) {
    if (n > MAX_MULTI) {
        // More matrices than one phase takes: split, results are the same.
        for (int32_t j = 0; j < n; j += MAX_MULTI)
            if (int32_t rc = mul_mat_multi(ctx, std::min(MAX_MULTI, n - j), w + j, x, y + j)) return rc;
        return 0;
    }
    return run(ctx, n, w, x, y);
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
