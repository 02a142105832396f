#version 450
// mul_mat_mm.comp — y = W x for a batch of tokens (prefill): each workgroup owns a
// tile of MM_BM weight rows x MM_BN tokens and walks n_in MM_BK values at a time,
// dequantizing its weight tile into shared memory once for all MM_BN tokens (and
// staging the activations beside it); each thread then accumulates a 4x4 block of
// outputs in F32. One variant per weight type: -DTYPE_<T>=1 (dequant.glsl).
#extension GL_GOOGLE_include_directive : require

#ifndef MM_BM
#define MM_BM 64u
#endif
#ifndef MM_BN
#define MM_BN 32u
#endif
#define MM_BK 32u // divides every quant block (32 or 256), so a tile never splits a quad
// Each thread owns 4 consecutive rows x 4 consecutive tokens of the tile, read from
// shared memory as one vec4 of weights and one of activations per k: 2 loads per 16
// multiply-adds (lavapipe turns every shared load into a gather, GPUs like vec4 too).
#define MM_TR (MM_BM / 4u)
#define MM_WG (MM_TR * (MM_BN / 4u))

layout(local_size_x = MM_WG) in;

layout(set = 0, binding = 0) readonly buffer W { uint w_words[]; };
layout(set = 0, binding = 1) readonly buffer X { float x[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
    uint n_in, n_out, n_tok;
    uint w_byte, w_row_bytes;
    uint x_off, x_stride;
    uint y_off, y_stride;
} p;

#define DQ_WORDS w_words
#include "dequant.glsl"

shared vec4 ws[MM_BK][MM_BM / 4u]; // ws[k][r / 4][r % 4] = W[r0 + r][k0 + k]
shared vec4 xs[MM_BK][MM_BN / 4u]; // xs[k][t / 4][t % 4] = x[t0 + t][k0 + k]

void main() {
    const uint tid = gl_LocalInvocationID.x;
    const uint r0 = (gl_WorkGroupID.x + gl_WorkGroupID.z * gl_NumWorkGroups.x) * MM_BM;
    const uint t0 = gl_WorkGroupID.y * MM_BN;
    if (r0 >= p.n_out) return; // uniform per workgroup
    const uint tr = tid % MM_TR, tc = tid / MM_TR;

    vec4 acc[4]; // acc[j][i]: row 4 tr + i, token 4 tc + j
    for (uint j = 0u; j < 4u; ++j) acc[j] = vec4(0.0);

    for (uint k0 = 0u; k0 < p.n_in; k0 += MM_BK) {
        // Weight tile: MM_BM rows x MM_BK values in quads; the 8 threads of one row
        // read its consecutive bytes.
        for (uint m = 0u; m < (MM_BM * MM_BK / 4u) / MM_WG; ++m) {
            const uint qi = tid + m * MM_WG, row = qi / (MM_BK / 4u), kq = qi % (MM_BK / 4u);
            const uint e = k0 + 4u * kq;
            vec4 wv = vec4(0.0);
            if (r0 + row < p.n_out && e < p.n_in) wv = dq_row4(p.w_byte + (r0 + row) * p.w_row_bytes, e, p.n_in);
            for (uint c = 0u; c < 4u; ++c) ws[4u * kq + c][row >> 2u][row & 3u] = wv[c];
        }
        // Activation tile: MM_BN tokens x MM_BK values, consecutive threads on
        // consecutive values of one token.
        for (uint m = 0u; m < MM_BN * MM_BK / MM_WG; ++m) {
            const uint li = tid + m * MM_WG, tok = li / MM_BK, kk = li % MM_BK;
            float v = 0.0;
            if (t0 + tok < p.n_tok && k0 + kk < p.n_in) v = x[p.x_off + (t0 + tok) * p.x_stride + k0 + kk];
            xs[kk][tok >> 2u][tok & 3u] = v;
        }
        barrier();
        for (uint k = 0u; k < MM_BK; ++k) {
            const vec4 a = ws[k][tr], b = xs[k][tc];
            acc[0] += a * b.x;
            acc[1] += a * b.y;
            acc[2] += a * b.z;
            acc[3] += a * b.w;
        }
        barrier();
    }

    for (uint j = 0u; j < 4u; ++j) {
        const uint t = t0 + 4u * tc + j;
        if (t >= p.n_tok) break;
        for (uint i = 0u; i < 4u; ++i) {
            const uint r = r0 + 4u * tr + i;
            if (r < p.n_out) y[p.y_off + t * p.y_stride + r] = acc[j][i];
        }
    }
}
