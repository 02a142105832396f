// test_cpu_backend.cpp — loads every CPU backend plugin that can run on this
// machine and checks each op against a plain double-precision reference on
// random data, then checks that the variants agree with each other.
// Plugins are looked up in LLM4ALL_PLUGIN_DIR, argv[1], or beside libllm4all.so.
#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "llm4all/backend.h"
#include "llm4all/llm4all.h"

#include "check.h"

namespace {



// ---- independent reference formats (written from the GGUF block definitions) --

float h2f(uint16_t h) { _Float16 v; std::memcpy(&v, &h, 2); return float(v); }
uint16_t f2h(float f) { _Float16 v = _Float16(f); uint16_t h; std::memcpy(&h, &v, 2); return h; }
float bf2f(uint16_t b) { uint32_t u = uint32_t(b) << 16; float f; std::memcpy(&f, &u, 4); return f; }
uint16_t f2bf(float f) { uint32_t u; std::memcpy(&u, &f, 4); return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16); }

struct TypeDesc { int32_t type; const char *name; int block; int bytes; };
const TypeDesc k_types[] = {
    {LLM4ALL_TYPE_F32, "F32", 1, 4},   {LLM4ALL_TYPE_F16, "F16", 1, 2},   {LLM4ALL_TYPE_BF16, "BF16", 1, 2},
    {LLM4ALL_TYPE_Q4_0, "Q4_0", 32, 18}, {LLM4ALL_TYPE_Q4_1, "Q4_1", 32, 20}, {LLM4ALL_TYPE_Q5_0, "Q5_0", 32, 22},
    {LLM4ALL_TYPE_Q5_1, "Q5_1", 32, 24}, {LLM4ALL_TYPE_Q8_0, "Q8_0", 32, 34},
    {LLM4ALL_TYPE_IQ4_NL, "IQ4_NL", 32, 18}, {LLM4ALL_TYPE_Q2_K, "Q2_K", 256, 84},
    {LLM4ALL_TYPE_Q3_K, "Q3_K", 256, 110}, {LLM4ALL_TYPE_Q4_K, "Q4_K", 256, 144},
    {LLM4ALL_TYPE_Q5_K, "Q5_K", 256, 176}, {LLM4ALL_TYPE_Q6_K, "Q6_K", 256, 210},
    {LLM4ALL_TYPE_IQ4_XS, "IQ4_XS", 256, 136},
};

// Types whose test blocks are random bytes (any bit pattern is a valid block)
// with the fp16 scales set to sane finite values, rather than quantized floats.
bool random_blocks(int32_t type) {
    return type == LLM4ALL_TYPE_IQ4_NL || type == LLM4ALL_TYPE_IQ4_XS ||
           (type >= LLM4ALL_TYPE_Q2_K && type <= LLM4ALL_TYPE_Q6_K);
}
// Values per activation quantization block: Q8_K (256) for the super-block types.
int act_block(const TypeDesc &t) { return t.block == 256 ? 256 : 32; }

// Quantizes one block of 32 (or one value) into out; the scheme only has to be
// valid, the reference dequantizer below defines what the bytes mean.
void quantize_block(int32_t type, const float *x, uint8_t *out) {
    auto put16 = [&](int off, uint16_t v) { std::memcpy(out + off, &v, 2); };
    float amax = 0, vmax = 0, mn = x[0], mx = x[0];
    for (int j = 0; j < 32 && type > LLM4ALL_TYPE_F16 && type != LLM4ALL_TYPE_BF16; ++j) {
        if (std::fabs(x[j]) > amax) { amax = std::fabs(x[j]); vmax = x[j]; }
        mn = std::min(mn, x[j]);
        mx = std::max(mx, x[j]);
    }
    switch (type) {
    case LLM4ALL_TYPE_F32: std::memcpy(out, x, 4); break;
    case LLM4ALL_TYPE_F16: put16(0, f2h(x[0])); break;
    case LLM4ALL_TYPE_BF16: put16(0, f2bf(x[0])); break;
    case LLM4ALL_TYPE_Q4_0: case LLM4ALL_TYPE_Q5_0: {
        const bool five = type == LLM4ALL_TYPE_Q5_0;
        const float d = vmax / (five ? -16.0f : -8.0f), id = d ? 1 / d : 0;
        put16(0, f2h(d));
        uint8_t *qs = out + (five ? 6 : 2);
        uint32_t qh = 0;
        std::memset(qs, 0, 16);
        for (int j = 0; j < 32; ++j) {
            int q = std::clamp(int(x[j] * id + (five ? 16.5f : 8.5f)), 0, five ? 31 : 15);
            qs[j % 16] |= uint8_t((q & 15) << (j < 16 ? 0 : 4));
            qh |= uint32_t(q >> 4) << j;
        }
        if (five) std::memcpy(out + 2, &qh, 4);
        break;
    }
    case LLM4ALL_TYPE_Q4_1: case LLM4ALL_TYPE_Q5_1: {
        const bool five = type == LLM4ALL_TYPE_Q5_1;
        const float d = (mx - mn) / (five ? 31.0f : 15.0f), id = d ? 1 / d : 0;
        put16(0, f2h(d));
        put16(2, f2h(mn));
        uint8_t *qs = out + (five ? 8 : 4);
        uint32_t qh = 0;
        std::memset(qs, 0, 16);
        for (int j = 0; j < 32; ++j) {
            int q = std::clamp(int((x[j] - mn) * id + 0.5f), 0, five ? 31 : 15);
            qs[j % 16] |= uint8_t((q & 15) << (j < 16 ? 0 : 4));
            qh |= uint32_t(q >> 4) << j;
        }
        if (five) std::memcpy(out + 4, &qh, 4);
        break;
    }
    case LLM4ALL_TYPE_Q8_0: {
        const float d = amax / 127, id = d ? 1 / d : 0;
        put16(0, f2h(d));
        for (int j = 0; j < 32; ++j) out[2 + j] = uint8_t(int8_t(std::lround(x[j] * id)));
        break;
    }
    }
}

// Reference dequantization with the same float operations as the gguf package.
void dequantize_block(int32_t type, const uint8_t *in, float *y) {
    auto get16 = [&](int off) { uint16_t v; std::memcpy(&v, in + off, 2); return v; };
    auto nib = [](const uint8_t *qs, int j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; };
    switch (type) {
    case LLM4ALL_TYPE_F32: std::memcpy(y, in, 4); break;
    case LLM4ALL_TYPE_F16: y[0] = h2f(get16(0)); break;
    case LLM4ALL_TYPE_BF16: y[0] = bf2f(get16(0)); break;
    case LLM4ALL_TYPE_Q4_0: { float d = h2f(get16(0)); for (int j = 0; j < 32; ++j) y[j] = d * float(nib(in + 2, j) - 8); break; }
    case LLM4ALL_TYPE_Q4_1: {
        float d = h2f(get16(0)), m = h2f(get16(2));
        for (int j = 0; j < 32; ++j) { volatile float p = d * float(nib(in + 4, j)); y[j] = p + m; }
        break;
    }
    case LLM4ALL_TYPE_Q5_0: {
        float d = h2f(get16(0)); uint32_t qh; std::memcpy(&qh, in + 2, 4);
        for (int j = 0; j < 32; ++j) y[j] = d * float((nib(in + 6, j) | int((qh >> j) & 1) << 4) - 16);
        break;
    }
    case LLM4ALL_TYPE_Q5_1: {
        float d = h2f(get16(0)), m = h2f(get16(2)); uint32_t qh; std::memcpy(&qh, in + 4, 4);
        for (int j = 0; j < 32; ++j) { volatile float p = d * float(nib(in + 8, j) | ((qh >> j) & 1) << 4); y[j] = p + m; }
        break;
    }
    case LLM4ALL_TYPE_Q8_0: { float d = h2f(get16(0)); for (int j = 0; j < 32; ++j) y[j] = float(int8_t(in[2 + j])) * d; break; }
    }
}

// Reference dequantization of the K-quant and IQ4 types, written from the GGUF
// block layouts, rounding like the gguf package: d*scale first, then *q, then -min.
const int8_t k_iq4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

