// gated.metal — the gated FFN activations as the CPU computes them:
// y = g u / (1 + exp(-a (g + c g^3))); SiLU (swiglu) is a = 1, c = 0; GELU-tanh
// (geglu) is a = 2 sqrt(2/pi), c = 0.044715. y may be g. (vulkan/shaders/gated.comp)
#include "common.h"
struct GatedP { uint total, g_off, u_off, y_off; float a, c; };
kernel void gated(device const float *g [[buffer(0)]], device const float *u [[buffer(1)]],
                  device float *y [[buffer(2)]], constant GatedP &p [[buffer(3)]], KERNEL_GRID) {
    const uint i = flat_group(tg, ntg) * 256u + lid;
    if (i >= p.total) return;
    const float x = g[p.g_off + i];
    const float t = x * fma(p.c * x, x, 1.0f) * -p.a;
    y[p.y_off + i] = x * u[p.u_off + i] / (1.0f + precise::exp(t));
}
