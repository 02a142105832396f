// store_rows.comp — copies `total` F32 values into dst starting at element d_off:
// as F32, or (DST_F16=1) rounded to F16 (nearest even, as the CPU). An F16 dst is
// written a 32-bit word at a time; a word half outside the range keeps its value.
#version 450
#include "common.glsl"
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer S { float s[]; };
#ifdef DST_F16
layout(set = 0, binding = 1) buffer D { uint d[]; };
#else
layout(set = 0, binding = 1) writeonly buffer D { float d[]; };
#endif
layout(push_constant) uniform P { uint total, s_off, d_off; } p;
void main() {
    const uint i = flat_group() * 256u + gl_LocalInvocationID.x;
#ifdef DST_F16
    // Invocation i writes word w = (d_off >> 1) + i, i.e. halves 2w and 2w+1.
    const uint w = (p.d_off >> 1u) + i, h0 = 2u * w;
    if (h0 >= p.d_off + p.total) return;
    uint word = d[w];
    for (uint k = 0u; k < 2u; ++k) {
        const uint h = h0 + k;
        if (h >= p.d_off && h < p.d_off + p.total) {
            const uint bits = f32_to_f16(s[p.s_off + h - p.d_off]);
            word = (word & ~(0xffffu << (16u * k))) | (bits << (16u * k));
        }
    }
    d[w] = word;
#else
    if (i >= p.total) return;
    d[p.d_off + i] = s[p.s_off + i];
#endif
}
