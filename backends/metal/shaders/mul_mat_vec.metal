// mul_mat_vec.metal — y = W x for a few tokens (decode), vulkan/shaders/mul_mat_vec.comp
// in Metal: one threadgroup per MV_ROWS weight rows and up to MV_TOK tokens; its
// threads walk the rows 16 values at a time (neighbours read neighbouring bytes),
// each weight chunk dequantized once for all tokens, then a threadgroup-memory
// reduction. F32 accumulation of the dequantized weights against the F32 activations.
// Variants: TYPE_<T>=1 (dequant.h) for the weight type; MV_TOK=1 (one token,
// mul_mat_vec_<t>) or 8 (2..8 tokens, mul_mat_vecn_<t>). Threadgroup: MV_WG threads.
#include "common.h"
#include "dequant.h"

#ifndef MV_WG
#define MV_WG 32u
#endif
#ifndef MV_ROWS
#define MV_ROWS 8u
#endif
#ifndef MV_TOK
#define MV_TOK 1u
#endif

struct MatP {
    uint n_in, n_out, n_tok; // y[t * y_stride + r] for r < n_out, t < n_tok
    uint w_byte;             // byte offset of row 0 in w
    uint w_row_bytes;
    uint x_off, x_stride;    // in floats
    uint y_off, y_stride;
};

kernel void mul_mat_vec(device const uint *w [[buffer(0)]], device const float *x [[buffer(1)]],
                        device float *y [[buffer(2)]], constant MatP &p [[buffer(3)]], KERNEL_GRID) {
    threadgroup float red[MV_ROWS * MV_TOK][MV_WG];
    const uint tid = lid;
    // Row groups beyond 65535 spill into z (Gemma's 262144-row output matrix).
    const uint r0 = (tg.x + tg.z * ntg.x) * MV_ROWS;
    const uint t0 = tg.y * MV_TOK;
    if (r0 >= p.n_out) return; // uniform per threadgroup: no barrier is skipped by half of it
    const uint nt = min(MV_TOK, p.n_tok - t0);

    float acc[MV_ROWS][MV_TOK];
    for (uint i = 0u; i < MV_ROWS; ++i)
        for (uint t = 0u; t < MV_TOK; ++t) acc[i][t] = 0.0f;

#if defined(DQ_FLOAT)
    // Float weights: one quad per step; rows of any length (the last quad may be partial).
    for (uint e = 4u * tid; e < p.n_in; e += 4u * MV_WG) {
        float4 xv[MV_TOK];
        for (uint t = 0u; t < MV_TOK; ++t) {
            xv[t] = float4(0.0f);
            if (t < nt) {
                const uint xb = p.x_off + (t0 + t) * p.x_stride + e;
                for (uint c = 0u; c < 4u; ++c)
                    if (e + c < p.n_in) xv[t][c] = x[xb + c];
            }
        }
        for (uint i = 0u; i < MV_ROWS; ++i) {
            const uint r = min(r0 + i, p.n_out - 1u); // a missing last row recomputes one, never stored
            const float4 wv = dq_row4(w, p.w_byte + r * p.w_row_bytes, e, p.n_in);
            for (uint t = 0u; t < MV_TOK; ++t)
                if (t < nt) acc[i][t] += dot(wv, xv[t]);
        }
    }
#else
    // Quantized weights: 16 values (one scale group or a part of one) per step: the
    // scales unpacked once, the quants read 16 bytes at a time (dq_chunk); rows are
    // whole blocks, hence whole chunks.
    for (uint e0 = 16u * tid; e0 < p.n_in; e0 += 16u * MV_WG) {
        const uint j0 = e0 % DQ_QK;
        float4 xv[4][MV_TOK];
        for (uint c = 0u; c < 4u; ++c)
            for (uint t = 0u; t < MV_TOK; ++t) {
                xv[c][t] = float4(0.0f);
                if (t < nt) {
                    const uint xb = p.x_off + (t0 + t) * p.x_stride + e0 + 4u * c;
                    xv[c][t] = float4(x[xb], x[xb + 1u], x[xb + 2u], x[xb + 3u]);
                }
            }
        for (uint i = 0u; i < MV_ROWS; ++i) {
            const uint r = min(r0 + i, p.n_out - 1u); // a missing last row recomputes one, never stored
            const uint bb = p.w_byte + r * p.w_row_bytes + (e0 / DQ_QK) * DQ_BYTES;
            float4 wv[4];
            dq_chunk(w, bb, j0, dq_scale(w, bb, j0), wv);
            for (uint t = 0u; t < MV_TOK; ++t)
                if (t < nt) // uniform branch: decode pays for one token
                    acc[i][t] += dot(wv[0], xv[0][t]) + dot(wv[1], xv[1][t]) + dot(wv[2], xv[2][t]) + dot(wv[3], xv[3][t]);
        }
    }
#endif

    for (uint i = 0u; i < MV_ROWS; ++i)
        for (uint t = 0u; t < MV_TOK; ++t) red[i * MV_TOK + t][tid] = acc[i][t];
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint s = MV_WG / 2u; s > 0u; s >>= 1u) {
        if (tid < s)
            for (uint k = 0u; k < MV_ROWS * MV_TOK; ++k)
                if (k % MV_TOK < nt) red[k][tid] += red[k][tid + s];
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    for (uint k = tid; k < MV_ROWS * MV_TOK; k += MV_WG) {
        const uint i = k / MV_TOK, t = k % MV_TOK;
        if (r0 + i < p.n_out && t < nt) y[p.y_off + (t0 + t) * p.y_stride + r0 + i] = red[k][0];
    }
}
