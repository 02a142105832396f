// gelu.comp — exact GELU, y = 0.5 x (1 + erf(x / sqrt 2)), with erf by Abramowitz &
// Stegun 7.1.26 (|error| <= 1.5e-7) as the CPU backend computes it. y may be x.
#version 450
#include "common.glsl"
layout(local_size_x = 256) in;
layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint total, x_off, y_off; } p;
void main() {
    const uint i = flat_group() * 256u + gl_LocalInvocationID.x;
    if (i >= p.total) return;
    const float v = x[p.x_off + i];
    const float z = v * 0.70710678118654752, az = abs(z);
    const float t = 1.0 / fma(0.3275911, az, 1.0);
    float poly = fma(1.061405429, t, -1.453152027);
    poly = fma(poly, t, 1.421413741);
    poly = fma(poly, t, -0.284496736);
    poly = fma(poly, t, 0.254829592);
    poly *= t;
    const float erf_abs = 1.0 - poly * exp(-az * az);
    y[p.y_off + i] = (0.5 * v) * (1.0 + (z < 0.0 ? -erf_abs : erf_abs));
}