void dequantize_block_k(int32_t type, const uint8_t *in, float *y) {
    auto h = [&](int off) { uint16_t v; std::memcpy(&v, in + off, 2); return h2f(v); };
    auto sub = [](float a, float b) { volatile float p = a; return p - b; }; // no fused multiply-add
    switch (type) {
    case LLM4ALL_TYPE_IQ4_NL:
        for (int j = 0; j < 32; ++j) y[j] = h(0) * float(k_iq4[(in[2 + j % 16] >> (j < 16 ? 0 : 4)) & 15]);
        break;
    case LLM4ALL_TYPE_Q2_K: { // scales[16] qs[64] d dmin
        const uint8_t *sc = in, *qs = in + 16;
        for (int j = 0; j < 256; ++j) {
            int q = (qs[(j / 128) * 32 + j % 32] >> ((j / 32) % 4 * 2)) & 3;
            y[j] = sub(h(80) * float(sc[j / 16] & 15) * float(q), h(82) * float(sc[j / 16] >> 4));
        }
        break;
    }
    case LLM4ALL_TYPE_Q3_K: { // hmask[32] qs[64] scales[12] d
        const uint8_t *hm = in, *qs = in + 32, *sc = in + 96;
        for (int j = 0; j < 256; ++j) {
            int k = j / 16;
            int s = (((sc[k % 8] >> (k < 8 ? 0 : 4)) & 15) | (((sc[8 + k % 4] >> (2 * (k / 4))) & 3) << 4)) - 32;
            int q = ((qs[(j / 128) * 32 + j % 32] >> ((j / 32) % 4 * 2)) & 3) - (((hm[j % 32] >> (j / 32)) & 1) ? 0 : 4);
            volatile float dl = h(108) * float(s);
            y[j] = dl * float(q);
        }
        break;
    }
    case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K: { // d dmin scales[12] (qh[32]) qs[128]
        const bool five = type == LLM4ALL_TYPE_Q5_K;
        const uint8_t *sc = in + 4, *qh = in + 16, *qs = in + (five ? 48 : 16);
        for (int j = 0; j < 256; ++j) {
            int c = j / 32, s, m;
            if (c < 4) { s = sc[c] & 63; m = sc[c + 4] & 63; }
            else { s = (sc[c + 4] & 15) | ((sc[c - 4] >> 6) << 4); m = (sc[c + 4] >> 4) | ((sc[c] >> 6) << 4); }
            int q = (qs[(c / 2) * 32 + j % 32] >> (c % 2 ? 4 : 0)) & 15;
            if (five) q |= ((qh[j % 32] >> c) & 1) << 4;
            volatile float dl = h(0) * float(s);
            y[j] = sub(dl * float(q), h(2) * float(m));
        }
        break;
    }
    case LLM4ALL_TYPE_Q6_K: { // ql[128] qh[64] scales[16] d
        const uint8_t *ql = in, *qh = in + 128;
        const int8_t *sc = reinterpret_cast<const int8_t *>(in + 192);
        for (int j = 0; j < 256; ++j) {
            int g = j / 128, r = j % 128;
            int q = (((ql[g * 64 + r % 64] >> (r < 64 ? 0 : 4)) & 15) | (((qh[g * 32 + r % 32] >> (2 * (r / 32))) & 3) << 4)) - 32;
            volatile float dl = h(208) * float(sc[j / 16]);
            y[j] = dl * float(q);
        }
        break;
    }
    case LLM4ALL_TYPE_IQ4_XS: { // d scales_h scales_l[4] qs[128]
        uint16_t sh; std::memcpy(&sh, in + 2, 2);
        for (int j = 0; j < 256; ++j) {
            int k = j / 32, r = j % 32;
            int s = (((in[4 + k / 2] >> (4 * (k % 2))) & 15) | (((sh >> (2 * k)) & 3) << 4)) - 32;
            volatile float dl = h(0) * float(s);
            y[j] = dl * float(k_iq4[(in[8 + 16 * k + r % 16] >> (r < 16 ? 0 : 4)) & 15]);
        }
        break;
    }
    }
}

std::mt19937 g_rng(1234);

// A random valid block: random bytes, fp16 scales in [1e-3, 1e-2] (mins too).
void random_block(const TypeDesc &t, uint8_t *out) {
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(1e-3f, 1e-2f);
    for (int i = 0; i < t.bytes; ++i) out[i] = uint8_t(byte(g_rng));
    auto put = [&](int off) { uint16_t v = f2h(scale(g_rng)); std::memcpy(out + off, &v, 2); };
    switch (t.type) {
    case LLM4ALL_TYPE_Q2_K: put(80); put(82); break;
    case LLM4ALL_TYPE_Q3_K: put(108); break;
    case LLM4ALL_TYPE_Q4_K: case LLM4ALL_TYPE_Q5_K: put(0); put(2); break;
    case LLM4ALL_TYPE_Q6_K: put(208); break;
    default: put(0); break; // IQ4_NL, IQ4_XS
    }
}

// The activation values llama.cpp's integer dots actually see, for weight types
// whose activations are Q8_0 (fp16 scale amax/127, round half away from zero) or
// Q8_K (float scale -max/127 from the signed extreme, round half to even);
// empty for other types. With them, dequantize-then-dot in double must match
// the backend to float rounding, a much sharper check than the error bound.
std::vector<double> emulate_activations(int32_t type, const float *x, int64_t n) {
    const bool q8k = type == LLM4ALL_TYPE_IQ4_XS || (type >= LLM4ALL_TYPE_Q2_K && type <= LLM4ALL_TYPE_Q6_K);
    const bool q80 = type == LLM4ALL_TYPE_Q4_0 || type == LLM4ALL_TYPE_Q5_0 || type == LLM4ALL_TYPE_Q8_0 ||
                     type == LLM4ALL_TYPE_IQ4_NL;
    if (!q8k && !q80) return {};
    std::vector<double> v(size_t(n), 0.0);
    const int bs = q8k ? 256 : 32;
    for (int64_t b = 0; b < n; b += bs) {
        float amax = 0, mx = 0;
        for (int j = 0; j < bs; ++j)
            if (std::fabs(x[b + j]) > amax) { amax = std::fabs(x[b + j]); mx = x[b + j]; }
        if (amax == 0) continue;
        if (q8k) {
            const float is = -127.0f / mx;
            for (int j = 0; j < bs; ++j) {
                volatile float prod = is * x[b + j];
                v[size_t(b + j)] = double(std::min(127.0f, std::nearbyint(prod))) * double(1.0f / is);
            }
        } else {
            const float d = amax / 127.0f, id = 1.0f / d;
            for (int j = 0; j < bs; ++j) {
                volatile float prod = x[b + j] * id;
                v[size_t(b + j)] = double(std::round(prod)) * double(h2f(f2h(d)));
            }
        }
    }
    return v;
}

struct Quantized { std::vector<uint8_t> bytes; std::vector<float> deq; };

Quantized quantize(const TypeDesc &t, const std::vector<float> &x) {
    Quantized q;
    const size_t nb = x.size() / t.block;
    q.bytes.resize(nb * t.bytes);
    q.deq.resize(x.size());
    for (size_t b = 0; b < nb; ++b) {
        if (random_blocks(t.type)) {
            random_block(t, &q.bytes[b * t.bytes]);
            dequantize_block_k(t.type, &q.bytes[b * t.bytes], &q.deq[b * t.block]);
            continue;
        }
        quantize_block(t.type, &x[b * t.block], &q.bytes[b * t.bytes]);
        dequantize_block(t.type, &q.bytes[b * t.bytes], &q.deq[b * t.block]);
    }
    return q;
}

llm4all_tensor tensor(void *data, int32_t type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
    llm4all_tensor t{};
    t.data = data;
    t.type = type;
    t.n_dims = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    t.ne[0] = ne0; t.ne[1] = ne1; t.ne[2] = ne2; t.ne[3] = 1;
    return t;
}

std::vector<float> randn(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (float &x : v) x = d(g_rng);
    return v;
}

