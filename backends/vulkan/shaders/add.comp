// add.comp — y = a + b over `total` values; b has one row of n values (broadcast over
// a's rows) when bcast is 1, else a's shape. y may be a.
#version 450
#include "common.glsl"
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint total, n, bcast, a_off, b_off, y_off; } p;
void main() {
    const uint i = flat_group() * 256u + gl_LocalInvocationID.x;
    if (i >= p.total) return;
    y[p.y_off + i] = a[p.a_off + i] + b[p.b_off + (p.bcast != 0u ? i % p.n : i)];
}
