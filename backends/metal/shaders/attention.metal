// attention.metal — attention of one query row (token t, head h) over cache positions
// lo[t]..hi[t] (the host turns causal/window/span rules into these bounds), as the
// CPU backend defines it: scores q.k * scale, optional soft cap, softmax, weighted
// sum of v. Online softmax over chunks of 64 positions: each thread scores one
// position of the chunk, the chunk's max and sum are reduced in threadgroup memory,
// and each thread accumulates head dims tid, tid+64, ... With an F16 K cache q is
// rounded to F16 first, as the CPU (and llama.cpp) do. K_F16 / V_F16 select the
// cache types. An empty range gives zeros. Grouped-query: kv head = h / group.
// SPLIT=1 (decoding over a long cache, few query rows): threadgroup (t, h, s) takes
// the s-th of n_split slices of the range and writes its partial softmax (max m,
// sum l, unnormalised output) to o at ((t * n_head + h) * n_split + s) * (hd + 2);
// attention_merge.metal combines the slices. Threadgroup: 64 threads. (vulkan/shaders/attention.comp)
#include "common.h"
#define WG 64u
#define MAX_HD 512u
#ifdef K_F16
#define K_T half
#else
#define K_T float
#endif
#ifdef V_F16
#define V_T half
#else
#define V_T float
#endif
struct AttnP {
    uint hd, n_head, n_head_kv, n_tok, q_off, k_off, v_off, o_off;
    float scale, softcap;
    uint n_split, slice; // SPLIT: slices per row and positions per slice
};

inline float reduce_max(threadgroup float *red, uint t, float x) {
    red[t] = x;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) red[t] = max(red[t], red[t + s]);
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    const float r = red[0];
    threadgroup_barrier(mem_flags::mem_threadgroup);
    return r;
}
inline float reduce_sum(threadgroup float *red, uint t, float x) {
    red[t] = x;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) red[t] += red[t + s];
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    const float r = red[0];
    threadgroup_barrier(mem_flags::mem_threadgroup);
    return r;
}

kernel void attention(device const float *q [[buffer(0)]], device const K_T *k [[buffer(1)]],
                      device const V_T *v [[buffer(2)]], device const int *range_ [[buffer(3)]],
                      device float *o [[buffer(4)]], constant AttnP &p [[buffer(5)]], KERNEL_GRID) {
    threadgroup float qs[MAX_HD];
    threadgroup float ps[WG];
    threadgroup float red[WG];
#ifdef SPLIT
    const uint gs = flat_group(tg, ntg);
    if (gs >= p.n_tok * p.n_head * p.n_split) return; // uniform per threadgroup
    const uint g = gs / p.n_split, split = gs % p.n_split;
#else
    const uint g = flat_group(tg, ntg);
    if (g >= p.n_tok * p.n_head) return; // uniform per threadgroup
#endif
    const uint t = g / p.n_head, h = g % p.n_head, tid = lid;
    const uint hk = h / (p.n_head / p.n_head_kv), hd = p.hd, stride = p.n_head_kv * hd;
    const uint qb = p.q_off + (t * p.n_head + h) * hd;
    for (uint i = tid; i < hd; i += WG) {
#ifdef K_F16
        qs[i] = f16_to_f32(f32_to_f16(q[qb + i]));
#else
        qs[i] = q[qb + i];
#endif
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
#ifdef SPLIT
    const int lo = range_[t] + int(split * p.slice), hi = min(range_[p.n_tok + t], lo + int(p.slice) - 1);
#else
    const int lo = range_[t], hi = range_[p.n_tok + t];
#endif
    float acc[MAX_HD / WG];
    for (uint c = 0u; c < MAX_HD / WG; ++c) acc[c] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    for (int j0 = lo; j0 <= hi; j0 += int(WG)) {
        const int j = j0 + int(tid);
        float s = -INFINITY;
        if (j <= hi) {
            const uint kb = p.k_off + uint(j) * stride + hk * hd;
            float d = 0.0f;
            for (uint i = 0u; i < hd; ++i) d = fma(qs[i], float(k[kb + i]), d);
            s = d * p.scale;
            if (p.softcap > 0.0f) s = p.softcap * precise::tanh(s / p.softcap);
        }
        const float mx = max(m, reduce_max(red, tid, s));
        const float e = j <= hi ? precise::exp(s - mx) : 0.0f;
        ps[tid] = e;
        const float sum = reduce_sum(red, tid, e); // its barriers also publish ps
        const float corr = precise::exp(m - mx);   // 0 on the first chunk (m = -inf)
        l = l * corr + sum;
        m = mx;
        const int n = min(int(WG), hi - j0 + 1);
        for (uint c = 0u; c < MAX_HD / WG; ++c) {
            const uint i = tid + c * WG;
            if (i >= hd) break;
            float a = acc[c] * corr;
            for (int jj = 0; jj < n; ++jj) a = fma(ps[jj], float(v[p.v_off + uint(j0 + jj) * stride + hk * hd + i]), a);
            acc[c] = a;
        }
        threadgroup_barrier(mem_flags::mem_threadgroup); // ps is rewritten by the next chunk
    }
#ifdef SPLIT
    const uint ob = p.o_off + gs * (hd + 2u);
    if (tid == 0u) {
        o[ob] = m;
        o[ob + 1u] = l; // 0: no positions in this slice
    }
    for (uint c = 0u; c < MAX_HD / WG; ++c) {
        const uint i = tid + c * WG;
        if (i < hd) o[ob + 2u + i] = acc[c];
    }
#else
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const uint ob = p.o_off + (t * p.n_head + h) * hd;
    for (uint c = 0u; c < MAX_HD / WG; ++c) {
        const uint i = tid + c * WG;
        if (i < hd) o[ob + i] = acc[c] * inv;
    }
#endif
}
