// test_backend_ops.cpp — runs every op of each non-CPU backend plugin (Vulkan, CUDA,
// ...) that finds a device here against the CPU plugin, on random inputs of awkward
// shapes (odd row lengths, one token and more than 64, grouped-query heads, sliding
// windows, F16 caches), and checks that errors come back as statuses with a reason.
// With no second device it prints why and passes. Plugins are looked up in
// LLM4ALL_PLUGIN_DIR, argv[1], or beside libllm4all.so. LLM4ALL_OPS_FILTER=text runs
// only the cases whose name contains text.
//
// Tolerances (relative to the largest |reference| value of the output unless said):
// - get_rows, store_rows, scale, add: the same single float operations on both sides,
//   so the results must be equal up to 1 ulp (fused or not): 1e-6.
// - swiglu/geglu/gelu: exp (and the erf polynomial) of the device's math library
//   against the CPU's Cephes exp, a few ulp each: 1e-5.
// - rms_norm/layer_norm: the CPU sums in double, a device in float in a different
//   order: about n * 2^-24 relative on the sum, n <= 4096: 1e-5.
// - rope: the angles are built by the same float multiplications on both sides; the
//   device reduces them by 2 pi (angles reach 3e4 radians here) and takes cos/sin of
//   its library, which GLSL bounds only by 2^-11 absolute on [-pi, pi] (lavapipe and
//   GPUs do far better, ~1e-6): 1e-3.
// - attention: softmax exp from different libraries and a different summation order
//   over up to 300 positions (online softmax per 64-position chunk): 1e-4.
// - mul_mat: the CPU quantizes activations (Q8_0/Q8_1 per 32, Q8_K per 256, F16 or
//   BF16 for 16-bit weights) where a device may multiply the F32 activations, so each
//   output gets its own bound sum_i |w_i| * delta_i, with delta_i the CPU's rounding
//   step of x_i (block max / 200 for the Q8 forms, |x_i| 2^-11 for F16, 2^-8 for BF16)
//   and float accumulation slack 2e-5 * sum_i |w_i x_i| (w dequantized by the CPU).
#include <dirent.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "llm4all/backend.h"
#include "llm4all/llm4all.h"

#include "check.h"

// LeakSanitizer (the suite's sanitizer build): Mesa's lavapipe loses a few small
// allocations per device it opens, inside the driver (and its LLVM); not ours to fix.
extern "C" __attribute__((visibility("default"))) const char *__lsan_default_suppressions() {
    return "leak:libvulkan_lvp.so\nleak:libLLVM\n";
}

namespace {

std::mt19937 g_rng(1234);

std::vector<float> randn(size_t n, float sd = 1.0f) {
    std::normal_distribution<float> d(0.0f, sd);
    std::vector<float> v(n);
    for (float &x : v) x = d(g_rng);
    return v;
}
int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_rng); }

uint16_t f2h(float f) { _Float16 v = _Float16(f); uint16_t h; std::memcpy(&h, &v, 2); return h; }
float h2f(uint16_t h) { _Float16 v; std::memcpy(&v, &h, 2); return float(v); }
uint16_t f2bf(float f) { uint32_t u; std::memcpy(&u, &f, 4); return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16); }

llm4all_tensor tensor(void *data, int32_t type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
    llm4all_tensor t{};
    t.data = data;
    t.type = type;
    t.n_dims = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    t.ne[0] = ne0;
    t.ne[1] = ne1;
    t.ne[2] = ne2;
    t.ne[3] = 1;
    return t;
}

// One backend device with a context, and the buffers a case allocated on it.
struct Side {
    std::string name;
    const llm4all_backend_iface *be = nullptr;
    llm4all_backend_ctx *ctx = nullptr;
    int32_t device = 0;
    std::vector<void *> bufs;

    void *put(const void *host, size_t bytes) {
        void *p = be->buffer_alloc(ctx, bytes ? bytes : 4);
        if (!p) return nullptr;
        bufs.push_back(p);
        if (bytes) be->upload(ctx, p, host, bytes);
        return p;
    }
    template <class T> void *put(const std::vector<T> &v) { return put(v.data(), v.size() * sizeof(T)); }
    template <class T> std::vector<T> get(const void *p, size_t n) {
        std::vector<T> v(n);
        be->download(ctx, v.data(), p, n * sizeof(T));
        return v;
    }
    void release() {
        for (void *p : bufs) be->buffer_free(ctx, p);
        bufs.clear();
    }
    std::string error() const { return be->last_error ? be->last_error(ctx) : ""; }
};

// A case runs the same op on a side and returns its output (empty on an error,
// with the reason in `why`).
using Run = std::function<std::vector<float>(Side &, std::string &why)>;

struct Stats {
    int cases = 0;
};

// Runs `run` on the reference and the tested side and compares: every
// |test - ref| <= tol * max|ref| (+1e-30), or per element bounds when given.
void compare(Side &ref, Side &dev, const std::string &name, double tol, const Run &run,
             const std::vector<double> *bounds = nullptr) {
    if (const char *f = std::getenv("LLM4ALL_OPS_FILTER"))
        if (name.find(f) == std::string::npos) return;
    std::string why_ref, why_dev;
    const std::mt19937 saved = g_rng;
    std::vector<float> a = run(ref, why_ref);
    g_rng = saved;  // the same random inputs for both sides
    std::vector<float> b = run(dev, why_dev);
    ref.release();
    dev.release();
    if (a.empty()) return check(false, name + ": the CPU reference failed: " + why_ref);
    if (b.empty()) return check(false, dev.name + " " + name + ": failed: " + why_dev);
    if (a.size() != b.size()) return check(false, name + ": output sizes differ");
    double scale = 0, worst = 0, worst_ratio = 0;
    for (float x : a) scale = std::max(scale, double(std::fabs(x)));
    size_t bad = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double e = std::fabs(double(a[i]) - double(b[i]));
        const double lim = bounds ? (*bounds)[i] : tol * scale + 1e-30;
        if (!(e <= lim)) ++bad;  // NaN counts as bad
        worst = std::max(worst, std::isnan(e) ? INFINITY : e);
        worst_ratio = std::max(worst_ratio, std::isnan(e) ? INFINITY : e / lim);
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "max abs err %.3g (%.3g of the tolerance; max |ref| %.3g)", worst, worst_ratio,
                  scale);
    std::printf("  %-58s %s%s\n", name.c_str(), buf, bad ? "  FAIL" : "");
    check(bad == 0, dev.name + " " + name + ": " + std::to_string(bad) + " of " + std::to_string(a.size()) +
                        " values off; " + buf);
}