struct Plugin { std::string file; const llm4all_backend_iface *be; llm4all_backend_ctx *ctx; };

// Results of every variant, to compare them afterwards: key -> (variant, values).
std::map<std::string, std::vector<std::pair<std::string, std::vector<float>>>> g_results;
// For mul_mat results: sum |w_i x_i| of each output, the scale that "relative" refers to.
std::map<std::string, std::vector<double>> g_magnitude;

void test_mul_mat(Plugin &p, const TypeDesc &t, int64_t n_in, int64_t n_out, int64_t n_tok) {
    const std::string what = std::string(p.be->variant) + " mul_mat " + t.name + " " + std::to_string(n_in) + "x" +
                             std::to_string(n_out) + " tok " + std::to_string(n_tok);
    std::vector<float> wf = randn(size_t(n_in * n_out), 0.5f), x = randn(size_t(n_in * n_tok));
    Quantized w = quantize(t, wf);
    std::vector<float> y(size_t(n_out * n_tok), NAN);
    llm4all_tensor tw = tensor(w.bytes.data(), t.type, n_in, n_out), tx = tensor(x.data(), LLM4ALL_TYPE_F32, n_in, n_tok),
                   ty = tensor(y.data(), LLM4ALL_TYPE_F32, n_out, n_tok);
    if (p.be->mul_mat(p.ctx, &tw, &tx, &ty) != 0) return check(false, what + ": returned an error");
    double worst = 0, worst_emulated = 0;
    std::vector<double> mags(y.size());
    for (int64_t tk = 0; tk < n_tok; ++tk) {
        const std::vector<double> xq = emulate_activations(t.type, &x[tk * n_in], n_in);
        for (int64_t o = 0; o < n_out; ++o) {
            const float *wr = &w.deq[o * n_in], *xr = &x[tk * n_in];
            double ref = 0, mag = 0, qerr = 0, ref_q = 0;
            for (int64_t i = 0; i < n_in; ++i) {
                ref += double(wr[i]) * xr[i];
                mag += std::fabs(double(wr[i]) * xr[i]);
                if (!xq.empty()) ref_q += double(wr[i]) * xq[size_t(i)];
            }
            mags[size_t(tk * n_out + o)] = mag;
            if (!xq.empty())
                worst_emulated = std::max(worst_emulated, std::fabs(double(y[tk * n_out + o]) - ref_q) / (1e-5 * mag + 1e-30));
            // Q8 activations: each x moves by at most half a step (amax/127/2) of its block.
            // Q8_K's scale is a plain float (no fp16 rounding), Q8_0's is rounded to fp16.
            const int ab = act_block(t);
            if (t.block >= 32)
                for (int64_t b = 0; b < n_in; b += ab) {
                    double amax = 0, wabs = 0, xabs = 0;
                    for (int j = 0; j < ab; ++j) {
                        amax = std::max(amax, double(std::fabs(xr[b + j])));
                        wabs += std::fabs(wr[b + j]);
                        xabs += std::fabs(xr[b + j]);
                    }
                    qerr += wabs * amax / 254.0 * 1.01 + (wabs + xabs) * amax * 1e-3;
                }
            const double rel = t.type == LLM4ALL_TYPE_F32 ? 1e-5 : t.type == LLM4ALL_TYPE_BF16 ? 8e-3 : 2e-3;
            const double tol = qerr + rel * mag + 1e-5;
            const double err = std::fabs(double(y[tk * n_out + o]) - ref);
            worst = std::max(worst, err / tol);
        }
    }
    check(worst <= 1.0, what + " (worst error/tolerance " + std::to_string(worst) + ")");
    if (!emulate_activations(t.type, x.data(), n_in).empty())
        check(worst_emulated <= 1.0, what + " matches the dot with llama.cpp's quantized activations within 1e-5 (worst " +
                                     std::to_string(worst_emulated) + " of that)");
    g_results[what.substr(what.find(' ') + 1)].push_back({p.be->variant, y});
    g_magnitude[what.substr(what.find(' ') + 1)] = mags;
}

void test_get_rows(Plugin &p, const TypeDesc &t) {
    const int64_t n = t.block == 256 ? 512 : 64, rows = 9;
    Quantized w = quantize(t, randn(size_t(n * rows)));
    std::vector<int32_t> ids = {3, 0, 8, 3, 5};
    std::vector<float> y(size_t(n) * ids.size());
    llm4all_tensor tw = tensor(w.bytes.data(), t.type, n, rows), ty = tensor(y.data(), LLM4ALL_TYPE_F32, n, int64_t(ids.size()));
    const std::string what = std::string(p.be->variant) + " get_rows " + t.name;
    if (p.be->get_rows(p.ctx, &tw, ids.data(), int64_t(ids.size()), &ty) != 0) return check(false, what + ": error");
    bool same = true;
    for (size_t i = 0; i < ids.size(); ++i)
        same &= std::memcmp(&y[i * n], &w.deq[size_t(ids[i]) * n], size_t(n) * 4) == 0;
    check(same, what + " is bit-exact");
    int32_t bad_id = int32_t(rows);
    check(p.be->get_rows(p.ctx, &tw, &bad_id, 1, &ty) != 0, what + " refuses an out-of-range id");
}

