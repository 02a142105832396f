// plugin.cpp — the CPU backend's plugin entry point: the function table, the
// device description, host "buffers" and per-session contexts. The same
// sources are built once per ISA level; LLM4ALL_CPU_VARIANT names this build.
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "cpu.h"
#include "platform/platform.h"
#include "quants.h"

#ifndef LLM4ALL_CPU_VARIANT
#error "LLM4ALL_CPU_VARIANT must name the build variant (generic, avx2, ...)"
#endif
#ifndef LLM4ALL_CPU_DISPLAY
#error "LLM4ALL_CPU_DISPLAY must name the device, e.g. \"CPU (AVX2)\""
#endif

namespace llm4all::cpu {

namespace {

// Plain pointer, constant-initialised: nothing in this (ISA-specific) file may
// run code when the library is merely loaded on a machine it cannot serve.
llm4all_backend_log_fn g_log = nullptr;

int32_t device_count() { return 1; }

bool device_info(int32_t device, llm4all_device_info *out) {
    if (device != 0 || !out) return false;
    out->name = LLM4ALL_CPU_DISPLAY;
    out->kind = "cpu";
    out->memory_total = llm4all::platform::physical_memory();
    out->memory_free = llm4all::platform::free_physical_memory();
    out->caps = LLM4ALL_CAP_HOST_MEMORY;
    out->description = "";
    return true;
}

bool supports(llm4all_op op, int32_t type) {
    switch (op) {
    case LLM4ALL_OP_MUL_MAT:
    case LLM4ALL_OP_GET_ROWS: return type_supported(type);
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

llm4all_backend_ctx *ctx_new(int32_t device, int32_t n_threads) {
    if (device != 0) {
        log(LLM4ALL_LOG_ERROR, "cpu backend: only device 0 exists");
        return nullptr;
    }
    if (n_threads <= 0) {
        unsigned hw = std::thread::hardware_concurrency();
        n_threads = hw ? int32_t(hw) : 1;
    }
    try {
        return new llm4all_backend_ctx(n_threads);
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, (std::string("cpu backend: cannot create context: ") + e.what()).c_str());
        return nullptr;
    }
}

void ctx_free(llm4all_backend_ctx *ctx) { delete ctx; }

// Host memory, 64-byte aligned for the SIMD kernels.
void *buffer_alloc(llm4all_backend_ctx *, size_t bytes) {
    return llm4all::platform::alloc_aligned(64, bytes);
}
void buffer_free(llm4all_backend_ctx *, void *buffer) { llm4all::platform::free_aligned(buffer); }
void copy(llm4all_backend_ctx *, void *dst, const void *src, size_t bytes) {
    if (bytes) std::memmove(dst, src, bytes);
}

// Weights on the CPU are normally views of the mapped file; this memory is for
// what the core must hold itself (e.g. a layer kept on the CPU beside a GPU).
void *device_alloc(int32_t device, size_t bytes) { return device == 0 ? buffer_alloc(nullptr, bytes) : nullptr; }
void device_free(int32_t, void *buffer) { llm4all::platform::free_aligned(buffer); }
int32_t device_upload(int32_t, void *dst, const void *src, size_t bytes) {
    if (bytes) std::memmove(dst, src, bytes);
    return 0;
}
// Every op has finished when it returns.
int32_t synchronize(llm4all_backend_ctx *) { return 0; }
bool device_supports(int32_t device, llm4all_op op, int32_t type) { return device == 0 && supports(op, type); }
const char *last_error(llm4all_backend_ctx *) { return ""; }

} // namespace

void log(int32_t level, const char *message) {
    if (g_log) g_log(level, message);
}

} // namespace llm4all::cpu

extern "C" LLM4ALL_BACKEND_EXPORT const llm4all_backend_iface *
llm4all_backend_init(llm4all_backend_log_fn log_fn) {
    using namespace llm4all::cpu;
    // Aggregate of constants and function addresses: initialised at load time
    // without running code, so loading stays safe on any CPU.
    static const llm4all_backend_iface table = {
        .api_version = LLM4ALL_BACKEND_API_VERSION,
        .size = sizeof(llm4all_backend_iface),
        .name = "cpu",
        .variant = LLM4ALL_CPU_VARIANT,
        .device_count = device_count,
        .device_info = device_info,
        .supports = supports,
        .ctx_new = ctx_new,
        .ctx_free = ctx_free,
        .buffer_alloc = buffer_alloc,
        .buffer_free = buffer_free,
        .upload = copy,
        .download = copy,
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
        .attention_batch = attention_batch,
    };
    g_log = log_fn;
    return &table;
}
