// gelu.metal — exact GELU, y = 0.5 x (1 + erf(x / sqrt 2)), with erf by Abramowitz &
// Stegun 7.1.26 (|error| <= 1.5e-7) as the CPU backend computes it. y may be x.
// (vulkan/shaders/gelu.comp)
#include "common.h"
struct GeluP { uint total, x_off, y_off; };
kernel void gelu(device const float *x [[buffer(0)]], device float *y [[buffer(1)]],
                 constant GeluP &p [[buffer(2)]], KERNEL_GRID) {
    const uint i = flat_group(tg, ntg) * 256u + lid;
    if (i >= p.total) return;
    const float v = x[p.x_off + i];
    const float z = v * 0.70710678118654752f, az = abs(z);
    const float t = 1.0f / fma(0.3275911f, az, 1.0f);
    float poly = fma(1.061405429f, t, -1.453152027f);
    poly = fma(poly, t, 1.421413741f);
    poly = fma(poly, t, -0.284496736f);
    poly = fma(poly, t, 0.254829592f);
    poly *= t;
    const float erf_abs = 1.0f - poly * precise::exp(-az * az);
    y[p.y_off + i] = (0.5f * v) * (1.0f + (z < 0.0f ? -erf_abs : erf_abs));
}
