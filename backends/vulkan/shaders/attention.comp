// attention.comp — attention of one query row (token t, head h) over cache positions
// lo[t]..hi[t] (the host turns causal/window/span rules into these bounds), as the
// CPU backend defines it: scores q.k * scale, optional soft cap, softmax, weighted
// sum of v. Online softmax over chunks of 64 positions: each invocation scores one
// position of the chunk, the chunk's max and sum are reduced in shared memory, and
// each invocation accumulates head dims tid, tid+64, ... With an F16 K cache q is
// rounded to F16 first, as the CPU (and llama.cpp) do. K_F16 / V_F16 select the
// cache types. An empty range gives zeros. Grouped-query: kv head = h / group.
// SPLIT=1 (decoding over a long cache, few query rows): workgroup (t, h, s) takes
// the s-th of n_split slices of the range and writes its partial softmax (max m,
// sum l, unnormalised output) to o at ((t * n_head + h) * n_split + s) * (hd + 2);
// attention_merge.comp combines the slices.
#version 450
#include "common.glsl"
#define WG 64u
#define MAX_HD 512u
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer Q { float q[]; };
#ifdef K_F16
layout(set = 0, binding = 1) readonly buffer K { uint k[]; };
#define K_AT(e) f16_to_f32(HALF_AT(k, (e)))
#else
layout(set = 0, binding = 1) readonly buffer K { float k[]; };
#define K_AT(e) k[e]
#endif
#ifdef V_F16
layout(set = 0, binding = 2) readonly buffer V { uint v[]; };
#define V_AT(e) f16_to_f32(HALF_AT(v, (e)))
#else
layout(set = 0, binding = 2) readonly buffer V { float v[]; };
#define V_AT(e) v[e]
#endif
layout(set = 0, binding = 3) readonly buffer R { int range_[]; };  // lo[0..n_tok), hi[0..n_tok)
layout(set = 0, binding = 4) writeonly buffer O { float o[]; };
layout(push_constant) uniform P {
    uint hd, n_head, n_head_kv, n_tok, q_off, k_off, v_off, o_off;
    float scale, softcap;
    uint n_split, slice;  // SPLIT: slices per row and positions per slice
} p;

shared float qs[MAX_HD];
shared float ps[WG];
shared float red[WG];

float reduce_max(float x) {
    const uint t = gl_LocalInvocationID.x;
    red[t] = x;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) red[t] = max(red[t], red[t + s]);
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}
float reduce_sum(float x) {
    const uint t = gl_LocalInvocationID.x;
    red[t] = x;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) red[t] += red[t + s];
        barrier();
    }
    const float r = red[0];
    barrier();
    return r;
}

void main() {
#ifdef SPLIT
    const uint gs = flat_group();
    if (gs >= p.n_tok * p.n_head * p.n_split) return;  // uniform per workgroup
    const uint g = gs / p.n_split, split = gs % p.n_split;
#else
    const uint g = flat_group();
    if (g >= p.n_tok * p.n_head) return;  // uniform per workgroup
#endif
    const uint t = g / p.n_head, h = g % p.n_head, tid = gl_LocalInvocationID.x;
    const uint hk = h / (p.n_head / p.n_head_kv), hd = p.hd, stride = p.n_head_kv * hd;
    const uint qb = p.q_off + (t * p.n_head + h) * hd;
    for (uint i = tid; i < hd; i += WG) {
#ifdef K_F16
        qs[i] = f16_to_f32(f32_to_f16(q[qb + i]));
#else
        qs[i] = q[qb + i];
#endif
    }
    barrier();
#ifdef SPLIT
    const int lo = range_[t] + int(split * p.slice), hi = min(range_[p.n_tok + t], lo + int(p.slice) - 1);
#else
    const int lo = range_[t], hi = range_[p.n_tok + t];
#endif
    float acc[MAX_HD / WG];
    for (uint c = 0u; c < MAX_HD / WG; ++c) acc[c] = 0.0;
    float m = -1.0 / 0.0, l = 0.0;
    for (int j0 = lo; j0 <= hi; j0 += int(WG)) {
        const int j = j0 + int(tid);
        float s = -1.0 / 0.0;
        if (j <= hi) {
            const uint kb = p.k_off + uint(j) * stride + hk * hd;
            float d = 0.0;
            for (uint i = 0u; i < hd; ++i) d = fma(qs[i], K_AT(kb + i), d);
            s = d * p.scale;
            if (p.softcap > 0.0) s = p.softcap * tanh(s / p.softcap);
        }
        const float mx = max(m, reduce_max(s));
        const float e = j <= hi ? exp(s - mx) : 0.0;
        ps[tid] = e;
        const float sum = reduce_sum(e);  // its barriers also publish ps
        const float corr = exp(m - mx);    // 0 on the first chunk (m = -inf)
        l = l * corr + sum;
        m = mx;
        const int n = min(int(WG), hi - j0 + 1);
        for (uint c = 0u; c < MAX_HD / WG; ++c) {
            const uint i = tid + c * WG;
            if (i >= hd) break;
            float a = acc[c] * corr;
            for (int jj = 0; jj < n; ++jj) a = fma(ps[jj], V_AT(p.v_off + uint(j0 + jj) * stride + hk * hd + i), a);
            acc[c] = a;
        }
        barrier();  // ps is rewritten by the next chunk
    }
#ifdef SPLIT
    const uint ob = p.o_off + gs * (hd + 2u);
    if (tid == 0u) {
        o[ob] = m;
        o[ob + 1u] = l;  // 0: no positions in this slice
    }
    for (uint c = 0u; c < MAX_HD / WG; ++c) {
        const uint i = tid + c * WG;
        if (i < hd) o[ob + 2u + i] = acc[c];
    }
#else
    const float inv = l > 0.0 ? 1.0 / l : 0.0;
    const uint ob = p.o_off + (t * p.n_head + h) * hd;
    for (uint c = 0u; c < MAX_HD / WG; ++c) {
        const uint i = tid + c * WG;
        if (i < hd) o[ob + i] = acc[c] * inv;
    }
#endif
}
