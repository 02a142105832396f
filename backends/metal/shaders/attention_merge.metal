// attention_merge.metal — combines the slices of attention.metal's SPLIT variant: for
// each query row (t, h) the partials (m_s, l_s, acc_s) of its n_split slices become
// out = sum_s acc_s exp(m_s - M) / sum_s l_s exp(m_s - M), M the largest m_s of the
// slices that saw any position (l_s > 0); no such slice gives zeros. Threadgroup:
// 64 threads. (vulkan/shaders/attention_merge.comp)
#include "common.h"
struct MergeP { uint hd, rows, n_split, part_off, o_off; };
kernel void attention_merge(device const float *part [[buffer(0)]], device float *o [[buffer(1)]],
                            constant MergeP &p [[buffer(2)]], KERNEL_GRID) {
    const uint g = flat_group(tg, ntg);
    if (g >= p.rows) return;
    const uint stride = p.hd + 2u, base = p.part_off + g * p.n_split * stride;
    float M = -INFINITY;
    for (uint s = 0u; s < p.n_split; ++s)
        if (part[base + s * stride + 1u] > 0.0f) M = max(M, part[base + s * stride]);
    float L = 0.0f;
    for (uint s = 0u; s < p.n_split; ++s) {
        const float l = part[base + s * stride + 1u];
        if (l > 0.0f) L += l * precise::exp(part[base + s * stride] - M);
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    for (uint i = lid; i < p.hd; i += 64u) {
        float a = 0.0f;
        for (uint s = 0u; s < p.n_split; ++s) {
            const float l = part[base + s * stride + 1u];
            if (l > 0.0f) a += part[base + s * stride + 2u + i] * precise::exp(part[base + s * stride] - M);
        }
        o[p.o_off + g * p.hd + i] = a * inv;
    }
}