void test_small_ops(Plugin &p) {
    const std::string v = p.be->variant;
    // rms_norm
    {
        const int64_t n = 96, rows = 5;
        std::vector<float> x = randn(size_t(n * rows)), w = randn(size_t(n)), y(x.size());
        llm4all_tensor tx = tensor(x.data(), 0, n, rows), tw = tensor(w.data(), 0, n), ty = tensor(y.data(), 0, n, rows);
        bool ok = p.be->rms_norm(p.ctx, &tx, &tw, 1e-5f, &ty) == 0;
        for (int64_t r = 0; r < rows && ok; ++r) {
            double ss = 0;
            for (int64_t i = 0; i < n; ++i) ss += double(x[r * n + i]) * x[r * n + i];
            double s = 1.0 / std::sqrt(ss / n + 1e-5);
            for (int64_t i = 0; i < n; ++i) ok &= std::fabs(y[r * n + i] - x[r * n + i] * s * w[i]) <= 1e-5 * (1 + std::fabs(x[r * n + i] * s * w[i]));
        }
        check(ok, v + " rms_norm");
        g_results["rms_norm"].push_back({v, y});
    }
    // rope, both modes, partial rotation
    for (int32_t mode : {LLM4ALL_ROPE_NORMAL, LLM4ALL_ROPE_NEOX}) {
        const int64_t hd = 16, nh = 3, nt = 4;
        const int32_t n_rot = 12;
        const float base = 10000.0f, fscale = 0.5f;
        std::vector<int32_t> pos = {0, 1, 17, 300};
        std::vector<float> x = randn(size_t(hd * nh * nt)), y = x;
        llm4all_tensor ty = tensor(y.data(), 0, hd, nh, nt);
        bool ok = p.be->rope(p.ctx, &ty, pos.data(), n_rot, base, fscale, mode) == 0;
        for (int64_t t = 0; t < nt && ok; ++t)
            for (int64_t h = 0; h < nh; ++h) {
                const float *xs = &x[(t * nh + h) * hd];
                const float *ys = &y[(t * nh + h) * hd];
                for (int64_t i = 0; i < n_rot / 2; ++i) {
                    double th = pos[t] * double(fscale) * std::pow(double(base), -2.0 * i / n_rot);
                    int64_t a = mode == LLM4ALL_ROPE_NEOX ? i : 2 * i, b = mode == LLM4ALL_ROPE_NEOX ? i + n_rot / 2 : 2 * i + 1;
                    double ra = xs[a] * std::cos(th) - xs[b] * std::sin(th), rb = xs[a] * std::sin(th) + xs[b] * std::cos(th);
                    ok &= std::fabs(ys[a] - ra) < 2e-3 && std::fabs(ys[b] - rb) < 2e-3;
                }
                for (int64_t i = n_rot; i < hd; ++i) ok &= ys[i] == xs[i];
            }
        check(ok, v + " rope mode " + std::to_string(mode));
        g_results["rope" + std::to_string(mode)].push_back({v, y});
    }
    // attention, GQA, F32 and F16 caches, causal positions after a prefix
    for (int32_t ctype : {LLM4ALL_TYPE_F32, LLM4ALL_TYPE_F16}) {
        const int64_t hd = 32, nh = 4, nkv = 2, n_ctx = 40, nt = 3;
        const int32_t n_kv = 20;
        std::vector<int32_t> pos = {17, 18, 19};
        std::vector<float> q = randn(size_t(hd * nh * nt)), kf = randn(size_t(hd * nkv * n_ctx)), vf = randn(size_t(hd * nkv * n_ctx));
        std::vector<uint16_t> kh(kf.size()), vh(vf.size());
        for (size_t i = 0; i < kf.size(); ++i) {
            kh[i] = f2h(kf[i]); vh[i] = f2h(vf[i]);
            if (ctype == LLM4ALL_TYPE_F16) { kf[i] = h2f(kh[i]); vf[i] = h2f(vh[i]); }
        }
        void *kd = ctype == LLM4ALL_TYPE_F16 ? (void *)kh.data() : (void *)kf.data();
        void *vd = ctype == LLM4ALL_TYPE_F16 ? (void *)vh.data() : (void *)vf.data();
        std::vector<float> out(q.size(), NAN);
        llm4all_tensor tq = tensor(q.data(), 0, hd, nh, nt), tk = tensor(kd, ctype, hd, nkv, n_ctx),
                       tv = tensor(vd, ctype, hd, nkv, n_ctx), to = tensor(out.data(), 0, hd, nh, nt);
        const float scale = 1.0f / std::sqrt(float(hd));
        bool ok = p.be->attention(p.ctx, &tq, &tk, &tv, n_kv, pos.data(), scale, &to) == 0;
        const double tol = ctype == LLM4ALL_TYPE_F16 ? 3e-3 : 1e-4;
        for (int64_t t = 0; t < nt && ok; ++t)
            for (int64_t h = 0; h < nh; ++h) {
                const int64_t hk = h / (nh / nkv);
                std::vector<double> s(size_t(pos[t] + 1));
                double mx = -1e300, sum = 0;
                for (int64_t j = 0; j <= pos[t]; ++j) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; ++i) d += double(q[(t * nh + h) * hd + i]) * kf[(j * nkv + hk) * hd + i];
                    s[j] = d * scale;
                    mx = std::max(mx, s[j]);
                }
                for (double &e : s) { e = std::exp(e - mx); sum += e; }
                for (int64_t i = 0; i < hd; ++i) {
                    double r = 0;
                    for (int64_t j = 0; j <= pos[t]; ++j) r += s[j] / sum * vf[(j * nkv + hk) * hd + i];
                    ok &= std::fabs(out[(t * nh + h) * hd + i] - r) < tol;
                }
            }
        check(ok, v + " attention cache type " + std::to_string(ctype));
        g_results["attention" + std::to_string(ctype)].push_back({v, out});
    }
    // swiglu (in place) and add (broadcast and full)
    {
        const int64_t n = 50, rows = 3;
        std::vector<float> g = randn(size_t(n * rows), 3.0f), u = randn(g.size()), y = g;
        llm4all_tensor ty = tensor(y.data(), 0, n, rows), tu = tensor(u.data(), 0, n, rows);
        bool ok = p.be->swiglu(p.ctx, &ty, &tu, &ty) == 0;
        for (size_t i = 0; i < g.size() && ok; ++i) {
            double r = g[i] / (1.0 + std::exp(-double(g[i]))) * u[i];
            ok &= std::fabs(y[i] - r) <= 1e-5 * (1 + std::fabs(r));
        }
        check(ok, v + " swiglu");
        std::vector<float> b1 = randn(size_t(n)), a = randn(size_t(n * rows)), s = a;
        llm4all_tensor ts = tensor(s.data(), 0, n, rows), tb1 = tensor(b1.data(), 0, n), tfull = tensor(u.data(), 0, n, rows);
        ok = p.be->add(p.ctx, &ts, &tb1, &ts) == 0;
        for (size_t i = 0; i < a.size() && ok; ++i) ok &= s[i] == a[i] + b1[i % n];
        check(ok, v + " add broadcast");
        std::vector<float> s2(a.size());
        llm4all_tensor ta = tensor(a.data(), 0, n, rows), ts2 = tensor(s2.data(), 0, n, rows);
        ok = p.be->add(p.ctx, &ta, &tfull, &ts2) == 0;
        for (size_t i = 0; i < a.size() && ok; ++i) ok &= s2[i] == a[i] + u[i];
        check(ok, v + " add full");
    }
    // store_rows into F32 and F16 caches, and its bounds check
    {
        const int64_t n = 24, rows = 3, cap = 8;
        std::vector<float> src = randn(size_t(n * rows)), d32(size_t(n * cap), 7.0f);
        std::vector<uint16_t> d16(size_t(n * cap), 0);
        llm4all_tensor ts = tensor(src.data(), 0, n, rows), t32 = tensor(d32.data(), 0, n, cap),
                       t16 = tensor(d16.data(), LLM4ALL_TYPE_F16, n, cap);
        bool ok = p.be->store_rows(p.ctx, &ts, &t32, 4) == 0 && p.be->store_rows(p.ctx, &ts, &t16, 5) == 0;
        for (int64_t i = 0; i < n * cap && ok; ++i) {
            const int64_t r = i / n;
            ok &= d32[i] == (r >= 4 && r < 7 ? src[i - 4 * n] : 7.0f);
            ok &= d16[i] == (r >= 5 && r < 8 ? f2h(src[i - 5 * n]) : 0);
        }
        check(ok, v + " store_rows");
        check(p.be->store_rows(p.ctx, &ts, &t32, 6) != 0, v + " store_rows refuses rows past the end");
    }
}

