// plugin.cpp — the Vulkan backend's plugin entry points: score/refusal (is there
// a loader and a device?), the function table, devices, memory and contexts.
// Ops live in ops.cpp (element-wise, norms, rope, attention) and matmul.cpp.
#include <cstring>
#include <new>
#include <string>

#include "context.h"
#include "llm4all/llm4all.h"  // log levels
#include "ops.h"
#include "probe.h"

namespace llm4all::vk {

namespace {
llm4all_backend_log_fn g_log = nullptr;
} // namespace

void log(int32_t level, const std::string &message) {
    if (g_log) g_log(level, message.c_str());
}

// Until matmul.cpp provides them (its definitions replace these weak ones at link time).
__attribute__((weak)) bool mul_mat_supports(int32_t) { return false; }
__attribute__((weak)) int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *, const llm4all_tensor *,
                                      llm4all_tensor *) {
    return guarded(ctx, "mul_mat", [] { fail("not built into this plugin"); });
}
__attribute__((weak)) int32_t mul_mat_multi(llm4all_backend_ctx *ctx, int32_t, const llm4all_tensor *const *,
                                            const llm4all_tensor *, llm4all_tensor *const *) {
    return guarded(ctx, "mul_mat_multi", [] { fail("not built into this plugin"); });
}

namespace {

// Until a device is used, the child's answer (probe.h) describes them, so listing
// devices or skipping emulated ones never loads a driver here.
bool use_probe() { return !instance_started() && probe().ran; }

int32_t device_count() {
    if (use_probe()) return int32_t(probe().devices.size());
    Instance *inst = instance(nullptr);
    return inst ? int32_t(inst->devices.size()) : 0;
}

bool device_info(int32_t index, llm4all_device_info *out) {
    // An emulated device is described from the probe; a real one is about to be used
    // ("auto" picks it), so its fresh memory figures come from the driver itself.
    if (use_probe() && out && index >= 0 && size_t(index) < probe().devices.size() &&
        (probe().devices[size_t(index)].caps & LLM4ALL_CAP_EMULATED)) {
        const ProbedDevice &p = probe().devices[size_t(index)];
        out->name = p.name.c_str();
        out->kind = "vulkan";
        out->memory_total = p.memory_total;
        out->memory_free = p.memory_free;
        out->caps = p.caps;
        out->description = p.description.c_str();
        return true;
    }
    Device *d = device(index);
    if (!d || !out) return false;
    out->name = d->name().c_str();
    out->kind = "vulkan";
    d->memory(&out->memory_total, &out->memory_free);
    out->caps = d->caps();
    out->description = d->description().c_str();
    return true;
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

// Every device runs the same shaders: no need to open one (or load its driver) to answer.
bool device_supports(int32_t index, llm4all_op op, int32_t type) {
    return index >= 0 && index < device_count() && supports(op, type);
}

llm4all_backend_ctx *ctx_new(int32_t index, int32_t) {
    Device *d = device(index);
    if (!d) {
        log(LLM4ALL_LOG_ERROR, "vulkan backend: no device " + std::to_string(index));
        return nullptr;
    }
    try {
        return new llm4all_backend_ctx(d);
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, std::string("vulkan backend: cannot create a context on ") + d->name() + ": " + e.what());
        return nullptr;
    }
}

void ctx_free(llm4all_backend_ctx *ctx) { delete ctx; }

void *to_ptr(uint64_t addr) { return reinterpret_cast<void *>(uintptr_t(addr)); }
uint64_t to_addr(const void *p) { return uint64_t(reinterpret_cast<uintptr_t>(p)); }

void *buffer_alloc(llm4all_backend_ctx *ctx, size_t bytes) {
    if (!ctx) return nullptr;
    try {
        return to_ptr(ctx->dev->alloc(bytes));
    } catch (const std::exception &e) {
        ctx->error = std::string("vulkan buffer_alloc: ") + e.what();
        log(LLM4ALL_LOG_ERROR, ctx->error);
        return nullptr;
    }
}

void buffer_free(llm4all_backend_ctx *ctx, void *buffer) {
    if (!ctx || !buffer) return;
    // Recorded ops may still use it: run them first.
    guarded(ctx, "buffer_free", [&] {
        ctx->synchronize();
        ctx->dev->free(to_addr(buffer));
    });
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
    try {
        return to_ptr(d->alloc(bytes));
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, std::string("vulkan device_alloc: ") + e.what());
        return nullptr;
    }
}

void device_free(int32_t index, void *buffer) {
    Device *d = device(index);
    if (!d || !buffer) return;
    try {
        d->free(to_addr(buffer));
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, std::string("vulkan device_free: ") + e.what());
    }
}

int32_t device_upload(int32_t index, void *dst, const void *src, size_t bytes) {
    Device *d = device(index);
    if (!d) return 1;
    try {
        d->upload(to_addr(dst), src, bytes);
        return 0;
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, std::string("vulkan device_upload: ") + e.what());
        return 1;
    }
}

int32_t synchronize(llm4all_backend_ctx *ctx) {
    return guarded(ctx, "synchronize", [&] { ctx->synchronize(); });
}

const char *last_error(llm4all_backend_ctx *ctx) { return ctx ? ctx->error.c_str() : ""; }

} // namespace

} // namespace llm4all::vk

extern "C" __attribute__((visibility("default"))) int32_t llm4all_backend_score(void) {
    const llm4all::vk::Probe &p = llm4all::vk::probe();
    if (p.ran) return p.devices.empty() ? 0 : 100;
    return llm4all::vk::instance(nullptr) ? 100 : 0;
}

extern "C" __attribute__((visibility("default"))) const char *llm4all_backend_refusal(void) {
    static thread_local std::string why;
    why.clear();
    const llm4all::vk::Probe &p = llm4all::vk::probe();
    if (p.ran)
        why = p.problem;
    else
        llm4all::vk::instance(&why);
    return why.c_str();
}

extern "C" __attribute__((visibility("default"))) const llm4all_backend_iface *
llm4all_backend_init(llm4all_backend_log_fn log_fn) {
    using namespace llm4all::vk;
    static const llm4all_backend_iface table = {
        .api_version = LLM4ALL_BACKEND_API_VERSION,
        .size = sizeof(llm4all_backend_iface),
        .name = "vulkan",
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
