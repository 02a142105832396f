// norm.metal — rms_norm (default) or layer_norm (LAYER_NORM=1) of each row of n
// values: one threadgroup (256 threads) per row, sums reduced in threadgroup memory
// in F32 (the CPU sums in double; over rows of a few thousand values the difference
// is ~1e-7 relative). Optional weight (has_w) and, for layer_norm, bias (has_b).
// y may be x. (vulkan/shaders/norm.comp)
#include "common.h"
struct NormP { uint n, rows, x_off, w_off, b_off, y_off, has_w, has_b; float eps; };

inline float row_sum(threadgroup float *red, uint t, float v) {
    red[t] = v;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint s = 128u; s > 0u; s >>= 1u) {
        if (t < s) red[t] += red[t + s];
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    const float r = red[0];
    threadgroup_barrier(mem_flags::mem_threadgroup); // red is reused by the next sum
    return r;
}

kernel void norm(device const float *x [[buffer(0)]], device const float *w [[buffer(1)]],
                 device const float *b [[buffer(2)]], device float *y [[buffer(3)]],
                 constant NormP &p [[buffer(4)]], KERNEL_GRID) {
    threadgroup float red[256];
    const uint r = flat_group(tg, ntg);
    if (r >= p.rows) return; // uniform across the threadgroup
    const uint t = lid, xb = p.x_off + r * p.n, yb = p.y_off + r * p.n;
#ifdef LAYER_NORM
    float s = 0.0f;
    for (uint i = t; i < p.n; i += 256u) s += x[xb + i];
    const float mean = row_sum(red, t, s) / float(p.n);
    float q = 0.0f;
    for (uint i = t; i < p.n; i += 256u) {
        const float d = x[xb + i] - mean;
        q += d * d;
    }
    const float inv = 1.0f / precise::sqrt(row_sum(red, t, q) / float(p.n) + p.eps);
    for (uint i = t; i < p.n; i += 256u) {
        float v = (x[xb + i] - mean) * inv;
        if (p.has_w != 0u) v *= w[p.w_off + i];
        if (p.has_b != 0u) v += b[p.b_off + i];
        y[yb + i] = v;
    }
#else
    float s = 0.0f;
    for (uint i = t; i < p.n; i += 256u) s += x[xb + i] * x[xb + i];
    const float scale = 1.0f / precise::sqrt(row_sum(red, t, s) / float(p.n) + p.eps);
    for (uint i = t; i < p.n; i += 256u) {
        const float v = x[xb + i] * scale;
        y[yb + i] = p.has_w != 0u ? v * w[p.w_off + i] : v;
    }
#endif
}
