// get_rows.cu — the embeddings lookup: y[i, :] = dequant(w[ids[i], :]) for every weight
// type (dequant.cuh); a thread per eight values of a row.
#include "dequant.cuh"
#include "kernels.h"

namespace llm4all::cu {

namespace {

constexpr int k_threads = 256;

template <int T>
__global__ void get_rows_kernel(const uint8_t *w, size_t row_bytes, const int32_t *ids, int64_t n, float *y) {
    const int64_t i = blockIdx.x;
    const int64_t e = (int64_t(blockIdx.y) * k_threads + threadIdx.x) * 8;
    if (e >= n) return;
    float v[8];
    row8<T>(w + int64_t(ids[i]) * row_bytes, e, n, v);
    float *yr = y + i * n + e;
#pragma unroll
    for (int k = 0; k < 8; ++k)
        if (e + k < n) yr[k] = v[k];
}

template <int T>
void run(cudaStream_t s, const void *w, size_t row_bytes, const int32_t *ids, int64_t n_ids, int64_t n, float *y) {
    const dim3 grid(unsigned(n_ids), unsigned((n + 8 * k_threads - 1) / (8 * k_threads)));
    get_rows_kernel<T><<<grid, k_threads, 0, s>>>(static_cast<const uint8_t *>(w), row_bytes, ids, n, y);
}

} // namespace

void launch_get_rows(cudaStream_t s, int32_t type, const void *w, size_t row_bytes, const int32_t *ids,
                     int64_t n_ids, int64_t n, float *y) {
    switch (type) {
#define LLM4ALL_CU_CASE(T) \
    case T: run<T>(s, w, row_bytes, ids, n_ids, n, y); break;
        LLM4ALL_CU_WEIGHT_TYPES(LLM4ALL_CU_CASE)
#undef LLM4ALL_CU_CASE
    default: break;  // the caller checked the type
    }
}

} // namespace llm4all::cu