// ---- weight types: random blocks with sane scales ------------------------------------

struct TypeDesc { int32_t type; const char *name; int block, bytes; std::vector<int> f16_fields; };
const TypeDesc k_types[] = {
    {LLM4ALL_TYPE_F32, "F32", 1, 4, {}},          {LLM4ALL_TYPE_F16, "F16", 1, 2, {}},
    {LLM4ALL_TYPE_BF16, "BF16", 1, 2, {}},        {LLM4ALL_TYPE_Q4_0, "Q4_0", 32, 18, {0}},
    {LLM4ALL_TYPE_Q4_1, "Q4_1", 32, 20, {0, 2}},  {LLM4ALL_TYPE_Q5_0, "Q5_0", 32, 22, {0}},
    {LLM4ALL_TYPE_Q5_1, "Q5_1", 32, 24, {0, 2}},  {LLM4ALL_TYPE_Q8_0, "Q8_0", 32, 34, {0}},
    {LLM4ALL_TYPE_Q2_K, "Q2_K", 256, 84, {80, 82}}, {LLM4ALL_TYPE_Q3_K, "Q3_K", 256, 110, {108}},
    {LLM4ALL_TYPE_Q4_K, "Q4_K", 256, 144, {0, 2}}, {LLM4ALL_TYPE_Q5_K, "Q5_K", 256, 176, {0, 2}},
    {LLM4ALL_TYPE_Q6_K, "Q6_K", 256, 210, {208}},  {LLM4ALL_TYPE_IQ4_NL, "IQ4_NL", 32, 18, {0}},
    {LLM4ALL_TYPE_IQ4_XS, "IQ4_XS", 256, 136, {0}},
};

