// gated.comp — the gated FFN activations as the CPU computes them:
// y = g u / (1 + exp(-a (g + c g^3))); SiLU (swiglu) is a = 1, c = 0; GELU-tanh
// (geglu) is a = 2 sqrt(2/pi), c = 0.044715. y may be g.
#version 450
#include "common.glsl"
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer G { float g[]; };
layout(set = 0, binding = 1) readonly buffer U { float u[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint total, g_off, u_off, y_off; float a, c; } p;
void main() {
    const uint i = flat_group() * 256u + gl_LocalInvocationID.x;
    if (i >= p.total) return;
    const float x = g[p.g_off + i];
    const float t = x * fma(p.c * x, x, 1.0) * -p.a;
    y[p.y_off + i] = x * u[p.u_off + i] / (1.0 + exp(t));
}
