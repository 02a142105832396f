// norm.cu — rms_norm and layer_norm, a block per row. As the CPU reference
// (backends/cpu/ops.cpp) does, the sums are taken in double and the scale applied
// before the weight (two roundings, like llama.cpp's norm then mul).
#include "kernels.h"

namespace llm4all::cu {

namespace {

constexpr int k_threads = 256;

// The sum of v over the block (every thread gets it).
__device__ double block_sum(double v) {
    __shared__ double part[k_threads / 32];
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();  // part may still be read by a previous call's last line
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    double s = 0.0;
    for (int i = 0; i < k_threads / 32; ++i) s += part[i];
    return s;
}

__global__ void rms_norm_kernel(const float *x, const float *w, float eps, float *y, int64_t n) {
    const float *xr = x + int64_t(blockIdx.x) * n;
    float *yr = y + int64_t(blockIdx.x) * n;
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += k_threads) sum += double(__fmul_rn(xr[i], xr[i]));
    sum = block_sum(sum);
    const float mean = float(sum / double(n));
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = threadIdx.x; i < n; i += k_threads) {
        const float t = __fmul_rn(xr[i], scale);  // rounded before the weight, never fused
        yr[i] = w ? t * w[i] : t;
    }
}

__global__ void layer_norm_kernel(const float *x, const float *w, const float *b, float eps, float *y, int64_t n) {
    const float *xr = x + int64_t(blockIdx.x) * n;
    float *yr = y + int64_t(blockIdx.x) * n;
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += k_threads) sum += xr[i];
    const float mean = float(block_sum(sum) / double(n));
    double var = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += k_threads) {
        const double d = double(xr[i] - mean);
        var += d * d;
    }
    var = block_sum(var);
    const float inv = float(1.0 / sqrt(var / double(n) + double(eps)));
    for (int64_t i = threadIdx.x; i < n; i += k_threads) {
        float t = __fmul_rn(xr[i] - mean, inv);
        if (w) t = __fmul_rn(t, w[i]);
        if (b) t += b[i];
        yr[i] = t;
    }
}

} // namespace

void launch_rms_norm(cudaStream_t s, const float *x, const float *w, float eps, float *y, int64_t n, int64_t rows) {
    rms_norm_kernel<<<unsigned(rows), k_threads, 0, s>>>(x, w, eps, y, n);
}

void launch_layer_norm(cudaStream_t s, const float *x, const float *w, const float *b, float eps, float *y, int64_t n,
                       int64_t rows) {
    layer_norm_kernel<<<unsigned(rows), k_threads, 0, s>>>(x, w, b, eps, y, n);
}

} // namespace llm4all::cu
