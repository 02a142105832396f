// shadow.cpp — a test backend that runs the CPU plugin's ops on memory the core must
// treat as a device's: every address it hands out has its top bit flipped, so a core
// that dereferences one (instead of upload/download) crashes, and results are bit
// for bit the CPU's, so a split placement must give exactly the CPU's tokens.
// Found only through LLM4ALL_BACKEND_PATH (tests/core/test_placement.cpp); never shipped.
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "llm4all/backend.h"

namespace {

const llm4all_backend_iface *g_cpu = nullptr;
constexpr uintptr_t k_flip = uintptr_t(1) << 63;

void *dev(void *host) { return host ? reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(host) ^ k_flip) : nullptr; }
void *host(const void *d) {
    return d ? reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(d) ^ k_flip) : nullptr;
}
llm4all_tensor H(const llm4all_tensor *t) {
    llm4all_tensor h = *t;
    h.data = host(t->data);
    return h;
}
#define HP(t) (t ? &t##_h : nullptr)

int32_t device_count() { return 1; }
bool device_info(int32_t device, llm4all_device_info *out) {
    if (device != 0) return false;
    out->name = "Shadow test device";
    out->kind = "shadow";
    out->memory_total = uint64_t(1) << 32;
    out->memory_free = uint64_t(1) << 32;
    out->caps = LLM4ALL_CAP_EMULATED;   // "auto" must never pick it
    out->description = "the CPU's ops behind device addresses";
    return true;
}
bool supports(llm4all_op op, int32_t type) {
    // LLM4ALL_SHADOW_NO_TYPE=<id>: a weight type this device refuses, for the fallback tests.
    const char *no = std::getenv("LLM4ALL_SHADOW_NO_TYPE");
    if (no && *no && std::atoi(no) == type) return false;
    return g_cpu->supports(op, type);
}
bool device_supports(int32_t device, llm4all_op op, int32_t type) { return device == 0 && supports(op, type); }
llm4all_backend_ctx *ctx_new(int32_t, int32_t n_threads) { return g_cpu->ctx_new(0, n_threads); }
void ctx_free(llm4all_backend_ctx *ctx) { g_cpu->ctx_free(ctx); }
void *buffer_alloc(llm4all_backend_ctx *ctx, size_t bytes) { return dev(g_cpu->buffer_alloc(ctx, bytes)); }
void buffer_free(llm4all_backend_ctx *ctx, void *b) { g_cpu->buffer_free(ctx, host(b)); }
void upload(llm4all_backend_ctx *, void *dst, const void *src, size_t bytes) { std::memmove(host(dst), src, bytes); }
void download(llm4all_backend_ctx *, void *dst, const void *src, size_t bytes) { std::memmove(dst, host(src), bytes); }
void *device_alloc(int32_t, size_t bytes) { return dev(g_cpu->device_alloc(0, bytes)); }
void device_free(int32_t, void *b) { g_cpu->device_free(0, host(b)); }
int32_t device_upload(int32_t, void *dst, const void *src, size_t bytes) {
    std::memmove(host(dst), src, bytes);
    return 0;
}
int32_t synchronize(llm4all_backend_ctx *) { return 0; }
const char *last_error(llm4all_backend_ctx *) { return ""; }

