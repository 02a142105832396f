// scale.comp — y = x * s over n elements (x and y may be the same memory).
#version 450
#include "common.glsl"
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint n, x_off, y_off; float s; } p;
void main() {
    const uint i = flat_group() * 256u + gl_LocalInvocationID.x;
    if (i >= p.n) return;
    y[p.y_off + i] = x[p.x_off + i] * p.s;
}