// The ops encoders added (BERT, EmbeddingGemma): layer_norm with weight and bias,
// exact-erf gelu, and attention_span (each query over its own key range, no causal mask).
void test_encoder_ops(Plugin &p) {
    const std::string v = p.be->variant;
    if (p.be->size <= offsetof(llm4all_backend_iface, attention_span) || !p.be->layer_norm || !p.be->gelu ||
        !p.be->attention_span)
        return check(false, v + " has layer_norm/gelu/attention_span");
    {
        const int64_t n = 384, rows = 5;
        std::vector<float> x = randn(size_t(n * rows), 2.0f), w = randn(size_t(n)), b = randn(size_t(n)), y(x.size());
        for (float &e : x) e += 3.0f;   // a mean far from 0: the variance must not lose it
        llm4all_tensor tx = tensor(x.data(), 0, n, rows), ty = tensor(y.data(), 0, n, rows), tw = tensor(w.data(), 0, n),
                       tb = tensor(b.data(), 0, n);
        bool ok = p.be->layer_norm(p.ctx, &tx, &tw, &tb, 1e-12f, &ty) == 0;
        double worst = 0;
        for (int64_t r = 0; r < rows && ok; ++r) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < n; ++i) mean += x[r * n + i];
            mean /= n;
            for (int64_t i = 0; i < n; ++i) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
            const double inv = 1.0 / std::sqrt(var / n + 1e-12);
            for (int64_t i = 0; i < n; ++i)
                worst = std::max(worst, std::fabs(y[r * n + i] - ((x[r * n + i] - mean) * inv * w[i] + b[i])));
        }
        check(ok && worst < 2e-5, v + " layer_norm (max error " + std::to_string(worst) + ")");
        g_results["layer_norm"].push_back({v, y});
        std::vector<float> g = randn(size_t(n * rows), 3.0f), gy(g.size());
        llm4all_tensor tg = tensor(g.data(), 0, n, rows), tgy = tensor(gy.data(), 0, n, rows);
        ok = p.be->gelu(p.ctx, &tg, &tgy) == 0;
        worst = 0;
        for (size_t i = 0; i < g.size() && ok; ++i) {
            const double r = 0.5 * g[i] * (1.0 + std::erf(g[i] / std::sqrt(2.0)));
            worst = std::max(worst, std::fabs(gy[i] - r) / (1 + std::fabs(r)));
        }
        check(ok && worst < 1e-6, v + " gelu (max error " + std::to_string(worst) + ")");
        g_results["gelu"].push_back({v, gy});
    }
    // Ranges of every kind (whole sequence, symmetric window, empty) against a reference;
    // the causal range [0, pos] is exactly attention_ext's.
    {
        const int64_t hd = 32, nh = 4, nkv = 2, n = 45;
        std::vector<float> q = randn(size_t(hd * nh * n)), k = randn(size_t(hd * nkv * n)), vv = randn(size_t(hd * nkv * n));
        std::vector<int32_t> first(n), last(n), pos(n);
        for (int64_t t = 0; t < n; ++t) {
            first[t] = t % 3 == 0 ? 0 : int32_t(std::max<int64_t>(0, t - 7));
            last[t] = t % 3 == 0 ? int32_t(n - 1) : int32_t(std::min<int64_t>(n - 1, t + 7));
            pos[t] = int32_t(t);
        }
        first[4] = 10, last[4] = 9;   // empty: zeros
        std::vector<float> out(q.size(), NAN), causal(q.size(), NAN), ext(q.size(), NAN);
        llm4all_tensor tq = tensor(q.data(), 0, hd, nh, n), tk = tensor(k.data(), 0, hd, nkv, n),
                       tv = tensor(vv.data(), 0, hd, nkv, n), to = tensor(out.data(), 0, hd, nh, n),
                       tc = tensor(causal.data(), 0, hd, nh, n), te = tensor(ext.data(), 0, hd, nh, n);
        const float scale = 0.3f;
        bool ok = p.be->attention_span(p.ctx, &tq, &tk, &tv, int32_t(n), first.data(), last.data(), scale, &to) == 0;
        double worst = 0;
        for (int64_t t = 0; t < n && ok; ++t)
            for (int64_t h = 0; h < nh; ++h) {
                const int64_t hk = h / (nh / nkv);
                std::vector<double> sc(size_t(n), 0.0);
                double mx = -1e300, sum = 0;
                for (int64_t j = first[t]; j <= last[t]; ++j) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; ++i) d += double(q[(t * nh + h) * hd + i]) * k[(j * nkv + hk) * hd + i];
                    sc[j] = d * scale;
                    mx = std::max(mx, sc[j]);
                }
                for (int64_t j = first[t]; j <= last[t]; ++j) { sc[j] = std::exp(sc[j] - mx); sum += sc[j]; }
                for (int64_t i = 0; i < hd; ++i) {
                    double r = 0;
                    for (int64_t j = first[t]; j <= last[t]; ++j) r += sc[j] / sum * vv[(j * nkv + hk) * hd + i];
                    worst = std::max(worst, std::fabs(out[(t * nh + h) * hd + i] - r));
                }
            }
        check(ok && worst < 1e-5, v + " attention_span (max error " + std::to_string(worst) + ")");
        g_results["attention_span"].push_back({v, out});
        std::vector<int32_t> zero(n, 0);
        ok = p.be->attention_span(p.ctx, &tq, &tk, &tv, int32_t(n), zero.data(), pos.data(), scale, &tc) == 0 &&
             p.be->attention_ext(p.ctx, &tq, &tk, &tv, int32_t(n), pos.data(), scale, 0, 0.0f, &te) == 0;
        check(ok && std::memcmp(causal.data(), ext.data(), causal.size() * 4) == 0,
              v + " attention_span over [0, pos] is causal attention");
        check(p.be->attention_span(p.ctx, &tq, &tk, &tv, int32_t(n), nullptr, pos.data(), scale, &tc) != 0,
              v + " attention_span refuses missing ranges");
    }
}

// The ops Gemma 3 added: geglu, scale, attention_ext (sliding window, soft cap).
void test_gemma_ops(Plugin &p) {
    const std::string v = p.be->variant;
    if (!p.be->geglu || !p.be->scale || !p.be->attention_ext) return check(false, v + " has geglu/scale/attention_ext");
    {
        const int64_t n = 50, rows = 3;
        std::vector<float> g = randn(size_t(n * rows), 3.0f), u = randn(g.size()), y = g;
        llm4all_tensor ty = tensor(y.data(), 0, n, rows), tu = tensor(u.data(), 0, n, rows);
        bool ok = p.be->geglu(p.ctx, &ty, &tu, &ty) == 0;
        for (size_t i = 0; i < g.size() && ok; ++i) {
            const double x = g[i];
            const double r = 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))) * u[i];
            ok &= std::fabs(y[i] - r) <= 1e-5 * (1 + std::fabs(r));
        }
        check(ok, v + " geglu");
        g_results["geglu"].push_back({v, y});
        std::vector<float> x = randn(size_t(n * rows)), z(x.size());
        llm4all_tensor tx = tensor(x.data(), 0, n, rows), tz = tensor(z.data(), 0, n, rows);
        ok = p.be->scale(p.ctx, &tx, 25.298221f, &tz) == 0;
        for (size_t i = 0; i < x.size() && ok; ++i) ok &= z[i] == x[i] * 25.298221f;
        check(ok, v + " scale");
    }
    // Sliding window + soft cap against the reference; with neither, exactly attention().
    for (int32_t ctype : {LLM4ALL_TYPE_F32, LLM4ALL_TYPE_F16}) {
        const int64_t hd = 32, nh = 4, nkv = 2, n_ctx = 40, nt = 3;
        const int32_t n_kv = 20, n_swa = 5;
        const float softcap = 1.5f, scale = 0.5f;   // scores of a few units: the cap bends them
        std::vector<int32_t> pos = {17, 18, 19};
        std::vector<float> q = randn(size_t(hd * nh * nt)), kf = randn(size_t(hd * nkv * n_ctx)), vf = randn(size_t(hd * nkv * n_ctx));
        std::vector<uint16_t> kh(kf.size()), vh(vf.size());
        for (size_t i = 0; i < kf.size(); ++i) {
            kh[i] = f2h(kf[i]); vh[i] = f2h(vf[i]);
            if (ctype == LLM4ALL_TYPE_F16) { kf[i] = h2f(kh[i]); vf[i] = h2f(vh[i]); }
        }
        // With an F16 cache the op rounds q to F16 (as llama.cpp does); so does the reference.
        std::vector<float> qr = q;
        if (ctype == LLM4ALL_TYPE_F16) for (float &e : qr) e = h2f(f2h(e));
        void *kd = ctype == LLM4ALL_TYPE_F16 ? (void *)kh.data() : (void *)kf.data();
        void *vd = ctype == LLM4ALL_TYPE_F16 ? (void *)vh.data() : (void *)vf.data();
        std::vector<float> out(q.size(), NAN), plain(q.size(), NAN), ext0(q.size(), NAN);
        llm4all_tensor tq = tensor(q.data(), 0, hd, nh, nt), tk = tensor(kd, ctype, hd, nkv, n_ctx),
                       tv = tensor(vd, ctype, hd, nkv, n_ctx), to = tensor(out.data(), 0, hd, nh, nt),
                       tp = tensor(plain.data(), 0, hd, nh, nt), te = tensor(ext0.data(), 0, hd, nh, nt);
        bool ok = p.be->attention_ext(p.ctx, &tq, &tk, &tv, n_kv, pos.data(), scale, n_swa, softcap, &to) == 0;
        double worst = 0;
        for (int64_t t = 0; t < nt && ok; ++t)
            for (int64_t h = 0; h < nh; ++h) {
                const int64_t hk = h / (nh / nkv), first = pos[t] - n_swa + 1;
                std::vector<double> sc(size_t(pos[t] + 1));
                double mx = -1e300, sum = 0;
                for (int64_t j = first; j <= pos[t]; ++j) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; ++i) d += double(qr[(t * nh + h) * hd + i]) * kf[(j * nkv + hk) * hd + i];
                    sc[j] = softcap * std::tanh(d * scale / softcap);
                    mx = std::max(mx, sc[j]);
                }
                for (int64_t j = first; j <= pos[t]; ++j) { sc[j] = std::exp(sc[j] - mx); sum += sc[j]; }
                for (int64_t i = 0; i < hd; ++i) {
                    double r = 0;
                    for (int64_t j = first; j <= pos[t]; ++j) r += sc[j] / sum * vf[(j * nkv + hk) * hd + i];
                    worst = std::max(worst, std::fabs(out[(t * nh + h) * hd + i] - r));
                }
            }
        check(ok && worst < 1e-5, v + " attention_ext window+softcap cache type " + std::to_string(ctype) +
                                      " (max error " + std::to_string(worst) + ")");
        g_results["attention_ext" + std::to_string(ctype)].push_back({v, out});
        ok = p.be->attention(p.ctx, &tq, &tk, &tv, n_kv, pos.data(), scale, &tp) == 0 &&
             p.be->attention_ext(p.ctx, &tq, &tk, &tv, n_kv, pos.data(), scale, 0, 0.0f, &te) == 0;
        check(ok && std::memcmp(plain.data(), ext0.data(), plain.size() * 4) == 0,
              v + " attention_ext without window and cap is attention");
        check(std::memcmp(plain.data(), out.data(), plain.size() * 4) != 0, v + " the window changes the result");
        check(p.be->attention_ext(p.ctx, &tq, &tk, &tv, n_kv, pos.data(), scale, -1, 0.0f, &te) != 0 &&
                  p.be->attention_ext(p.ctx, &tq, &tk, &tv, n_kv, pos.data(), scale, 0, NAN, &te) != 0,
              v + " attention_ext refuses a negative window or a NaN cap");
    }
}