int32_t mul_mat(llm4all_backend_ctx *c, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y) {
    llm4all_tensor w_h = H(w), x_h = H(x), y_h = H(y);
    return g_cpu->mul_mat(c, &w_h, &x_h, &y_h);
}
int32_t mul_mat_multi(llm4all_backend_ctx *c, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                      llm4all_tensor *const *y) {
    if (n < 0 || n > 8) return 1;
    llm4all_tensor wh[8], yh[8], x_h = H(x);
    const llm4all_tensor *wp[8];
    llm4all_tensor *yp[8];
    for (int32_t j = 0; j < n; ++j) wh[j] = H(w[j]), yh[j] = H(y[j]), wp[j] = &wh[j], yp[j] = &yh[j];
    return g_cpu->mul_mat_multi(c, n, wp, &x_h, yp);
}
int32_t get_rows(llm4all_backend_ctx *c, const llm4all_tensor *w, const int32_t *ids, int64_t n, llm4all_tensor *y) {
    llm4all_tensor w_h = H(w), y_h = H(y);
    return g_cpu->get_rows(c, &w_h, ids, n, &y_h);
}
int32_t rms_norm(llm4all_backend_ctx *c, const llm4all_tensor *x, const llm4all_tensor *weight, float eps,
                 llm4all_tensor *y) {
    llm4all_tensor x_h = H(x), y_h = H(y), weight_h = weight ? H(weight) : llm4all_tensor{};
    return g_cpu->rms_norm(c, &x_h, HP(weight), eps, &y_h);
}
int32_t layer_norm(llm4all_backend_ctx *c, const llm4all_tensor *x, const llm4all_tensor *weight,
                   const llm4all_tensor *bias, float eps, llm4all_tensor *y) {
    llm4all_tensor x_h = H(x), y_h = H(y), weight_h = weight ? H(weight) : llm4all_tensor{},
                   bias_h = bias ? H(bias) : llm4all_tensor{};
    return g_cpu->layer_norm(c, &x_h, HP(weight), HP(bias), eps, &y_h);
}
int32_t rope(llm4all_backend_ctx *c, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float base, float scale,
             int32_t mode) {
    llm4all_tensor x_h = H(x);
    return g_cpu->rope(c, &x_h, pos, n_rot, base, scale, mode);
}
int32_t rope_ext(llm4all_backend_ctx *c, llm4all_tensor *x, const int32_t *pos, int32_t n_rot, float base,
                 float scale, int32_t mode, const float *ff, float mscale) {
    llm4all_tensor x_h = H(x);
    return g_cpu->rope_ext(c, &x_h, pos, n_rot, base, scale, mode, ff, mscale);
}
int32_t attention(llm4all_backend_ctx *c, const llm4all_tensor *q, const llm4all_tensor *k, const llm4all_tensor *v,
                  int32_t n_kv, const int32_t *pos, float scale, llm4all_tensor *out) {
    llm4all_tensor q_h = H(q), k_h = H(k), v_h = H(v), o_h = H(out);
    return g_cpu->attention(c, &q_h, &k_h, &v_h, n_kv, pos, scale, &o_h);
}
int32_t attention_ext(llm4all_backend_ctx *c, const llm4all_tensor *q, const llm4all_tensor *k,
                      const llm4all_tensor *v, int32_t n_kv, const int32_t *pos, float scale, int32_t n_swa,
                      float softcap, llm4all_tensor *out) {
    llm4all_tensor q_h = H(q), k_h = H(k), v_h = H(v), o_h = H(out);
    return g_cpu->attention_ext(c, &q_h, &k_h, &v_h, n_kv, pos, scale, n_swa, softcap, &o_h);
}
int32_t attention_span(llm4all_backend_ctx *c, const llm4all_tensor *q, const llm4all_tensor *k,
                       const llm4all_tensor *v, int32_t n_kv, const int32_t *first, const int32_t *last, float scale,
                       llm4all_tensor *out) {
    llm4all_tensor q_h = H(q), k_h = H(k), v_h = H(v), o_h = H(out);
    return g_cpu->attention_span(c, &q_h, &k_h, &v_h, n_kv, first, last, scale, &o_h);
}
using Binary = int32_t (*)(llm4all_backend_ctx *, const llm4all_tensor *, const llm4all_tensor *, llm4all_tensor *);
int32_t binary(Binary f, llm4all_backend_ctx *c, const llm4all_tensor *a, const llm4all_tensor *b,
               llm4all_tensor *y) {
    llm4all_tensor a_h = H(a), b_h = H(b), y_h = H(y);
    return f(c, &a_h, &b_h, &y_h);
}
int32_t swiglu(llm4all_backend_ctx *c, const llm4all_tensor *g, const llm4all_tensor *u, llm4all_tensor *y) {
    return binary(g_cpu->swiglu, c, g, u, y);
}
int32_t geglu(llm4all_backend_ctx *c, const llm4all_tensor *g, const llm4all_tensor *u, llm4all_tensor *y) {
    return binary(g_cpu->geglu, c, g, u, y);
}
int32_t add(llm4all_backend_ctx *c, const llm4all_tensor *a, const llm4all_tensor *b, llm4all_tensor *y) {
    return binary(g_cpu->add, c, a, b, y);
}
int32_t scale(llm4all_backend_ctx *c, const llm4all_tensor *x, float s, llm4all_tensor *y) {
    llm4all_tensor x_h = H(x), y_h = H(y);
    return g_cpu->scale(c, &x_h, s, &y_h);
}
int32_t gelu(llm4all_backend_ctx *c, const llm4all_tensor *x, llm4all_tensor *y) {
    llm4all_tensor x_h = H(x), y_h = H(y);
    return g_cpu->gelu(c, &x_h, &y_h);
}
int32_t store_rows(llm4all_backend_ctx *c, const llm4all_tensor *src, llm4all_tensor *dst, int64_t row) {
    llm4all_tensor s_h = H(src), d_h = H(dst);
    return g_cpu->store_rows(c, &s_h, &d_h, row);
}

} // namespace

extern "C" __attribute__((visibility("default"))) int32_t llm4all_backend_score(void) { return 1; }

extern "C" __attribute__((visibility("default"))) const llm4all_backend_iface *
llm4all_backend_init(llm4all_backend_log_fn log) {
    void *h = dlopen(LLM4ALL_SHADOW_CPU_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    auto init = h ? reinterpret_cast<llm4all_backend_init_fn>(dlsym(h, "llm4all_backend_init")) : nullptr;
    g_cpu = init ? init(log) : nullptr;
    if (!g_cpu) return nullptr;
    static const llm4all_backend_iface table = {
        .api_version = LLM4ALL_BACKEND_API_VERSION,
        .size = sizeof(llm4all_backend_iface),
        .name = "shadow",
        .variant = "test",
        .device_count = device_count,
        .device_info = device_info,
        .supports = supports,
        .ctx_new = ctx_new,
        .ctx_free = ctx_free,
        .buffer_alloc = buffer_alloc,
        .buffer_free = buffer_free,
        .upload = upload,
        .download = download,
        .mul_mat = mul_mat,
        .get_rows = get_rows,
        .rms_norm = rms_norm,
        .rope = rope,
        .attention = attention,
        .swiglu = swiglu,
        .add = add,
        .store_rows = store_rows,
        .geglu = geglu,
        .scale = scale,
        .attention_ext = attention_ext,
        .mul_mat_multi = mul_mat_multi,
        .layer_norm = layer_norm,
        .gelu = gelu,
        .attention_span = attention_span,
        .rope_ext = rope_ext,
        .device_alloc = device_alloc,
        .device_free = device_free,
        .device_upload = device_upload,
        .synchronize = synchronize,
        .device_supports = device_supports,
        .last_error = last_error,
    };
    return &table;
}
