// mul_mat_mm.metal — y = W x for a batch of tokens (prefill), vulkan/shaders/
// mul_mat_mm.comp in Metal: each threadgroup owns a tile of MM_BM weight rows x MM_BN
// tokens and walks n_in MM_BK values at a time, dequantizing its weight tile into
// threadgroup memory once for all MM_BN tokens (and staging the activations beside
// it); each thread then accumulates a 4x4 block of outputs in F32. One variant per
// weight type: TYPE_<T>=1 (dequant.h). Threadgroup: MM_WG (128) threads.
#include "common.h"
#include "dequant.h"

#ifndef MM_BM
#define MM_BM 64u
#endif
#ifndef MM_BN
#define MM_BN 32u
#endif
#define MM_BK 32u // divides every quant block (32 or 256), so a tile never splits a quad
// Each thread owns 4 consecutive rows x 4 consecutive tokens of the tile, read from
// threadgroup memory as one float4 of weights and one of activations per k.
#define MM_TR (MM_BM / 4u)
#define MM_WG (MM_TR * (MM_BN / 4u))

struct MatP {
    uint n_in, n_out, n_tok;
    uint w_byte, w_row_bytes;
    uint x_off, x_stride;
    uint y_off, y_stride;
};

kernel void mul_mat_mm(device const uint *w [[buffer(0)]], device const float *x [[buffer(1)]],
                       device float *y [[buffer(2)]], constant MatP &p [[buffer(3)]], KERNEL_GRID) {
    threadgroup float4 ws[MM_BK][MM_BM / 4u]; // ws[k][r / 4][r % 4] = W[r0 + r][k0 + k]
    threadgroup float4 xs[MM_BK][MM_BN / 4u]; // xs[k][t / 4][t % 4] = x[t0 + t][k0 + k]
    const uint tid = lid;
    const uint r0 = (tg.x + tg.z * ntg.x) * MM_BM;
    const uint t0 = tg.y * MM_BN;
    if (r0 >= p.n_out) return; // uniform per threadgroup
    const uint tr = tid % MM_TR, tc = tid / MM_TR;

    float4 acc[4]; // acc[j][i]: row 4 tr + i, token 4 tc + j
    for (uint j = 0u; j < 4u; ++j) acc[j] = float4(0.0f);

    for (uint k0 = 0u; k0 < p.n_in; k0 += MM_BK) {
        // Weight tile: MM_BM rows x MM_BK values in quads; the 8 threads of one row
        // read its consecutive bytes.
        for (uint m = 0u; m < (MM_BM * MM_BK / 4u) / MM_WG; ++m) {
            const uint qi = tid + m * MM_WG, row = qi / (MM_BK / 4u), kq = qi % (MM_BK / 4u);
            const uint e = k0 + 4u * kq;
            float4 wv = float4(0.0f);
            if (r0 + row < p.n_out && e < p.n_in) wv = dq_row4(w, p.w_byte + (r0 + row) * p.w_row_bytes, e, p.n_in);
            for (uint c = 0u; c < 4u; ++c) ws[4u * kq + c][row >> 2u][row & 3u] = wv[c];
        }
        // Activation tile: MM_BN tokens x MM_BK values, consecutive threads on
        // consecutive values of one token.
        for (uint m = 0u; m < MM_BN * MM_BK / MM_WG; ++m) {
            const uint li = tid + m * MM_WG, tok = li / MM_BK, kk = li % MM_BK;
            float v = 0.0f;
            if (t0 + tok < p.n_tok && k0 + kk < p.n_in) v = x[p.x_off + (t0 + tok) * p.x_stride + k0 + kk];
            xs[kk][tok >> 2u][tok & 3u] = v;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint k = 0u; k < MM_BK; ++k) {
            const float4 a = ws[k][tr], b = xs[k][tc];
            acc[0] += a * b.x;
            acc[1] += a * b.y;
            acc[2] += a * b.z;
            acc[3] += a * b.w;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
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
