// store_rows.cu — copies F32 rows into a cache of F32 or F16 (round to nearest even,
// as the CPU's conversion).
#include <cuda_fp16.h>

#include "kernels.h"

namespace llm4all::cu {

namespace {

constexpr int k_threads = 256;

__global__ void store_rows_kernel(const float *src, void *dst, bool f16, int64_t n) {
    const int64_t i = int64_t(blockIdx.x) * k_threads + threadIdx.x;
    if (i >= n) return;
    if (f16)
        static_cast<__half *>(dst)[i] = __float2half_rn(src[i]);
    else
        static_cast<float *>(dst)[i] = src[i];
}

} // namespace

void launch_store_rows(cudaStream_t s, const float *src, void *dst, bool f16, int64_t n) {
    if (n > 0) store_rows_kernel<<<unsigned((n + k_threads - 1) / k_threads), k_threads, 0, s>>>(src, dst, f16, n);
}

} // namespace llm4all::cu
