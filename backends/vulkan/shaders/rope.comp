// rope.comp — rotary position embedding in place, arithmetic as the CPU backend's
// rope_ext: pair i of token t turns by freq_scale * theta_i / ff[i], with theta_i
// built by i repeated float multiplications of pos[t] by theta_scale (the host
// computes theta_scale = base^(-2/n_rot) as the CPU does), cos/sin times mscale,
// and each output one fma of a rounded product. Normal mode rotates (2i, 2i+1),
// neox (i, i + n_rot/2). One workgroup per token; invocations over heads x pairs.
#version 450
#include "common.glsl"
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Pos { int pos[]; };
layout(set = 0, binding = 2) readonly buffer FF { float ff[]; };
layout(push_constant) uniform P {
    uint hd, n_head, n_tok, half_rot, x_off, neox, has_ff;
    float theta_scale, freq_scale, mscale;
} p;
void main() {
    const uint t = flat_group();
    if (t >= p.n_tok) return;
    const uint work = p.n_head * p.half_rot;
    for (uint k = gl_LocalInvocationID.x; k < work; k += 64u) {
        const uint h = k / p.half_rot, i = k % p.half_rot;
        precise float theta = float(pos[t]);
        for (uint j = 0u; j < i; ++j) theta *= p.theta_scale;
        precise float th = p.freq_scale * (p.has_ff != 0u ? theta / ff[i] : theta);
        // GLSL promises cos/sin accuracy only on [-pi, pi] (GPUs' hardware sine is poor
        // far outside it) and angles reach pos radians: reduce by 2 pi first, with 2 pi
        // in three parts (Cody-Waite: turns * 6.28125 is exact for turns < 2^16).
        const float turns = round(th * 0.15915494309189535);
        precise float r = fma(-turns, 6.28125, th);
        r = fma(-turns, 1.9353071693331003e-3, r);
        r = fma(-turns, 1.0253131677018246e-11, r);
        precise float c = cos(r) * p.mscale, s = sin(r) * p.mscale;
        const uint base = p.x_off + (t * p.n_head + h) * p.hd;
        const uint a = base + (p.neox != 0u ? i : 2u * i), b = base + (p.neox != 0u ? i + p.half_rot : 2u * i + 1u);
        const float x0 = x[a], x1 = x[b];
        precise float x1s = x1 * s, x1c = x1 * c;
        x[a] = fma(x0, c, -x1s);
        x[b] = fma(x0, s, x1c);
    }
}
