// rope.metal — rotary position embedding in place, arithmetic as the CPU backend's
// rope_ext (backends/cpu/ops.cpp): pair i of token t turns by freq_scale * theta_i /
// ff[i], with theta_i built by i repeated float multiplications of pos[t] by
// theta_scale (the host computes theta_scale = base^(-2/n_rot) as the CPU does),
// cos/sin times mscale, and each output one fma of a rounded product:
// x0' = fma(x0, c, -(x1 s)), x1' = fma(x0, s, x1 c). Normal mode rotates (2i, 2i+1),
// neox (i, i + n_rot/2). One threadgroup (64 threads) per token; threads over
// heads x pairs. (vulkan/shaders/rope.comp)
#include "common.h"
struct RopeP {
    uint hd, n_head, n_tok, half_rot, x_off, neox, has_ff;
    float theta_scale, freq_scale, mscale;
};
kernel void rope(device float *x [[buffer(0)]], device const int *pos [[buffer(1)]],
                 device const float *ff [[buffer(2)]], constant RopeP &p [[buffer(3)]], KERNEL_GRID) {
    const uint t = flat_group(tg, ntg);
    if (t >= p.n_tok) return;
    const uint work = p.n_head * p.half_rot;
    for (uint k = lid; k < work; k += 64u) {
        const uint h = k / p.half_rot, i = k % p.half_rot;
        float theta = float(pos[t]);
        for (uint j = 0u; j < i; ++j) theta *= p.theta_scale;
        const float th = p.freq_scale * (p.has_ff != 0u ? theta / ff[i] : theta);
        // Angles reach pos radians: reduce by 2 pi first, with 2 pi in three parts
        // (Cody-Waite: turns * 6.28125 is exact for turns < 2^16), as the Vulkan
        // kernel does, so both GPU backends take sin/cos of the same small angle.
        const float turns = rint(th * 0.15915494309189535f);
        float r = fma(-turns, 6.28125f, th);
        r = fma(-turns, 1.9353071693331003e-3f, r);
        r = fma(-turns, 1.0253131677018246e-11f, r);
        const float c = precise::cos(r) * p.mscale, s = precise::sin(r) * p.mscale;
        const uint base = p.x_off + (t * p.n_head + h) * p.hd;
        const uint a = base + (p.neox != 0u ? i : 2u * i), b = base + (p.neox != 0u ? i + p.half_rot : 2u * i + 1u);
        const float x0 = x[a], x1 = x[b];
        const float x1s = x1 * s, x1c = x1 * c; // rounded products, as the CPU's
        x[a] = fma(x0, c, -x1s);
        x[b] = fma(x0, s, x1c);
    }
}