// The flash-style attention kernel over shapes that exercise its tiling: GQA groups
// of 1, 3 and 4 query heads per KV head, head sizes that are and are not multiples
// of 8, one token (split over the cache) and 70 tokens (several query tiles), up to
// 300 cached positions (several K/V blocks), a sliding window and a soft cap, F32 and
// F16 caches. Reference: the textbook two-pass softmax in double.
void test_attention_flash(Plugin &p) {
    const std::string v = p.be->variant;
    struct Case { int64_t hd, nh, nkv, nt; int32_t n_kv, n_swa; float softcap; };
    const Case cases[] = {
        {64, 9, 3, 1, 300, 0, 0.0f},   {64, 9, 3, 70, 300, 0, 0.0f}, {256, 4, 1, 1, 257, 0, 0.0f},
        {256, 4, 1, 70, 200, 64, 0.0f}, {40, 8, 8, 70, 130, 0, 2.0f}, {20, 6, 2, 1, 300, 100, 1.5f},
        {64, 14, 2, 70, 70, 0, 0.0f},
    };
    for (const Case &c : cases)
        for (int32_t ctype : {LLM4ALL_TYPE_F32, LLM4ALL_TYPE_F16}) {
            const int64_t n_ctx = c.n_kv + 5;
            std::vector<int32_t> pos(size_t(c.nt));
            for (int64_t t = 0; t < c.nt; ++t) pos[t] = int32_t(c.n_kv - c.nt + t);  // a prefix, then the new tokens
            std::vector<float> q = randn(size_t(c.hd * c.nh * c.nt)), kf = randn(size_t(c.hd * c.nkv * n_ctx)),
                               vf = randn(size_t(c.hd * c.nkv * n_ctx));
            std::vector<uint16_t> kh(kf.size()), vh(vf.size());
            for (size_t i = 0; i < kf.size(); ++i) {
                kh[i] = f2h(kf[i]); vh[i] = f2h(vf[i]);
                if (ctype == LLM4ALL_TYPE_F16) { kf[i] = h2f(kh[i]); vf[i] = h2f(vh[i]); }
            }
            std::vector<float> qr = q;
            if (ctype == LLM4ALL_TYPE_F16) for (float &e : qr) e = h2f(f2h(e));
            void *kd = ctype == LLM4ALL_TYPE_F16 ? (void *)kh.data() : (void *)kf.data();
            void *vd = ctype == LLM4ALL_TYPE_F16 ? (void *)vh.data() : (void *)vf.data();
            std::vector<float> out(q.size(), NAN);
            llm4all_tensor tq = tensor(q.data(), 0, c.hd, c.nh, c.nt), tk = tensor(kd, ctype, c.hd, c.nkv, n_ctx),
                           tv = tensor(vd, ctype, c.hd, c.nkv, n_ctx), to = tensor(out.data(), 0, c.hd, c.nh, c.nt);
            const float scale = 1.0f / std::sqrt(float(c.hd));
            bool ok = p.be->attention_ext(p.ctx, &tq, &tk, &tv, c.n_kv, pos.data(), scale, c.n_swa, c.softcap, &to) == 0;
            double worst = 0;
            for (int64_t t = 0; t < c.nt && ok; ++t)
                for (int64_t h = 0; h < c.nh; ++h) {
                    const int64_t hk = h / (c.nh / c.nkv), last = pos[t];
                    const int64_t first = c.n_swa > 0 ? std::max<int64_t>(0, last - c.n_swa + 1) : 0;
                    std::vector<double> sc(size_t(last + 1));
                    double mx = -1e300, sum = 0;
                    for (int64_t j = first; j <= last; ++j) {
                        double d = 0;
                        for (int64_t i = 0; i < c.hd; ++i)
                            d += double(qr[(t * c.nh + h) * c.hd + i]) * kf[(j * c.nkv + hk) * c.hd + i];
                        d *= scale;
                        sc[j] = c.softcap > 0 ? c.softcap * std::tanh(d / c.softcap) : d;
                        mx = std::max(mx, sc[j]);
                    }
                    for (int64_t j = first; j <= last; ++j) { sc[j] = std::exp(sc[j] - mx); sum += sc[j]; }
                    for (int64_t i = 0; i < c.hd; ++i) {
                        double r = 0;
                        for (int64_t j = first; j <= last; ++j) r += sc[j] / sum * vf[(j * c.nkv + hk) * c.hd + i];
                        const double e = std::fabs(out[(t * c.nh + h) * c.hd + i] - r);
                        worst = std::isnan(e) ? 1e30 : std::max(worst, e);
                    }
                }
            char name[160];
            std::snprintf(name, sizeof name, "attention_ext hd %lld heads %lld/%lld tokens %lld n_kv %d window %d cap %g type %d",
                          (long long)c.hd, (long long)c.nh, (long long)c.nkv, (long long)c.nt, c.n_kv, c.n_swa,
                          double(c.softcap), ctype);
            check(ok && worst < 1e-5, v + " " + name + " (max error " + std::to_string(worst) + ")");
            g_results[name].push_back({v, out});
        }
}

