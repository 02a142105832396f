// scale.metal — y = x * s over n elements (x and y may be the same memory).
// (vulkan/shaders/scale.comp)
#include "common.h"
struct ScaleP { uint n, x_off, y_off; float s; };
kernel void scale(device const float *x [[buffer(0)]], device float *y [[buffer(1)]],
                  constant ScaleP &p [[buffer(2)]], KERNEL_GRID) {
    const uint i = flat_group(tg, ntg) * 256u + lid;
    if (i >= p.n) return;
    y[p.y_off + i] = x[p.x_off + i] * p.s;
}