// n_rows rows of n values of type t: float types from normal values, quantized ones
// as random bytes (every bit pattern is a valid block) with their fp16 scales set
// to small positive values (so outputs stay O(1)).
std::vector<uint8_t> random_weights(const TypeDesc &t, int64_t n, int64_t n_rows) {
    const size_t count = size_t(n * n_rows);
    std::vector<uint8_t> out;
    if (t.type == LLM4ALL_TYPE_F32) {
        std::vector<float> v = randn(count);
        out.resize(count * 4);
        std::memcpy(out.data(), v.data(), out.size());
    } else if (t.type == LLM4ALL_TYPE_F16 || t.type == LLM4ALL_TYPE_BF16) {
        std::vector<float> v = randn(count);
        out.resize(count * 2);
        for (size_t i = 0; i < count; ++i) {
            const uint16_t h = t.type == LLM4ALL_TYPE_F16 ? f2h(v[i]) : f2bf(v[i]);
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    } else {
        const size_t blocks = count / size_t(t.block);
        out.resize(blocks * size_t(t.bytes));
        for (uint8_t &b : out) b = uint8_t(rand_int(0, 255));
        std::uniform_real_distribution<float> d(0.002f, 0.02f);
        for (size_t b = 0; b < blocks; ++b)
            for (int off : t.f16_fields) {
                const uint16_t h = f2h(d(g_rng));
                std::memcpy(out.data() + b * size_t(t.bytes) + size_t(off), &h, 2);
            }
    }
    return out;
}

// ---- the cases --------------------------------------------------------------------------

void elementwise_cases(Side &ref, Side &dev, const std::vector<std::pair<int64_t, int64_t>> &shapes) {
    for (const auto &sh : shapes) {
        const int64_t s[2] = {sh.first, sh.second};
        const int64_t n = s[0], rows = s[1];
        const std::string shp = " [" + std::to_string(n) + "x" + std::to_string(rows) + "]";
        for (bool in_place : {false, true}) {
            const std::string ip = in_place ? " in place" : "";
            compare(ref, dev, "scale" + shp + ip, 1e-6, [&](Side &sd, std::string &why) {
                std::vector<float> x = randn(size_t(n * rows));
                void *px = sd.put(x), *py = in_place ? px : sd.put(x);
                llm4all_tensor tx = tensor(px, LLM4ALL_TYPE_F32, n, rows), ty = tensor(py, LLM4ALL_TYPE_F32, n, rows);
                if (sd.be->scale(sd.ctx, &tx, -0.37f, &ty)) return why = sd.error(), std::vector<float>();
                return sd.get<float>(py, x.size());
            });
            for (bool bcast : {false, true})
                compare(ref, dev, std::string("add") + (bcast ? " broadcast" : "") + shp + ip, 1e-6,
                        [&](Side &sd, std::string &why) {
                            std::vector<float> a = randn(size_t(n * rows)), b = randn(size_t(n * (bcast ? 1 : rows)));
                            void *pa = sd.put(a), *pb = sd.put(b), *py = in_place ? pa : sd.put(a);
                            llm4all_tensor ta = tensor(pa, LLM4ALL_TYPE_F32, n, rows),
                                           tb = tensor(pb, LLM4ALL_TYPE_F32, n, bcast ? 1 : rows),
                                           ty = tensor(py, LLM4ALL_TYPE_F32, n, rows);
                            if (sd.be->add(sd.ctx, &ta, &tb, &ty)) return why = sd.error(), std::vector<float>();
                            return sd.get<float>(py, a.size());
                        });
            for (int which = 0; which < 2; ++which)
                compare(ref, dev, std::string(which ? "geglu" : "swiglu") + shp + ip, 1e-5,
                        [&](Side &sd, std::string &why) {
                            std::vector<float> g = randn(size_t(n * rows), 3.0f), u = randn(size_t(n * rows));
                            void *pg = sd.put(g), *pu = sd.put(u), *py = in_place ? pg : sd.put(u);
                            llm4all_tensor tg = tensor(pg, LLM4ALL_TYPE_F32, n, rows),
                                           tu = tensor(pu, LLM4ALL_TYPE_F32, n, rows),
                                           ty = tensor(py, LLM4ALL_TYPE_F32, n, rows);
                            const int32_t r = which ? sd.be->geglu(sd.ctx, &tg, &tu, &ty)
                                                    : sd.be->swiglu(sd.ctx, &tg, &tu, &ty);
                            if (r) return why = sd.error(), std::vector<float>();
                            return sd.get<float>(py, g.size());
                        });
            compare(ref, dev, "gelu" + shp + ip, 1e-5, [&](Side &sd, std::string &why) {
                std::vector<float> x = randn(size_t(n * rows), 3.0f);
                void *px = sd.put(x), *py = in_place ? px : sd.put(x);
                llm4all_tensor tx = tensor(px, LLM4ALL_TYPE_F32, n, rows), ty = tensor(py, LLM4ALL_TYPE_F32, n, rows);
                if (sd.be->gelu(sd.ctx, &tx, &ty)) return why = sd.error(), std::vector<float>();
                return sd.get<float>(py, x.size());
            });
            for (int with = 0; with < 2; ++with) {
                const std::string w = with ? " weighted" : "";
                compare(ref, dev, "rms_norm" + w + shp + ip, 1e-5, [&](Side &sd, std::string &why) {
                    std::vector<float> x = randn(size_t(n * rows), 2.0f), wt = randn(size_t(n));
                    void *px = sd.put(x), *pw = sd.put(wt), *py = in_place ? px : sd.put(x);
                    llm4all_tensor tx = tensor(px, LLM4ALL_TYPE_F32, n, rows), tw = tensor(pw, LLM4ALL_TYPE_F32, n),
                                   ty = tensor(py, LLM4ALL_TYPE_F32, n, rows);
                    if (sd.be->rms_norm(sd.ctx, &tx, with ? &tw : nullptr, 1e-6f, &ty))
                        return why = sd.error(), std::vector<float>();
                    return sd.get<float>(py, x.size());
                });
                compare(ref, dev, "layer_norm" + w + shp + ip, 1e-5, [&](Side &sd, std::string &why) {
                    std::vector<float> x = randn(size_t(n * rows), 2.0f), wt = randn(size_t(n)), bs = randn(size_t(n));
                    for (float &v : x) v += 0.5f;  // a mean to subtract
                    void *px = sd.put(x), *pw = sd.put(wt), *pb = sd.put(bs), *py = in_place ? px : sd.put(x);
                    llm4all_tensor tx = tensor(px, LLM4ALL_TYPE_F32, n, rows), tw = tensor(pw, LLM4ALL_TYPE_F32, n),
                                   tb = tensor(pb, LLM4ALL_TYPE_F32, n), ty = tensor(py, LLM4ALL_TYPE_F32, n, rows);
                    if (sd.be->layer_norm(sd.ctx, &tx, with ? &tw : nullptr, with ? &tb : nullptr, 1e-5f, &ty))
                        return why = sd.error(), std::vector<float>();
                    return sd.get<float>(py, x.size());
                });
            }
        }
    }
}

void store_rows_cases(Side &ref, Side &dev, const std::vector<int64_t> &ns, const std::vector<int64_t> &rowss) {
    for (int32_t type : {LLM4ALL_TYPE_F32, LLM4ALL_TYPE_F16})
        for (int64_t n : ns)
            for (int64_t rows : rowss) {
                const int64_t dst_rows = rows + 5, dst_row = 3;
                const std::string name = std::string("store_rows ") + (type ? "F16" : "F32") + " [" +
                                         std::to_string(n) + "x" + std::to_string(rows) + "] at row 3";
                compare(ref, dev, name, 1e-6, [&](Side &sd, std::string &why) {
                    std::vector<float> src = randn(size_t(n * rows)), init = randn(size_t(n * dst_rows));
                    std::vector<uint16_t> init16(init.size());
                    for (size_t i = 0; i < init.size(); ++i) init16[i] = f2h(init[i]);
                    void *ps = sd.put(src), *pd = type ? sd.put(init16) : sd.put(init);
                    llm4all_tensor ts = tensor(ps, LLM4ALL_TYPE_F32, n, rows), td = tensor(pd, type, n, dst_rows);
                    if (sd.be->store_rows(sd.ctx, &ts, &td, dst_row)) return why = sd.error(), std::vector<float>();
                    // The whole dst: rows outside the range must keep their values.
                    if (!type) return sd.get<float>(pd, init.size());
                    std::vector<uint16_t> h = sd.get<uint16_t>(pd, init.size());
                    std::vector<float> f(h.size());
                    for (size_t i = 0; i < h.size(); ++i) f[i] = h2f(h[i]);
                    return f;
                });
            }
}

// blocks: row length in blocks (float types: 67 values per block count); rows: table rows.
void get_rows_cases(Side &ref, Side &dev, int64_t blocks = 1, int64_t rows = 40) {
    for (const TypeDesc &t : k_types) {
        if (!dev.be->device_supports(dev.device, LLM4ALL_OP_GET_ROWS, t.type)) {
            std::printf("  get_rows %-8s not supported by %s\n", t.name, dev.name.c_str());
            continue;
        }
        for (int64_t n_ids : {1, 5, 70}) {
            const int64_t n = t.block == 1 ? 67 * blocks : t.block * 3 * blocks;
            const std::string name = std::string("get_rows ") + t.name + " [" + std::to_string(n) + "x" +
                                     std::to_string(rows) + "] x " + std::to_string(n_ids) + " ids";
            compare(ref, dev, name, 1e-6, [&](Side &sd, std::string &why) {
                std::vector<uint8_t> w = random_weights(t, n, rows);
                std::vector<int32_t> ids(static_cast<size_t>(n_ids));
                for (int32_t &i : ids) i = rand_int(0, int(rows - 1));
                void *pw = sd.put(w), *py = sd.put(std::vector<float>(size_t(n * n_ids), 0.0f));
                llm4all_tensor tw = tensor(pw, t.type, n, rows), ty = tensor(py, LLM4ALL_TYPE_F32, n, n_ids);
                if (sd.be->get_rows(sd.ctx, &tw, ids.data(), n_ids, &ty)) return why = sd.error(), std::vector<float>();
                return sd.get<float>(py, size_t(n * n_ids));
            });
        }
    }
}

void rope_cases(Side &ref, Side &dev) {
    struct R { int64_t hd, n_rot, n_head, n_tok; int32_t mode; float scale; bool ff; float mscale; };
    const R cases[] = {
        {64, 64, 4, 1, LLM4ALL_ROPE_NORMAL, 1.0f, false, 1.0f}, {64, 64, 3, 70, LLM4ALL_ROPE_NEOX, 1.0f, false, 1.0f},
        {80, 32, 5, 9, LLM4ALL_ROPE_NORMAL, 0.25f, false, 1.0f}, {128, 128, 2, 3, LLM4ALL_ROPE_NEOX, 1.0f, true, 1.19f},
        {96, 64, 1, 65, LLM4ALL_ROPE_NORMAL, 1.0f, true, 1.0f},  {256, 256, 4, 2, LLM4ALL_ROPE_NEOX, 0.125f, false, 1.0f},
    };
    for (const R &c : cases) {
        char name[160];
        std::snprintf(name, sizeof name, "rope%s %s hd %lld rot %lld heads %lld tok %lld scale %g%s", c.ff ? "_ext" : "",
                      c.mode ? "neox" : "normal", (long long)c.hd, (long long)c.n_rot, (long long)c.n_head,
                      (long long)c.n_tok, double(c.scale), c.mscale != 1.0f ? " mscale" : "");
        compare(ref, dev, name, 1e-3, [&](Side &sd, std::string &why) {
            std::vector<float> x = randn(size_t(c.hd * c.n_head * c.n_tok));
            std::vector<int32_t> pos(static_cast<size_t>(c.n_tok));
            for (int32_t &p : pos) p = rand_int(0, 30000);
            pos[0] = 0;
            std::vector<float> ff(static_cast<size_t>(c.n_rot / 2));
            for (float &f : ff) f = std::uniform_real_distribution<float>(1.0f, 8.0f)(g_rng);
            void *px = sd.put(x);
            llm4all_tensor tx = tensor(px, LLM4ALL_TYPE_F32, c.hd, c.n_head, c.n_tok);
            const int32_t r = c.ff || c.mscale != 1.0f
                                  ? sd.be->rope_ext(sd.ctx, &tx, pos.data(), int32_t(c.n_rot), 10000.0f, c.scale, c.mode,
                                                    c.ff ? ff.data() : nullptr, c.mscale)
                                  : sd.be->rope(sd.ctx, &tx, pos.data(), int32_t(c.n_rot), 10000.0f, c.scale, c.mode);
            if (r) return why = sd.error(), std::vector<float>();
            return sd.get<float>(px, x.size());
        });
    }
}

void attention_cases(Side &ref, Side &dev) {
    struct A { int64_t hd, n_head, n_head_kv, n_tok, n_kv; int32_t n_swa; float softcap; int kind; };  // kind 2: span
    const A cases[] = {
        {64, 4, 4, 1, 1, 0, 0, 0},     {64, 8, 2, 1, 300, 0, 0, 0},  {64, 6, 1, 70, 70, 0, 0, 0},
        {80, 4, 2, 7, 130, 0, 0, 0},   {128, 4, 4, 65, 200, 0, 0, 1}, {256, 4, 1, 3, 97, 16, 0, 1},
        {64, 8, 4, 70, 150, 32, 30.0f, 1}, {32, 2, 1, 5, 64, 0, 10.0f, 1}, {64, 4, 4, 70, 70, 0, 0, 2},
        {72, 6, 2, 9, 33, 0, 0, 2},
        // Decoding over a long cache (a device may split the range over workgroups).
        {128, 4, 1, 1, 1000, 0, 0, 0}, {64, 8, 2, 2, 900, 300, 0, 1}, {256, 4, 1, 1, 700, 0, 20.0f, 1},
    };
    for (const A &c : cases)
        for (int kv = 0; kv < 3; ++kv) {  // 0: F32 caches, 1: F16 caches, 2: F16 K and F32 V
            const int32_t kt = kv ? LLM4ALL_TYPE_F16 : LLM4ALL_TYPE_F32, vt = kv == 1 ? LLM4ALL_TYPE_F16 : LLM4ALL_TYPE_F32;
            char name[200];
            std::snprintf(name, sizeof name, "%s hd %lld heads %lld/%lld tok %lld kv %lld%s%s K %s V %s",
                          c.kind == 2 ? "attention_span" : c.kind ? "attention_ext" : "attention", (long long)c.hd,
                          (long long)c.n_head, (long long)c.n_head_kv, (long long)c.n_tok, (long long)c.n_kv,
                          c.n_swa ? (" swa " + std::to_string(c.n_swa)).c_str() : "", c.softcap > 0 ? " softcap" : "",
                          kt ? "F16" : "F32", vt ? "F16" : "F32");
            compare(ref, dev, name, 1e-4, [&](Side &sd, std::string &why) {
                const int64_t n_ctx = c.n_kv + 5, row = c.hd * c.n_head_kv;
                std::vector<float> q = randn(size_t(c.hd * c.n_head * c.n_tok)), kf = randn(size_t(row * n_ctx)),
                                   vf = randn(size_t(row * n_ctx));
                auto cache = [&](const std::vector<float> &f, int32_t type) {
                    if (type == LLM4ALL_TYPE_F32) return sd.put(f);
                    std::vector<uint16_t> h(f.size());
                    for (size_t i = 0; i < f.size(); ++i) h[i] = f2h(f[i]);
                    return sd.put(h);
                };
                void *pq = sd.put(q), *pk = cache(kf, kt), *pv = cache(vf, vt), *po = sd.put(q);
                llm4all_tensor tq = tensor(pq, LLM4ALL_TYPE_F32, c.hd, c.n_head, c.n_tok),
                               tk = tensor(pk, kt, c.hd, c.n_head_kv, n_ctx), tv = tensor(pv, vt, c.hd, c.n_head_kv, n_ctx),
                               to = tensor(po, LLM4ALL_TYPE_F32, c.hd, c.n_head, c.n_tok);
                const float scale = 1.0f / std::sqrt(float(c.hd));
                int32_t r;
                if (c.kind == 2) {
                    // Spans of every kind: whole, partial, one position, empty, past the end.
                    std::vector<int32_t> first(static_cast<size_t>(c.n_tok)), last(size_t(c.n_tok));
                    for (int64_t t = 0; t < c.n_tok; ++t) {
                        first[size_t(t)] = rand_int(-3, int(c.n_kv) - 1);
                        last[size_t(t)] = rand_int(first[size_t(t)] - 1, int(c.n_kv) + 3);
                    }
                    first[0] = 0, last[0] = int32_t(c.n_kv - 1);
                    r = sd.be->attention_span(sd.ctx, &tq, &tk, &tv, int32_t(c.n_kv), first.data(), last.data(), scale, &to);
                } else {
                    // The new tokens sit at the end of the valid cache, as in decoding/prefill.
                    std::vector<int32_t> pos(static_cast<size_t>(c.n_tok));
                    for (int64_t t = 0; t < c.n_tok; ++t) pos[size_t(t)] = int32_t(c.n_kv - c.n_tok + t);
                    r = c.kind ? sd.be->attention_ext(sd.ctx, &tq, &tk, &tv, int32_t(c.n_kv), pos.data(), scale, c.n_swa,
                                                      c.softcap, &to)
                               : sd.be->attention(sd.ctx, &tq, &tk, &tv, int32_t(c.n_kv), pos.data(), scale, &to);
                }
                if (r) return why = sd.error(), std::vector<float>();
                return sd.get<float>(po, q.size());
            });
        }
}

// mul_mat: add shapes here. n_in must be a multiple of the type's block (256 for K types).
// n_mat > 1 runs mul_mat_multi with that many matrices (n_out + 8 j rows each) on one x.
struct MatCase { int64_t n_in_blocks, n_out, n_tok; int n_mat = 1; };
const std::vector<MatCase> k_mat_cases = {
    {3, 33, 1}, {2, 130, 5}, {3, 67, 9}, {2, 64, 70},
    // Rows of 5 or 7 blocks (not a multiple of 256 for the 32-value types), one output
    // row, 8 tokens (the most a decode kernel may take) and 65 (one past a 64 tile).
    {5, 37, 7}, {1, 3, 65}, {7, 1, 1}, {1, 9, 8},
    {2, 33, 1, 3}, {3, 20, 9, 2},
};

// Per output bound for w (n_out rows) times x from the CPU's dequantized weights (see
// the top of the file); empty when the CPU's get_rows fails.
std::vector<double> mat_bounds(Side &ref, const TypeDesc &t, const std::vector<uint8_t> &w, const std::vector<float> &x,
                               int64_t n_in, int64_t n_out, int64_t n_tok) {
    std::vector<float> wd;
    {
        std::vector<int32_t> ids(static_cast<size_t>(n_out));
        for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
        void *pw = ref.put(w), *py = ref.put(std::vector<float>(size_t(n_in * n_out)));
        llm4all_tensor tw = tensor(pw, t.type, n_in, n_out), ty = tensor(py, LLM4ALL_TYPE_F32, n_in, n_out);
        if (ref.be->get_rows(ref.ctx, &tw, ids.data(), n_out, &ty) == 0) wd = ref.get<float>(py, size_t(n_in * n_out));
        ref.release();
    }
    if (wd.empty()) return {};
    std::vector<double> bounds(static_cast<size_t>(n_out * n_tok));
    const int act = t.block == 256 ? 256 : 32;
    for (int64_t tk = 0; tk < n_tok; ++tk) {
        std::vector<double> delta(static_cast<size_t>(n_in));
        const float *xr = x.data() + tk * n_in;
        for (int64_t i = 0; i < n_in; ++i) {
            if (t.type == LLM4ALL_TYPE_F32) delta[size_t(i)] = 0;
            else if (t.type == LLM4ALL_TYPE_F16) delta[size_t(i)] = std::fabs(xr[i]) * std::ldexp(1.0, -11);
            else if (t.type == LLM4ALL_TYPE_BF16) delta[size_t(i)] = std::fabs(xr[i]) * std::ldexp(1.0, -8);
            else {
                const int64_t b0 = i / act * act;
                double amax = 0;
                for (int64_t j = b0; j < std::min(n_in, b0 + act); ++j) amax = std::max(amax, double(std::fabs(xr[j])));
                delta[size_t(i)] = amax / 200.0;
            }
        }
        for (int64_t o = 0; o < n_out; ++o) {
            double sd = 0, sa = 0;
            for (int64_t i = 0; i < n_in; ++i) {
                const double wi = std::fabs(double(wd[size_t(o * n_in + i)]));
                sd += wi * delta[size_t(i)];
                sa += wi * std::fabs(double(xr[i]));
            }
            bounds[size_t(tk * n_out + o)] = sd + 2e-5 * sa + 1e-6;
        }
    }
    return bounds;
}

void mul_mat_cases(Side &ref, Side &dev, const std::vector<MatCase> &cases) {
    for (const TypeDesc &t : k_types) {
        if (!dev.be->device_supports(dev.device, LLM4ALL_OP_MUL_MAT, t.type)) {
            std::printf("  mul_mat  %-8s not supported by %s\n", t.name, dev.name.c_str());
            continue;
        }
        const int64_t blk = t.block == 1 ? 32 : t.block;
        for (const MatCase &c : cases) {
            const int64_t n_in = c.n_in_blocks * blk + (t.block == 1 ? 7 : 0);  // float rows of odd length
            std::vector<int64_t> n_out;  // per matrix
            for (int j = 0; j < c.n_mat; ++j) n_out.push_back(c.n_out + 8 * j);
            std::string name = std::string(c.n_mat > 1 ? "mul_mat_multi " : "mul_mat ") + t.name + " [" +
                               std::to_string(n_in) + "x" + std::to_string(c.n_out) + "]";
            if (c.n_mat > 1) name += " x" + std::to_string(c.n_mat) + " (+8 rows each)";
            name += " x " + std::to_string(c.n_tok) + " tok";
            if (const char *f = std::getenv("LLM4ALL_OPS_FILTER"))
                if (name.find(f) == std::string::npos) continue;
            // The run below draws the same numbers: every matrix's weights, then x.
            const std::mt19937 saved = g_rng;
            std::vector<std::vector<uint8_t>> w;
            for (int j = 0; j < c.n_mat; ++j) w.push_back(random_weights(t, n_in, n_out[size_t(j)]));
            std::vector<float> x = randn(size_t(n_in * c.n_tok));
            g_rng = saved;
            std::vector<double> bounds;
            for (int j = 0; j < c.n_mat; ++j) {
                const std::vector<double> b = mat_bounds(ref, t, w[size_t(j)], x, n_in, n_out[size_t(j)], c.n_tok);
                if (b.empty()) break;
                bounds.insert(bounds.end(), b.begin(), b.end());
            }
            if (bounds.size() != size_t(c.n_tok) * size_t(std::accumulate(n_out.begin(), n_out.end(), int64_t(0)))) {
                check(false, name + ": CPU get_rows failed");
                continue;
            }
            compare(ref, dev, name, 0, [&](Side &sd, std::string &why) {
                std::vector<llm4all_tensor> tw, ty;
                std::vector<void *> py;
                for (int j = 0; j < c.n_mat; ++j) {
                    const int64_t no = n_out[size_t(j)];
                    tw.push_back(tensor(sd.put(random_weights(t, n_in, no)), t.type, n_in, no));
                    py.push_back(sd.put(std::vector<float>(size_t(no * c.n_tok))));
                    ty.push_back(tensor(py.back(), LLM4ALL_TYPE_F32, no, c.n_tok));
                }
                std::vector<float> xv = randn(size_t(n_in * c.n_tok));
                llm4all_tensor tx = tensor(sd.put(xv), LLM4ALL_TYPE_F32, n_in, c.n_tok);
                int32_t r;
                if (c.n_mat == 1) {
                    r = sd.be->mul_mat(sd.ctx, &tw[0], &tx, &ty[0]);
                } else {
                    std::vector<const llm4all_tensor *> wp;
                    std::vector<llm4all_tensor *> yp;
                    for (int j = 0; j < c.n_mat; ++j) wp.push_back(&tw[size_t(j)]), yp.push_back(&ty[size_t(j)]);
                    r = sd.be->mul_mat_multi(sd.ctx, c.n_mat, wp.data(), &tx, yp.data());
                }
                if (r) return why = sd.error(), std::vector<float>();
                std::vector<float> out;
                for (int j = 0; j < c.n_mat; ++j) {
                    const std::vector<float> v = sd.get<float>(py[size_t(j)], size_t(n_out[size_t(j)] * c.n_tok));
                    out.insert(out.end(), v.begin(), v.end());
                }
                return out;
            }, &bounds);
        }
    }
}

// A long run of ops with no download between them (the device backend submits the
// batch in pieces while recording more), mixing ops that copy host arrays (rope's
// positions) with plain ones: the result must equal the same chain on the CPU.
void chain_case(Side &ref, Side &dev) {
    compare(ref, dev, "chain of 900 ops (scale, add, rope) without a sync", 1e-4, [&](Side &sd, std::string &why) {
        const int64_t hd = 64, n_head = 2, n_tok = 3;
        std::vector<float> x = randn(size_t(hd * n_head * n_tok)), b = randn(size_t(hd * n_head * n_tok), 0.01f);
        void *px = sd.put(x), *pb = sd.put(b);
        llm4all_tensor tx = tensor(px, LLM4ALL_TYPE_F32, hd, n_head, n_tok), tb = tensor(pb, LLM4ALL_TYPE_F32, hd, n_head, n_tok);
        for (int i = 0; i < 300; ++i) {
            const int32_t pos[3] = {i, 2 * i + 1, 7};
            if (sd.be->scale(sd.ctx, &tx, 0.999f, &tx) || sd.be->add(sd.ctx, &tx, &tb, &tx) ||
                sd.be->rope(sd.ctx, &tx, pos, int32_t(hd), 10000.0f, 1.0f, i % 2 ? LLM4ALL_ROPE_NEOX : LLM4ALL_ROPE_NORMAL))
                return why = sd.error(), std::vector<float>();
        }
        return sd.get<float>(px, x.size());
    });
}

// Two sessions on one device at once (parallel sequences, a server's requests): two more
// contexts, each driven by its own thread through a long chain of ops, must each give
// the CPU's result for their own inputs.
void concurrent_case(Side &ref, Side &dev) {
    const int64_t hd = 64, n_head = 2, n_tok = 3, n = hd * n_head * n_tok;
    auto chain = [&](Side &sd, const std::vector<float> &x0, const std::vector<float> &b0, std::string &why) {
        void *px = sd.put(x0), *pb = sd.put(b0);
        llm4all_tensor tx = tensor(px, LLM4ALL_TYPE_F32, hd, n_head, n_tok), tb = tensor(pb, LLM4ALL_TYPE_F32, hd, n_head, n_tok);
        for (int i = 0; i < 300; ++i) {
            const int32_t pos[3] = {i, 3 * i, 11};
            if (sd.be->scale(sd.ctx, &tx, 0.998f, &tx) || sd.be->add(sd.ctx, &tx, &tb, &tx) ||
                sd.be->rope(sd.ctx, &tx, pos, int32_t(hd), 10000.0f, 1.0f, LLM4ALL_ROPE_NEOX))
                return why = sd.error(), std::vector<float>();
        }
        std::vector<float> out = sd.get<float>(px, size_t(n));
        sd.release();
        return out;
    };
    std::vector<float> xs[2] = {randn(size_t(n)), randn(size_t(n))}, bs[2] = {randn(size_t(n), 0.01f), randn(size_t(n), 0.01f)};
    std::vector<float> want[2], got[2];
    std::string why[2];
    for (int k = 0; k < 2; ++k) want[k] = chain(ref, xs[k], bs[k], why[k]);
    Side sides[2];
    for (Side &sd : sides) {
        sd = dev;
        sd.bufs.clear();
        sd.ctx = dev.be->ctx_new(dev.device, 1);
    }
    if (!sides[0].ctx || !sides[1].ctx) return check(false, dev.name + ": two more contexts on the device");
    std::thread threads[2];
    for (int k = 0; k < 2; ++k) threads[k] = std::thread([&, k] { got[k] = chain(sides[k], xs[k], bs[k], why[k]); });
    for (std::thread &t : threads) t.join();
    for (Side &sd : sides) dev.be->ctx_free(sd.ctx);
    double worst = 0, scale = 0;
    bool ok = !want[0].empty() && !want[1].empty() && got[0].size() == size_t(n) && got[1].size() == size_t(n);
    for (int k = 0; k < 2 && ok; ++k)
        for (int64_t i = 0; i < n; ++i) {
            scale = std::max(scale, double(std::fabs(want[k][size_t(i)])));
            worst = std::max(worst, std::fabs(double(want[k][size_t(i)]) - got[k][size_t(i)]));
        }
    std::printf("  %-58s max abs err %.3g (max |ref| %.3g)\n", "two contexts on two threads, 900 ops each", worst, scale);
    check(ok && worst <= 1e-4 * scale, dev.name + ": two contexts on two threads give the CPU's results (" + why[0] +
                                           why[1] + ")");
}

// Errors come back as a status and a reason, never a crash.
void error_cases(Side &dev) {
    std::vector<float> host(64, 1.0f);
    llm4all_tensor tx = tensor(host.data(), LLM4ALL_TYPE_F32, 64);
    check(dev.be->scale(dev.ctx, &tx, 2.0f, &tx) != 0 && !dev.error().empty(),
          dev.name + ": an op on a host pointer fails with a reason (" + dev.error() + ")");
    void *p = dev.put(host);
    llm4all_tensor big = tensor(p, LLM4ALL_TYPE_F32, 64, 1000);
    check(dev.be->scale(dev.ctx, &big, 2.0f, &big) != 0 && !dev.error().empty(),
          dev.name + ": an op past the end of its buffer fails with a reason (" + dev.error() + ")");
    llm4all_tensor ok = tensor(p, LLM4ALL_TYPE_F32, 64);
    check(dev.be->scale(dev.ctx, &ok, 2.0f, &ok) == 0 && dev.error().empty() && dev.get<float>(p, 64)[63] == 2.0f,
          dev.name + ": the next op succeeds and clears last_error");
    std::vector<int32_t> ids = {0, 5};
    std::vector<float> y(128);
    void *py = dev.put(y);
    llm4all_tensor tw = tensor(p, LLM4ALL_TYPE_F32, 32, 2), ty = tensor(py, LLM4ALL_TYPE_F32, 32, 2);
    check(dev.be->get_rows(dev.ctx, &tw, ids.data(), 2, &ty) != 0, dev.name + ": get_rows rejects an id past the table");
    check(dev.be->synchronize(dev.ctx) == 0, dev.name + ": synchronize after errors");
    dev.release();
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

// In a child process (its Vulkan state stays its own): without a loader the Vulkan
// plugin loads, scores 0 and says why.
void vulkan_without_loader(const std::string &path) {
    const pid_t pid = fork();
    if (pid == 0) {
        setenv("LLM4ALL_VULKAN_LOADER", "/nonexistent/libvulkan.so.1", 1);
        void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) _exit(2);
        auto score = reinterpret_cast<llm4all_backend_score_fn>(dlsym(h, "llm4all_backend_score"));
        auto refusal = reinterpret_cast<llm4all_backend_refusal_fn>(dlsym(h, "llm4all_backend_refusal"));
        if (!score || !refusal) _exit(3);
        const int32_t s = score();
        const std::string why = refusal();
        std::printf("without a loader: score %d, refusal \"%s\"\n", s, why.c_str());
        std::fflush(stdout);
        _exit(s == 0 && why.find("no Vulkan loader") != std::string::npos ? 0 : 4);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the Vulkan plugin loads without a Vulkan loader and refuses with \"no Vulkan loader\"");
}

// Runs this program again with the Vulkan binding limit cut to 64 KiB
// (LLM4ALL_VULKAN_MAX_BINDING), on cases larger than that, with device memory
// unmapped (LLM4ALL_VULKAN_UNMAPPED: uploads and downloads through staging buffers).
void split_run(const char *self, const std::string &dir) {
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        setenv("LLM4ALL_OPS_SPLIT_CHILD", "1", 1);
        setenv("LLM4ALL_VULKAN_MAX_BINDING", "65536", 1);
        // and device memory left unmapped: the staging paths of discrete GPUs.
        setenv("LLM4ALL_VULKAN_UNMAPPED", "1", 1);
        setenv("LLM4ALL_PLUGIN_DIR", dir.c_str(), 1);
        execl("/proc/self/exe", self, static_cast<char *>(nullptr));
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "ops on tensors larger than one binding (limit cut to 64 KiB) match the CPU (the lines above)");
}

} // namespace

