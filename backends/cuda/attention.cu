// attention.cu — attention of new queries over the KV cache (F32 or F16): causal
// (attention), with a sliding window and soft cap (attention_ext), or over explicit
// spans (attention_span, encoders). One warp per (token, head): the warp scores 32
// cache positions at once (a lane per position, the query in shared memory), folds
// them into an online softmax (running max, sum and output, as the CPU's flash-style
// loop), then accumulates their values with each lane owning head_dim / 32 dims.
#include <cuda_fp16.h>

#include "kernels.h"

namespace llm4all::cu {

namespace {

constexpr int k_per_lane = int(k_attention_max_hd / 32);

__device__ __forceinline__ float load(const void *p, bool f16, int64_t i) {
    return f16 ? __half2float(static_cast<const __half *>(p)[i]) : static_cast<const float *>(p)[i];
}

__global__ void attention_kernel(AttentionArgs a) {
    extern __shared__ float qs[];  // the query row, head_dim floats
    const int64_t t = blockIdx.x / a.n_head, h = blockIdx.x % a.n_head;
    const int lane = threadIdx.x;
    const int64_t hd = a.hd, hk = h / (a.n_head / a.n_head_kv), row_stride = a.n_head_kv * hd;
    const float *q = a.q + (t * a.n_head + h) * hd;
    for (int64_t i = lane; i < hd; i += 32) qs[i] = q[i];
    __syncwarp();

    int64_t lo, hi;  // the cache positions this query sees, inclusive
    if (a.pos) {
        const int64_t p = a.pos[t];
        hi = p < a.n_kv - 1 ? p : a.n_kv - 1;
        lo = a.n_swa > 0 ? p - a.n_swa + 1 : 0;
        if (lo < 0) lo = 0;
    } else {
        lo = a.first[t] > 0 ? a.first[t] : 0;
        hi = a.last[t] < a.n_kv - 1 ? a.last[t] : a.n_kv - 1;
    }

    float m = -INFINITY, l = 0.0f, acc[k_per_lane];
#pragma unroll
    for (int r = 0; r < k_per_lane; ++r) acc[r] = 0.0f;
    for (int64_t j0 = lo; j0 <= hi; j0 += 32) {
        const int64_t j = j0 + lane;
        float s = -INFINITY;
        if (j <= hi) {
            const int64_t base = j * row_stride + hk * hd;
            float d = 0.0f;
            for (int64_t i = 0; i < hd; ++i) d += qs[i] * load(a.k, a.k_f16, base + i);
            s = d * a.scale;
            if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
        }
        float mx = s;
#pragma unroll
        for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        const float m_new = fmaxf(m, mx);  // finite: position j0 <= hi is in this chunk
        const float corr = expf(m - m_new);  // 0 on the first chunk (m = -inf)
        const float p = j <= hi ? expf(s - m_new) : 0.0f;
        float ps = p;
#pragma unroll
        for (int o = 16; o > 0; o /= 2) ps += __shfl_xor_sync(0xffffffffu, ps, o);
        l = l * corr + ps;
        m = m_new;
        const int n = hi - j0 + 1 < 32 ? int(hi - j0 + 1) : 32;
#pragma unroll
        for (int r = 0; r < k_per_lane; ++r) acc[r] *= corr;
        for (int jj = 0; jj < n; ++jj) {
            const float pj = __shfl_sync(0xffffffffu, p, jj);
            const int64_t base = (j0 + jj) * row_stride + hk * hd;
#pragma unroll
            for (int r = 0; r < k_per_lane; ++r) {
                const int64_t i = lane + 32 * r;
                if (i < hd) acc[r] += pj * load(a.v, a.v_f16, base + i);
            }
        }
    }
    // An empty range (a window past the valid cache, an empty span) gives zeros.
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *o = a.out + (t * a.n_head + h) * hd;
#pragma unroll
    for (int r = 0; r < k_per_lane; ++r) {
        const int64_t i = lane + 32 * r;
        if (i < hd) o[i] = acc[r] * inv;
    }
}

} // namespace

void launch_attention(cudaStream_t s, const AttentionArgs &a) {
    const int64_t units = a.n_tok * a.n_head;
    if (units <= 0) return;
    attention_kernel<<<unsigned(units), 32, size_t(a.hd) * sizeof(float), s>>>(a);
}

} // namespace llm4all::cu
