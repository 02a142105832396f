// mul_mat_vec.cu — y = W x for a few tokens (decode): one warp per output row, its
// lanes walking the row eight values at a time, dequantizing the weights on the fly
// (dequant.cuh) and multiplying them with up to k_mmv_max_tok F32 token rows; the
// lanes' partial sums meet by warp shuffles. Accumulates in F32.
#include "dequant.cuh"
#include "kernels.h"

namespace llm4all::cu {

namespace {

constexpr int k_warps = 4;  // rows per block

template <int T>
__global__ void mul_mat_vec_kernel(const uint8_t *w, size_t row_bytes, const float *x, float *y, int64_t n_in,
                                   int64_t n_out, int n_tok) {
    const int64_t row = int64_t(blockIdx.x) * k_warps + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (row >= n_out) return;
    const uint8_t *wr = w + row * row_bytes;
    float acc[k_mmv_max_tok] = {};
    for (int64_t e = int64_t(lane) * 8; e < n_in; e += 32 * 8) {
        float v[8];
        row8<T>(wr, e, n_in, v);
        const int m = n_in - e < 8 ? int(n_in - e) : 8;  // float rows may end mid-chunk
#pragma unroll
        for (int t = 0; t < k_mmv_max_tok; ++t) {
            if (t >= n_tok) break;
            const float *xt = x + t * n_in + e;
            float s = 0.0f;
            if (m == 8) {
#pragma unroll
                for (int k = 0; k < 8; ++k) s += v[k] * xt[k];
            } else {
                for (int k = 0; k < m; ++k) s += v[k] * xt[k];
            }
            acc[t] += s;
        }
    }
#pragma unroll
    for (int t = 0; t < k_mmv_max_tok; ++t) {
        if (t >= n_tok) break;
        float s = acc[t];
#pragma unroll
        for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0) y[t * n_out + row] = s;
    }
}

template <int T>
void run(cudaStream_t s, const void *w, size_t row_bytes, const float *x, float *y, int64_t n_in, int64_t n_out,
         int64_t n_tok) {
    const unsigned blocks = unsigned((n_out + k_warps - 1) / k_warps);
    mul_mat_vec_kernel<T><<<blocks, 32 * k_warps, 0, s>>>(static_cast<const uint8_t *>(w), row_bytes, x, y, n_in,
                                                          n_out, int(n_tok));
}

} // namespace

void launch_mul_mat_vec(cudaStream_t s, int32_t type, const void *w, size_t row_bytes, const float *x, float *y,
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
