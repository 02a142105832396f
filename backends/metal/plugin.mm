// plugin.mm — the Metal backend's plugin entry points: score/refusal (is there a
// Metal device?), the function table, devices, memory and contexts (as
// backends/vulkan/plugin.cpp). Ops live in ops.mm, rope_attention.mm and matmul.mm.
// Every entry point catches C++ and Objective-C exceptions (protect/guarded).
#include <cstring>
#include <new>
#include <string>

#include "context.h"
#include "llm4all/llm4all.h"  // log levels
#include "ops.h"

namespace llm4all::mt {

namespace {
llm4all_backend_log_fn g_log = nullptr;
} // namespace

void log(int32_t level, const std::string &message) {
    if (g_log) g_log(level, message.c_str());
}

namespace {

int32_t device_count() {
    int32_t n = 0;
    protect(nullptr, [&] {
        Instance *inst = instance(nullptr);
        n = inst ? int32_t(inst->devices.size()) : 0;
    });
    return n;
}

bool device_info(int32_t index, llm4all_device_info *out) {
    Device *d = device(index);
    if (!d || !out) return false;
    return protect(nullptr, [&] {
        out->name = d->name().c_str();
        out->kind = "metal";
        d->memory(&out->memory_total, &out->memory_free);
        out->caps = d->caps();
        out->description = d->description().c_str();
    });
}

bool supports(llm4all_op op, int32_t type) {
    switch (op) {
    case LLM4ALL_OP_MUL_MAT: return mul_mat_supports(type);
    case LLM4ALL_OP_GET_ROWS: return get_rows_supported(type);
    case LLM4ALL_OP_RMS_NORM:
    case LLM4ALL_OP_ROPE:
    case LLM4ALL_OP_SWIGLU:
    case LLM4ALL_OP_GEGLU:
    case LLM4ALL_OP_SCALE:
    case LLM4ALL_OP_LAYER_NORM:
    case LLM4ALL_OP_GELU:
    case LLM4ALL_OP_ADD: return type == LLM4ALL_TYPE_F32;
    case LLM4ALL_OP_ATTENTION:
    case LLM4ALL_OP_ATTENTION_SPAN:
    case LLM4ALL_OP_ATTENTION_EXT: return type == LLM4ALL_TYPE_F32 || type == LLM4ALL_TYPE_F16;
    default: return false;
    }
}

bool device_supports(int32_t index, llm4all_op op, int32_t type) { return device(index) && supports(op, type); }

llm4all_backend_ctx *ctx_new(int32_t index, int32_t) {
    Device *d = device(index);
    if (!d) {
        log(LLM4ALL_LOG_ERROR, "metal backend: no device " + std::to_string(index));
        return nullptr;
    }
    llm4all_backend_ctx *ctx = nullptr;
    std::string why;
    if (!protect(&why, [&] { ctx = new llm4all_backend_ctx(d); })) {
        log(LLM4ALL_LOG_ERROR, "metal backend: cannot create a context on " + d->name() + ": " + why);
        return nullptr;
    }
    return ctx;
}

void ctx_free(llm4all_backend_ctx *ctx) {
    protect(nullptr, [&] { delete ctx; });
}

void *to_ptr(uint64_t addr) { return reinterpret_cast<void *>(uintptr_t(addr)); }
uint64_t to_addr(const void *p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); }

void *buffer_alloc(llm4all_backend_ctx *ctx, size_t bytes) {
    if (!ctx) return nullptr;
    void *p = nullptr;
    std::string why;
    if (!protect(&why, [&] { p = to_ptr(ctx->dev->alloc(bytes)); })) {
        ctx->error = "metal buffer_alloc: " + why;
        log(LLM4ALL_LOG_ERROR, ctx->error);
        return nullptr;
    }
    return p;
}

void buffer_free(llm4all_backend_ctx *ctx, void *buffer) {
    if (!ctx || !buffer) return;
    // Encoded ops that use it keep it alive (command buffers retain their buffers).
    guarded(ctx, "buffer_free", [&] { ctx->dev->free(to_addr(buffer)); });
}

void upload(llm4all_backend_ctx *ctx, void *dst, const void *src, size_t bytes) {
    guarded(ctx, "upload", [&] { ctx->upload(dst, src, bytes); });
}

void download(llm4all_backend_ctx *ctx, void *dst, const void *src, size_t bytes) {
    guarded(ctx, "download", [&] { ctx->download(dst, src, bytes); });
}

void *device_alloc(int32_t index, size_t bytes) {
    Device *d = device(index);
    if (!d) return nullptr;
    void *p = nullptr;
    std::string why;
    if (!protect(&why, [&] { p = to_ptr(d->alloc(bytes)); })) {
        log(LLM4ALL_LOG_ERROR, "metal device_alloc: " + why);
        return nullptr;
    }
    return p;
}

void device_free(int32_t index, void *buffer) {
    Device *d = device(index);
    if (!d || !buffer) return;
    std::string why;
    if (!protect(&why, [&] { d->free(to_addr(buffer)); })) log(LLM4ALL_LOG_ERROR, "metal device_free: " + why);
}

int32_t device_upload(int32_t index, void *dst, const void *src, size_t bytes) {
    Device *d = device(index);
    if (!d) return 1;
    std::string why;
    if (!protect(&why, [&] { d->upload(to_addr(dst), src, bytes); })) {
        log(LLM4ALL_LOG_ERROR, "metal device_upload: " + why);
        return 1;
    }
    return 0;
}

int32_t synchronize(llm4all_backend_ctx *ctx) {
    return guarded(ctx, "synchronize", [&] { ctx->synchronize(); });
}

const char *last_error(llm4all_backend_ctx *ctx) { return ctx ? ctx->error.c_str() : ""; }

} // namespace

} // namespace llm4all::mt

extern "C" __attribute__((visibility("default"))) int32_t llm4all_backend_score(void) {
    return llm4all::mt::instance(nullptr) ? 100 : 0;
}

extern "C" __attribute__((visibility("default"))) const char *llm4all_backend_refusal(void) {
    static thread_local std::string why;
    why.clear();
    llm4all::mt::instance(&why);
    return why.c_str();
}

extern "C" __attribute__((visibility("default"))) const llm4all_backend_iface *
llm4all_backend_init(llm4all_backend_log_fn log_fn) {
    using namespace llm4all::mt;
    static const llm4all_backend_iface table = {
        .api_version = LLM4ALL_BACKEND_API_VERSION,
        .size = sizeof(llm4all_backend_iface),
        .name = "metal",
        .variant = "default",
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
        .attention_batch = nullptr,   // sequences attend one call each
    };
    g_log = log_fn;
    return &table;
}