// Batch invariance: the result for one token must be the same bits whether it is
// computed alone (the single-token GEMV path), inside a batch of any size (tiles of
// 8 tokens, ragged tails, the 1-4 token dot kernels), in a mul_mat_multi phase, or
// with any thread count (which splits the rows differently). Chat sessions depend on
// it: prefix reuse decodes a cached prompt's last token alone. ctxs: 1, 2, 3 threads.
bool same_bits(const float *a, const float *b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

void test_mul_mat_batch_invariance(const llm4all_backend_iface *be, llm4all_backend_ctx *const ctxs[3],
                                   const TypeDesc &t) {
    const std::string v = be->variant;
    const int64_t n_in = t.block == 1 ? 96 : t.block == 256 ? 512 : 256, n_out = 43, n_max = 64;
    Quantized w = quantize(t, randn(size_t(n_in * n_out), 0.5f));
    std::vector<float> x = randn(size_t(n_in * n_max));
    llm4all_tensor tw = tensor(w.bytes.data(), t.type, n_in, n_out);
    // Reference: every token alone, one thread.
    std::vector<float> ref(size_t(n_out * n_max));
    for (int64_t k = 0; k < n_max; ++k) {
        llm4all_tensor tx = tensor(&x[k * n_in], LLM4ALL_TYPE_F32, n_in), ty = tensor(&ref[k * n_out], LLM4ALL_TYPE_F32, n_out);
        if (be->mul_mat(ctxs[0], &tw, &tx, &ty) != 0) return check(false, v + " mul_mat " + t.name + " alone: error");
    }
    int bad = 0;
    std::string first_bad;
    for (int c = 0; c < 3; ++c) {
        std::vector<int64_t> sizes;
        for (int64_t b = 1; b <= 20; ++b) sizes.push_back(b);
        sizes.push_back(n_max);
        for (int64_t b : sizes)
            for (int64_t off : {int64_t(0), n_max - b}) {  // batches at the start and at the end of x
                std::vector<float> y(size_t(n_out * b), NAN);
                llm4all_tensor tx = tensor(&x[off * n_in], LLM4ALL_TYPE_F32, n_in, b),
                               ty = tensor(y.data(), LLM4ALL_TYPE_F32, n_out, b);
                if (be->mul_mat(ctxs[c], &tw, &tx, &ty) != 0 || !same_bits(y.data(), &ref[off * n_out], y.size())) {
                    if (!bad++) first_bad = "batch " + std::to_string(b) + " at " + std::to_string(off) + ", " +
                                            std::to_string(c + 1) + " threads";
                }
            }
    }
    check(bad == 0, v + " mul_mat " + t.name + ": a token gives the same bits alone and in batches of 1..20 and 64, "
                            "1-3 threads (" + std::to_string(bad) + " differ" + (bad ? ", first: " + first_bad : "") + ")");
    // mul_mat_multi: the q/k/v and gate/up phases, one token and a batch.
    if (be->size > offsetof(llm4all_backend_iface, mul_mat_multi) && be->mul_mat_multi) {
        Quantized w2 = quantize(t, randn(size_t(n_in * 9), 0.5f));
        llm4all_tensor tw2 = tensor(w2.bytes.data(), t.type, n_in, 9);
        int bad_multi = 0;
        for (int64_t b : {int64_t(1), int64_t(13)}) {
            std::vector<float> y(size_t(n_out * b), NAN), y2(size_t(9 * b));
            llm4all_tensor tx = tensor(&x[0], LLM4ALL_TYPE_F32, n_in, b), ty = tensor(y.data(), LLM4ALL_TYPE_F32, n_out, b),
                           ty2 = tensor(y2.data(), LLM4ALL_TYPE_F32, 9, b);
            const llm4all_tensor *wp[2] = {&tw, &tw2};
            llm4all_tensor *yp[2] = {&ty, &ty2};
            if (be->mul_mat_multi(ctxs[1], 2, wp, &tx, yp) != 0 || !same_bits(y.data(), ref.data(), y.size())) ++bad_multi;
        }
        check(bad_multi == 0, v + " mul_mat_multi " + t.name + ": one token and a batch of 13 give the bits of mul_mat alone");
    }
}

// The same for attention: 70 new tokens after a 60-position prefix in one call, one
// by one, and in ragged splits, with 1-3 threads; F16 and F32 caches, GQA groups of
// 3, 4 and 7, a sliding window (blocks must stay on the cache's grid), a soft cap.
void test_attention_batch_invariance(const llm4all_backend_iface *be, llm4all_backend_ctx *const ctxs[3]) {
    const std::string v = be->variant;
    struct Case { int64_t hd, nh, nkv; int32_t n_swa; float softcap; };
    const Case cases[] = {{64, 9, 3, 0, 0.0f}, {256, 4, 1, 45, 0.0f}, {64, 14, 2, 0, 0.0f}, {40, 8, 8, 37, 2.0f}};
    const int64_t n_past = 60, n_new = 70, n_ctx = n_past + n_new;
    for (const Case &c : cases)
        for (int32_t ctype : {LLM4ALL_TYPE_F32, LLM4ALL_TYPE_F16}) {
            std::vector<float> q = randn(size_t(c.hd * c.nh * n_new)), kf = randn(size_t(c.hd * c.nkv * n_ctx)),
                               vf = randn(size_t(c.hd * c.nkv * n_ctx));
            std::vector<uint16_t> kh(kf.size()), vh(vf.size());
            for (size_t i = 0; i < kf.size(); ++i) { kh[i] = f2h(kf[i]); vh[i] = f2h(vf[i]); }
            void *kd = ctype == LLM4ALL_TYPE_F16 ? (void *)kh.data() : (void *)kf.data();
            void *vd = ctype == LLM4ALL_TYPE_F16 ? (void *)vh.data() : (void *)vf.data();
            llm4all_tensor tk = tensor(kd, ctype, c.hd, c.nkv, n_ctx), tv = tensor(vd, ctype, c.hd, c.nkv, n_ctx);
            const float scale = 1.0f / std::sqrt(float(c.hd));
            const int64_t row = c.hd * c.nh;
            // Attends tokens [t0, t0 + n) of the new ones in one call.
            auto run = [&](llm4all_backend_ctx *ctx, int64_t t0, int64_t n, float *out) {
                std::vector<int32_t> pos(static_cast<size_t>(n));
                for (int64_t i = 0; i < n; ++i) pos[i] = int32_t(n_past + t0 + i);
                llm4all_tensor tq = tensor(&q[t0 * row], 0, c.hd, c.nh, n), to = tensor(out, 0, c.hd, c.nh, n);
                return be->attention_ext(ctx, &tq, &tk, &tv, int32_t(n_past + t0 + n), pos.data(), scale, c.n_swa,
                                         c.softcap, &to) == 0;
            };
            std::vector<float> ref(q.size(), NAN);
            bool ok = run(ctxs[1], 0, n_new, ref.data());
            int bad = 0;
            const std::vector<std::vector<int64_t>> splits = {std::vector<int64_t>(n_new, 1), {1, 7, 20, 3, 8, 31},
                                                              {69, 1}, {33, 37}};
            for (int ci = 0; ci < 3 && ok; ++ci)
                for (const auto &sp : splits) {
                    std::vector<float> out(q.size(), NAN);
                    int64_t t0 = 0;
                    for (int64_t n : sp) {
                        ok = ok && run(ctxs[ci], t0, n, &out[t0 * row]);
                        t0 += n;
                    }
                    if (!same_bits(out.data(), ref.data(), out.size())) ++bad;
                }
            char name[160];
            std::snprintf(name, sizeof name, "attention_ext hd %lld heads %lld/%lld window %d cap %g type %d",
                          (long long)c.hd, (long long)c.nh, (long long)c.nkv, c.n_swa, double(c.softcap), ctype);
            check(ok && bad == 0, v + " " + name + ": each token gives the same bits in one call, one by one and in "
                                  "ragged splits, 1-3 threads (" + std::to_string(bad) + " of 12 runs differ)");
        }
}

std::string plugin_dir(int argc, char **argv) {
    if (const char *e = std::getenv("LLM4ALL_PLUGIN_DIR")) return e;
    if (argc > 1) return argv[1];
    Dl_info info{};
    if (dladdr(reinterpret_cast<void *>(&llm4all_abi_version), &info) && info.dli_fname) {
        std::string p = info.dli_fname;
        return p.substr(0, p.rfind('/'));
    }
    return ".";
}

} // namespace

