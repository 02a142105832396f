// mul_mat_mm.cu — y = W x for many tokens (prefill): tiles of 64 output rows x 64
// tokens per block of 256 threads, stepping through the rows 32 values at a time;
// each step dequantizes the weight tile (dequant.cuh) and copies the token tile into
// shared memory, and every thread accumulates a 4 x 4 patch in F32. Our own kernel:
// cuBLAS is not used (its headers are not part of a plain toolkit install).
#include "dequant.cuh"
#include "kernels.h"

namespace llm4all::cu {

namespace {

constexpr int k_bm = 64, k_bn = 64, k_bk = 32, k_threads = 256;

template <int T>
__global__ void __launch_bounds__(k_threads) mul_mat_mm_kernel(const uint8_t *w, size_t row_bytes, const float *x,
                                                                float *y, int64_t n_in, int64_t n_out, int64_t n_tok) {
    // +1 column: threads reading one column of different rows hit different banks.
    __shared__ float ws[k_bm][k_bk + 1];
    __shared__ float xs[k_bn][k_bk + 1];
    const int tid = threadIdx.x;
    const int64_t m0 = int64_t(blockIdx.x) * k_bm, n0 = int64_t(blockIdx.y) * k_bn;
    // Loads: thread tid fills row (or token) tid / 4, values 8 * (tid % 4) .. +7 of the step.
    const int lr = tid / 4, lc = 8 * (tid % 4);
    // Compute: rows tr + 16 i (consecutive threads, consecutive rows: coalesced stores), tokens tc + 16 j.
    const int tr = tid % 16, tc = tid / 16;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < n_in; k0 += k_bk) {
        float v[8];
        const int64_t row = m0 + lr, e = k0 + lc;
        if (row < n_out && e < n_in) {
            row8<T>(w + row * row_bytes, e, n_in, v);
        } else {
#pragma unroll
            for (int k = 0; k < 8; ++k) v[k] = 0.0f;
        }
#pragma unroll
        for (int k = 0; k < 8; ++k) ws[lr][lc + k] = v[k];
        const int64_t tok = n0 + lr;
#pragma unroll
        for (int k = 0; k < 8; ++k) xs[lr][lc + k] = tok < n_tok && e + k < n_in ? x[tok * n_in + e + k] : 0.0f;
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < k_bk; ++k) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) a[i] = ws[tr + 16 * i][k];
#pragma unroll
            for (int j = 0; j < 4; ++j) b[j] = xs[tc + 16 * j][k];
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
        const int64_t tok = n0 + tc + 16 * j;
        if (tok >= n_tok) continue;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int64_t row = m0 + tr + 16 * i;
            if (row < n_out) y[tok * n_out + row] = acc[i][j];
        }
    }
}

template <int T>
void run(cudaStream_t s, const void *w, size_t row_bytes, const float *x, float *y, int64_t n_in, int64_t n_out,
         int64_t n_tok) {
    const dim3 grid(unsigned((n_out + k_bm - 1) / k_bm), unsigned((n_tok + k_bn - 1) / k_bn));
    mul_mat_mm_kernel<T><<<grid, k_threads, 0, s>>>(static_cast<const uint8_t *>(w), row_bytes, x, y, n_in, n_out,
                                                    n_tok);
}

} // namespace

void launch_mul_mat_mm(cudaStream_t s, int32_t type, const void *w, size_t row_bytes, const float *x, float *y,
                       int64_t n_in, int64_t n_out, int64_t n_tok) {
    switch (type) {
#define LLM4ALL_CU_CASE(T) \
    case T: run<T>(s, w, row_bytes, x, y, n_in, n_out, n_tok); break;
        LLM4ALL_CU_WEIGHT_TYPES(LLM4ALL_CU_CASE)
#undef LLM4ALL_CU_CASE
    default: break;  // the caller checked the type
    }
}

} // namespace llm4all::cu
