// norm.comp — rms_norm (default) or layer_norm (LAYER_NORM=1) of each row of n
// values: one workgroup per row, sums reduced in shared memory in F32 (the CPU
// sums in double; over rows of a few thousand values the difference is ~1e-7
// relative). Optional weight (has_w) and, for layer_norm, bias (has_b). y may be x.
#version 450
#include "common.glsl"
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer W { float w[]; };
layout(set = 0, binding = 2) readonly buffer B { float b[]; };
layout(set = 0, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n, rows, x_off, w_off, b_off, y_off, has_w, has_b; float eps; } p;
shared float red[256];

float row_sum(float v) {
    const uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1u) {
        if (t < s) red[t] += red[t + s];
        barrier();
    }
    const float r = red[0];
    barrier();  // red is reused by the next sum
    return r;
}

void main() {
    const uint r = flat_group();
    if (r >= p.rows) return;  // uniform across the workgroup
    const uint t = gl_LocalInvocationID.x, xb = p.x_off + r * p.n, yb = p.y_off + r * p.n;
#ifdef LAYER_NORM
    float s = 0.0;
    for (uint i = t; i < p.n; i += 256u) s += x[xb + i];
    const float mean = row_sum(s) / float(p.n);
    float q = 0.0;
    for (uint i = t; i < p.n; i += 256u) {
        const float d = x[xb + i] - mean;
        q += d * d;
    }
    const float inv = 1.0 / sqrt(row_sum(q) / float(p.n) + p.eps);
    for (uint i = t; i < p.n; i += 256u) {
        float v = (x[xb + i] - mean) * inv;
        if (p.has_w != 0u) v *= w[p.w_off + i];
        if (p.has_b != 0u) v += b[p.b_off + i];
        y[yb + i] = v;
    }
#else
    float s = 0.0;
    for (uint i = t; i < p.n; i += 256u) s += x[xb + i] * x[xb + i];
    const float scale = 1.0 / sqrt(row_sum(s) / float(p.n) + p.eps);
    for (uint i = t; i < p.n; i += 256u) {
        const float v = x[xb + i] * scale;
        y[yb + i] = p.has_w != 0u ? v * w[p.w_off + i] : v;
    }
#endif
}