// mul_mat_multi (appended to the ABI): several matrices of different types
// (so different activation kinds) applied to one input must give what separate
// mul_mat calls give, for one token (the GEMV path, with row counts that are
// not multiples of 4 or 8) and for several (the tiled path).
void test_mul_mat_multi(Plugin &p) {
    const std::string v = p.be->variant;
    if (p.be->size <= offsetof(llm4all_backend_iface, mul_mat_multi) || !p.be->mul_mat_multi)
        return check(false, v + " has mul_mat_multi");
    const TypeDesc *types[3] = {nullptr, nullptr, nullptr};
    for (const TypeDesc &t : k_types) {
        if (t.type == LLM4ALL_TYPE_Q4_K) types[0] = &t;
        if (t.type == LLM4ALL_TYPE_Q5_0) types[1] = &t;
        if (t.type == LLM4ALL_TYPE_Q6_K) types[2] = &t;
    }
    const int64_t n_in = 512, n_out[3] = {37, 130, 3};
    for (int64_t n_tok : {1, 5, 70}) {
        const std::string what = v + " mul_mat_multi Q4_K/Q5_0/Q6_K tok " + std::to_string(n_tok);
        std::vector<float> x = randn(size_t(n_in * n_tok));
        llm4all_tensor tx = tensor(x.data(), LLM4ALL_TYPE_F32, n_in, n_tok);
        std::vector<Quantized> ws;
        std::vector<std::vector<float>> ys(3), refs(3);
        llm4all_tensor tw[3], ty[3];
        for (int j = 0; j < 3; ++j) ws.push_back(quantize(*types[j], randn(size_t(n_in * n_out[j]), 0.5f)));
        for (int j = 0; j < 3; ++j) {
            ys[j].assign(size_t(n_out[j] * n_tok), NAN);
            refs[j].assign(size_t(n_out[j] * n_tok), NAN);
            tw[j] = tensor(ws[j].bytes.data(), types[j]->type, n_in, n_out[j]);
            llm4all_tensor tr = tensor(refs[j].data(), LLM4ALL_TYPE_F32, n_out[j], n_tok);
            if (p.be->mul_mat(p.ctx, &tw[j], &tx, &tr) != 0) return check(false, what + ": mul_mat returned an error");
            ty[j] = tensor(ys[j].data(), LLM4ALL_TYPE_F32, n_out[j], n_tok);
        }
        const llm4all_tensor *wp[3] = {&tw[0], &tw[1], &tw[2]};
        llm4all_tensor *yp[3] = {&ty[0], &ty[1], &ty[2]};
        if (p.be->mul_mat_multi(p.ctx, 3, wp, &tx, yp) != 0) return check(false, what + ": returned an error");
        // Row grouping may differ between the two calls, so allow float noise.
        double worst = 0;
        for (int j = 0; j < 3; ++j) {
            double scale = 0;
            for (float r : refs[j]) scale = std::max(scale, double(std::fabs(r)));
            for (size_t i = 0; i < ys[j].size(); ++i)
                worst = std::max(worst, std::fabs(double(ys[j][i]) - refs[j][i]) / (1e-5 * scale + 1e-30));
        }
        check(worst <= 1.0, what + " equals separate mul_mat calls (worst " + std::to_string(worst) + " of 1e-5)");
    }
    // Shape errors are reported, not crashes.
    std::vector<float> x(64), y(8);
    llm4all_tensor tx = tensor(x.data(), LLM4ALL_TYPE_F32, 64), ty = tensor(y.data(), LLM4ALL_TYPE_F32, 8);
    std::vector<float> wf(64 * 8);
    llm4all_tensor tw = tensor(wf.data(), LLM4ALL_TYPE_F32, 32, 8);
    const llm4all_tensor *wp[1] = {&tw};
    llm4all_tensor *yp[1] = {&ty};
    check(p.be->mul_mat_multi(p.ctx, 1, wp, &tx, yp) != 0, v + " mul_mat_multi rejects mismatched shapes");
}

int main(int argc, char **argv) {
    const std::string dir = plugin_dir(argc, argv);
    std::vector<std::string> files;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d)) {
            std::string name = e->d_name;
            if (name.rfind("libllm4all-cpu-", 0) == 0 && name.size() > 3 && name.substr(name.size() - 3) == ".so")
                files.push_back(name);
        }
        closedir(d);
    }
    std::sort(files.begin(), files.end());
    check(!files.empty(), "CPU plugins found in " + dir);
    check(std::find(files.begin(), files.end(), "libllm4all-cpu-generic.so") != files.end(), "generic CPU plugin exists");

    std::vector<Plugin> plugins;
    for (const std::string &f : files) {
        void *h = dlopen((dir + "/" + f).c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) { check(false, "dlopen " + f + ": " + dlerror()); continue; }
        auto score = reinterpret_cast<llm4all_backend_score_fn>(dlsym(h, "llm4all_backend_score"));
        auto init = reinterpret_cast<llm4all_backend_init_fn>(dlsym(h, "llm4all_backend_init"));
        check(score && init, f + " exports score and init");
        if (!score || !init) continue;
        int32_t s = score();
        std::printf("%s: score %d\n", f.c_str(), s);
        if (s <= 0) continue;
        const llm4all_backend_iface *be = init(nullptr);
        check(be && be->api_version == LLM4ALL_BACKEND_API_VERSION && be->size == sizeof(llm4all_backend_iface),
              f + " table version and size");
        if (!be) continue;
        llm4all_device_info info{};
        check(be->device_count() == 1 && be->device_info(0, &info) && std::string(info.kind) == "cpu" &&
                  info.memory_total > 0,
              f + " device info");
        check(!be->supports(LLM4ALL_OP_MUL_MAT, LLM4ALL_TYPE_Q8_K) && !be->supports(LLM4ALL_OP_GET_ROWS, LLM4ALL_TYPE_Q8_1),
              f + " does not claim the activation-only types Q8_K and Q8_1");
        llm4all_backend_ctx *ctx = be->ctx_new(0, 2);
        check(ctx != nullptr, f + " ctx_new");
        if (ctx) plugins.push_back({f, be, ctx});
    }

    for (Plugin &p : plugins) {
        g_rng.seed(1234); // every variant sees the same data, so their results compare
        for (const TypeDesc &t : k_types) {
            check(p.be->supports(LLM4ALL_OP_MUL_MAT, t.type) && p.be->supports(LLM4ALL_OP_GET_ROWS, t.type),
                  std::string(p.be->variant) + " supports " + t.name);
            test_get_rows(p, t);
            const int64_t n_in = t.block == 1 ? 100 : t.block == 256 ? 768 : 256;
            // 12, 20 and 70 tokens: the prompt-batch tile kernels with 2, 3 and 4 token groups
            // of 8 per call, and partial last groups.
            for (int64_t n_tok : {1, 5, 12, 20, 70}) test_mul_mat(p, t, n_in, 37, n_tok);
            // One token: row counts around the GEMV kernels' groups of 4 and 8.
            for (int64_t n_out : {1, 3, 4, 9, 130}) test_mul_mat(p, t, n_in, n_out, 1);
        }
        test_small_ops(p);
        test_gemma_ops(p);
        test_encoder_ops(p);
        test_mul_mat_multi(p);
        test_attention_flash(p);
    }

    // Variants differ only in summation order: their results must be very close.
    // Dot products (integer inner sums in every variant) agree within 1e-5 of
    // sum |w_i x_i|; the other ops within 1e-4 relative.
    for (auto &[key, runs] : g_results) {
        const auto mag = g_magnitude.find(key);
        for (size_t i = 1; i < runs.size(); ++i) {
            double worst = 0;
            for (size_t j = 0; j < runs[0].second.size(); ++j) {
                const double tol = mag != g_magnitude.end() ? 1e-5 * mag->second[j] + 1e-30
                                                            : 1e-4 + 1e-4 * std::fabs(runs[0].second[j]);
                worst = std::max(worst, std::fabs(double(runs[i].second[j]) - runs[0].second[j]) / tol);
            }
            check(worst <= 1.0, runs[i].first + " agrees with " + runs[0].first + " on " + key + " (worst " +
                                    std::to_string(worst) + " of tolerance)");
        }
    }
    for (Plugin &p : plugins) {
        g_rng.seed(99);
        llm4all_backend_ctx *ctxs[3] = {p.be->ctx_new(0, 1), p.be->ctx_new(0, 2), p.be->ctx_new(0, 3)};
        if (!ctxs[0] || !ctxs[1] || !ctxs[2]) {
            check(false, std::string(p.be->variant) + " ctx_new with 1-3 threads");
        } else {
            for (const TypeDesc &t : k_types) test_mul_mat_batch_invariance(p.be, ctxs, t);
            test_attention_batch_invariance(p.be, ctxs);
        }
        for (llm4all_backend_ctx *c : ctxs)
            if (c) p.be->ctx_free(c);
    }
    for (Plugin &p : plugins) p.be->ctx_free(p.ctx);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
