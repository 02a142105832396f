// attention_merge.comp — combines the slices of attention.comp's SPLIT variant: for
// each query row (t, h) the partials (m_s, l_s, acc_s) of its n_split slices become
// out = sum_s acc_s exp(m_s - M) / sum_s l_s exp(m_s - M), M the largest m_s of the
// slices that saw any position (l_s > 0); no such slice gives zeros.
#version 450
#include "common.glsl"
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer Part { float part[]; };
layout(set = 0, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform P { uint hd, rows, n_split, part_off, o_off; } p;
void main() {
    const uint g = flat_group();
    if (g >= p.rows) return;
    const uint stride = p.hd + 2u, base = p.part_off + g * p.n_split * stride;
    float M = -1.0 / 0.0;
    for (uint s = 0u; s < p.n_split; ++s)
        if (part[base + s * stride + 1u] > 0.0) M = max(M, part[base + s * stride]);
    float L = 0.0;
    for (uint s = 0u; s < p.n_split; ++s) {
        const float l = part[base + s * stride + 1u];
        if (l > 0.0) L += l * exp(part[base + s * stride] - M);
    }
    const float inv = L > 0.0 ? 1.0 / L : 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.hd; i += 64u) {
        float a = 0.0;
        for (uint s = 0u; s < p.n_split; ++s) {
            const float l = part[base + s * stride + 1u];
            if (l > 0.0) a += part[base + s * stride + 2u + i] * exp(part[base + s * stride] - M);
        }
        o[p.o_off + g * p.hd + i] = a * inv;
    }
}
