// add.metal — y = a + b over `total` values; b has one row of n values (broadcast over
// a's rows) when bcast is 1, else a's shape. y may be a. (vulkan/shaders/add.comp)
#include "common.h"
struct AddP { uint total, n, bcast, a_off, b_off, y_off; };
kernel void add(device const float *a [[buffer(0)]], device const float *b [[buffer(1)]],
                device float *y [[buffer(2)]], constant AddP &p [[buffer(3)]], KERNEL_GRID) {
    const uint i = flat_group(tg, ntg) * 256u + lid;
    if (i >= p.total) return;
    y[p.y_off + i] = a[p.a_off + i] + b[p.b_off + (p.bcast != 0u ? i % p.n : i)];
}