int main(int argc, char **argv) {
    const std::string dir = plugin_dir(argc, argv);
    std::vector<std::string> cpu, others;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d)) {
            const std::string name = e->d_name;
            if (name.rfind("libllm4all-", 0) != 0 || name.size() < 4 || name.substr(name.size() - 3) != ".so") continue;
            (name.rfind("libllm4all-cpu-", 0) == 0 ? cpu : others).push_back(name);
        }
        closedir(d);
    }
    std::sort(cpu.begin(), cpu.end());
    std::sort(others.begin(), others.end());
    const bool split_child = std::getenv("LLM4ALL_OPS_SPLIT_CHILD") != nullptr;
    if (split_child)
        std::printf("== run with the Vulkan binding limit cut to 64 KiB (LLM4ALL_VULKAN_MAX_BINDING) and device "
                    "memory unmapped (LLM4ALL_VULKAN_UNMAPPED) ==\n");
    if (!split_child && std::find(others.begin(), others.end(), "libllm4all-vulkan.so") != others.end()) {
        vulkan_without_loader(dir + "/libllm4all-vulkan.so");
        split_run(argv[0], dir);
    }

    // The reference: the best CPU variant this machine runs.
    Side ref;
    int32_t best = 0;
    for (const std::string &f : cpu) {
        void *h = dlopen((dir + "/" + f).c_str(), RTLD_NOW | RTLD_LOCAL);
        auto score = h ? reinterpret_cast<llm4all_backend_score_fn>(dlsym(h, "llm4all_backend_score")) : nullptr;
        auto init = h ? reinterpret_cast<llm4all_backend_init_fn>(dlsym(h, "llm4all_backend_init")) : nullptr;
        const int32_t s = score ? score() : 0;
        if (s > best && init) {
            best = s;
            ref.be = init(nullptr);
            ref.name = f;
        }
    }
    check(ref.be != nullptr, "a CPU plugin runs here (in " + dir + ")");
    if (!ref.be) return 1;
    ref.ctx = ref.be->ctx_new(0, 2);
    std::printf("reference: %s\n", ref.name.c_str());

    int devices = 0;
    for (const std::string &f : others) {
        void *h = dlopen((dir + "/" + f).c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            std::printf("SKIP: %s does not load: %s\n", f.c_str(), dlerror());
            continue;
        }
        auto score = reinterpret_cast<llm4all_backend_score_fn>(dlsym(h, "llm4all_backend_score"));
        auto init = reinterpret_cast<llm4all_backend_init_fn>(dlsym(h, "llm4all_backend_init"));
        auto refusal = reinterpret_cast<llm4all_backend_refusal_fn>(dlsym(h, "llm4all_backend_refusal"));
        if (!score || !init) continue;  // not a backend (e.g. a test plugin)
        if (score() <= 0) {
            std::printf("SKIP: %s cannot run here: %s\n", f.c_str(), refusal ? refusal() : "(no reason given)");
            continue;
        }
        const llm4all_backend_iface *be = init(nullptr);
        check(be && be->api_version == LLM4ALL_BACKEND_API_VERSION && be->size >= sizeof(llm4all_backend_iface),
              f + ": table of this API version");
        if (!be) continue;
        for (int32_t d = 0; d < be->device_count(); ++d) {
            llm4all_device_info info{};
            check(be->device_info(d, &info) && info.name && info.kind && info.description && info.memory_total > 0,
                  f + ": device info of device " + std::to_string(d));
            std::printf("%s device %d: %s (%s), %.1f GiB, %.1f GiB free, caps 0x%x, %s\n", f.c_str(), d, info.name,
                        info.kind, double(info.memory_total) / (1 << 30), double(info.memory_free) / (1 << 30),
                        info.caps, info.description);
            Side dev;
            dev.be = be;
            dev.device = d;
            dev.name = std::string(be->name) + ":" + std::to_string(d);
            dev.ctx = be->ctx_new(d, 2);
            check(dev.ctx != nullptr, dev.name + ": ctx_new");
            if (!dev.ctx) continue;
            ++devices;
            if (split_child) {
                // Tensors larger than the 64 KiB binding limit the parent set: every op
                // that splits work by bindings, checked on its pieces' seams.
                elementwise_cases(ref, dev, {{1000, 100}, {37, 1000}});
                store_rows_cases(ref, dev, {1000}, {100});
                get_rows_cases(ref, dev, 4, 600);
                mul_mat_cases(ref, dev, {{2, 600, 1}, {2, 300, 70}});
            } else {
                error_cases(dev);
                chain_case(ref, dev);
                concurrent_case(ref, dev);
                elementwise_cases(ref, dev, {{1, 1}, {7, 3}, {129, 70}, {4096, 2}, {1000, 1}});
                store_rows_cases(ref, dev, {1, 7, 64, 129}, {1, 3, 70});
                get_rows_cases(ref, dev);
                rope_cases(ref, dev);
                attention_cases(ref, dev);
                mul_mat_cases(ref, dev, k_mat_cases);
            }
            be->ctx_free(dev.ctx);
        }
    }
    if (split_child) std::printf("== end of the 64 KiB binding run: ");
    if (!devices)
        std::printf("SKIP: no backend besides the CPU found a device here (plugins in %s: %zu others); "
                    "nothing to compare\n", dir.c_str(), others.size());
    ref.be->ctx_free(ref.ctx);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
