// act.cu — element-wise ops: the gated FFN activations (swiglu, geglu with GELU's
// tanh approximation), exact GELU (erf), add with a one-row broadcast, and scale.
// Formulas as backends/cpu/ops.cpp writes them (geglu as x sigmoid(2z), GELU's erf
// by Abramowitz & Stegun 7.1.26), with CUDA's expf in place of the CPU's Cephes exp.
#include "kernels.h"

namespace llm4all::cu {

namespace {

constexpr int k_threads = 256;

unsigned blocks(int64_t n) { return unsigned((n + k_threads - 1) / k_threads); }
__device__ int64_t index() { return int64_t(blockIdx.x) * k_threads + threadIdx.x; }

__global__ void gated_kernel(const float *g, const float *u, float *y, int64_t n, float a, float c) {
    const int64_t i = index();
    if (i >= n) return;
    const float x = g[i];
    const float t = x * fmaf(c * x, x, 1.0f) * -a;
    y[i] = x * u[i] / (1.0f + expf(t));
}

__global__ void gelu_kernel(const float *x, float *y, int64_t n) {
    const int64_t i = index();
    if (i >= n) return;
    const float p = 0.3275911f, a1 = 0.254829592f, a2 = -0.284496736f, a3 = 1.421413741f, a4 = -1.453152027f,
                a5 = 1.061405429f, r2 = 0.70710678118654752f;
    const float xi = x[i], z = xi * r2, az = fabsf(z);
    const float t = 1.0f / fmaf(p, az, 1.0f);
    float poly = fmaf(a5, t, a4);
    poly = fmaf(poly, t, a3);
    poly = fmaf(poly, t, a2);
    poly = fmaf(poly, t, a1);
    poly *= t;
    const float erf_abs = -fmaf(poly, expf(-az * az), -1.0f);
    y[i] = (0.5f * xi) * (1.0f + copysignf(erf_abs, z));
}

__global__ void scale_kernel(const float *x, float k, float *y, int64_t n) {
    const int64_t i = index();
    if (i < n) y[i] = x[i] * k;
}

__global__ void add_kernel(const float *a, const float *b, float *y, int64_t n, int64_t n_b) {
    const int64_t i = index();
    if (i < n) y[i] = a[i] + b[i % n_b];
}

} // namespace

void launch_gated(cudaStream_t s, const float *gate, const float *up, float *y, int64_t n, float a, float c) {
    if (n > 0) gated_kernel<<<blocks(n), k_threads, 0, s>>>(gate, up, y, n, a, c);
}
void launch_gelu(cudaStream_t s, const float *x, float *y, int64_t n) {
    if (n > 0) gelu_kernel<<<blocks(n), k_threads, 0, s>>>(x, y, n);
}
void launch_scale(cudaStream_t s, const float *x, float k, float *y, int64_t n) {
    if (n > 0) scale_kernel<<<blocks(n), k_threads, 0, s>>>(x, k, y, n);
}
void launch_add(cudaStream_t s, const float *a, const float *b, float *y, int64_t n, int64_t n_b) {
    if (n > 0) add_kernel<<<blocks(n), k_threads, 0, s>>>(a, b, y, n, n_b);
}

} // namespace llm4all::cu
