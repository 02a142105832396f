// rope.cu — rotary position embeddings (normal: adjacent pairs; neox: halves), with
// optional per-pair frequency factors and an mscale on cos and sin. The arithmetic
// is backends/cpu/ops.cpp's step by step: the angle of pair i is pos times
// theta_scale multiplied in i times (llama.cpp's repeated float multiplication),
// and each pair turns by fma(x0, c, -(x1 s)), fma(x0, s, x1 c).
#include "kernels.h"

namespace llm4all::cu {

namespace {

// A block per token; thread i handles pair i of every head.
__global__ void rope_kernel(float *x, const int32_t *pos, int64_t hd, int64_t n_head, int half, float theta_scale,
                            float freq_scale, bool neox, const float *ff, float mscale) {
    const int64_t t = blockIdx.x;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float theta = float(pos[t]);
        for (int k = 0; k < i; ++k) theta = __fmul_rn(theta, theta_scale);
        const float th = __fmul_rn(freq_scale, ff ? __fdiv_rn(theta, ff[i]) : theta);
        const float c = __fmul_rn(cosf(th), mscale), sn = __fmul_rn(sinf(th), mscale);
        const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        for (int64_t h = 0; h < n_head; ++h) {
            float *v = x + (t * n_head + h) * hd;
            const float x0 = v[a], x1 = v[b];
            v[a] = fmaf(x0, c, -__fmul_rn(x1, sn));
            v[b] = fmaf(x0, sn, __fmul_rn(x1, c));
        }
    }
}

} // namespace

void launch_rope(cudaStream_t s, float *x, const int32_t *pos, int64_t hd, int64_t n_head, int64_t n_tok, int n_rot,
                 float theta_scale, float freq_scale, bool neox, const float *freq_factors, float mscale) {
    const int half = n_rot / 2;
    const int threads = half < 128 ? (half + 31) / 32 * 32 : 128;
    rope_kernel<<<unsigned(n_tok), threads, 0, s>>>(x, pos, hd, n_head, half, theta_scale, freq_scale, neox,
                                                    freq_factors, mscale);
}

} // namespace llm4all::cu
