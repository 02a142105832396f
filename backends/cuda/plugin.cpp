// plugin.cpp — the CUDA backend's plugin entry points: score/refusal (is there an
// NVIDIA driver and a device?), the function table, devices, memory and contexts.
// The CUDA runtime is linked statically and loads the driver (libcuda.so.1) itself
// on first use; we dlopen it first so that a machine without it gets a plain reason.
// Ops live in ops.cpp and matmul.cpp, kernels in *.cu.
#include <dlfcn.h>

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "context.h"
#include "llm4all/llm4all.h"  // log levels
#include "ops.h"

namespace llm4all::cu {

namespace {
llm4all_backend_log_fn g_log = nullptr;

// What score() found, once per process.
struct Probe {
    int count = 0;
    std::string why;  // "" when count > 0
    std::vector<std::string> names, descriptions;
    std::vector<int> cc;  // compute capability, major * 10 + minor
};

const Probe &probe() {
    static Probe p;
    static std::once_flag once;
    std::call_once(once, [] {
        if (!dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {  // kept open: the runtime uses it
            p.why = "no NVIDIA driver (libcuda.so.1)";
            return;
        }
        int n = 0;
        const cudaError_t e = cudaGetDeviceCount(&n);
        if (e != cudaSuccess || n <= 0) {
            p.why = e != cudaSuccess ? std::string("no CUDA device (") + cudaGetErrorString(e) + ")" : "no CUDA device";
            cudaGetLastError();
            return;
        }
        int driver = 0, runtime = 0;
        cudaDriverGetVersion(&driver);
        cudaRuntimeGetVersion(&runtime);
        for (int d = 0; d < n; ++d) {
            cudaDeviceProp prop{};
            if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
                cudaGetLastError();
                break;
            }
            char desc[256];
            std::snprintf(desc, sizeof desc, "compute capability %d.%d, %d SMs, driver CUDA %d.%d, runtime %d.%d",
                          prop.major, prop.minor, prop.multiProcessorCount, driver / 1000, driver % 1000 / 10,
                          runtime / 1000, runtime % 1000 / 10);
            p.names.push_back(prop.name);
            p.descriptions.push_back(desc);
            p.cc.push_back(prop.major * 10 + prop.minor);
        }
        p.count = int(p.names.size());
        if (!p.count) p.why = "no CUDA device (cannot read device properties)";
    });
    return p;
}

bool valid(int32_t device) { return device >= 0 && device < probe().count; }
} // namespace

void log(int32_t level, const std::string &message) {
    if (g_log) g_log(level, message.c_str());
}

namespace {

int32_t device_count() { return probe().count; }

bool device_info(int32_t device, llm4all_device_info *out) {
    if (!valid(device) || !out) return false;
    const Probe &p = probe();
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(device) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    out->name = p.names[size_t(device)].c_str();
    out->kind = "cuda";
    out->memory_total = total_b;
    out->memory_free = free_b;
    out->caps = p.cc[size_t(device)] >= 53 ? uint32_t(LLM4ALL_CAP_F16) : 0u;
    out->description = p.descriptions[size_t(device)].c_str();
    return true;
}

bool supports(llm4all_op op, int32_t type) {
    switch (op) {
    case LLM4ALL_OP_MUL_MAT:
    case LLM4ALL_OP_GET_ROWS: return weight_type_supported(type);
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

bool device_supports(int32_t device, llm4all_op op, int32_t type) { return valid(device) && supports(op, type); }

llm4all_backend_ctx *ctx_new(int32_t device, int32_t) {
    if (!valid(device)) {
        log(LLM4ALL_LOG_ERROR, "cuda backend: no device " + std::to_string(device));
        return nullptr;
    }
    try {
        return new llm4all_backend_ctx(device);
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, std::string("cuda backend: cannot create a context on ") + probe().names[size_t(device)] +
                                   ": " + e.what());
        return nullptr;
    }
}

void ctx_free(llm4all_backend_ctx *ctx) { delete ctx; }

// Device memory, registered so that ops can check the addresses they are given.
void *alloc(int32_t device, size_t bytes, std::string *error) {
    void *p = nullptr;
    try {
        check(cudaSetDevice(device), "cudaSetDevice");
        check(cudaMalloc(&p, bytes ? bytes : 1), ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
        register_alloc(p, bytes);
        return p;
    } catch (const std::exception &e) {
        if (p) cudaFree(p);
        *error = e.what();
        return nullptr;
    }
}

void release(int32_t device, void *p) {
    if (!p) return;
    unregister_alloc(p);
    cudaSetDevice(device);
    try {
        check(cudaStreamSynchronize(device_stream(device)), "cudaStreamSynchronize");  // queued ops may use it
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, std::string("cuda free: ") + e.what());
    }
    cudaFree(p);
    cudaGetLastError();
}

void *buffer_alloc(llm4all_backend_ctx *ctx, size_t bytes) {
    if (!ctx) return nullptr;
    std::string why;
    void *p = alloc(ctx->device, bytes, &why);
    if (!p) {
        ctx->error = "cuda buffer_alloc: " + why;
        log(LLM4ALL_LOG_ERROR, ctx->error);
    }
    return p;
}

void buffer_free(llm4all_backend_ctx *ctx, void *buffer) {
    if (ctx) release(ctx->device, buffer);
}

void upload(llm4all_backend_ctx *ctx, void *dst, const void *src, size_t bytes) {
    guarded(ctx, "upload", [&] { ctx->upload(dst, src, bytes); });
}

void download(llm4all_backend_ctx *ctx, void *dst, const void *src, size_t bytes) {
    guarded(ctx, "download", [&] { ctx->download(dst, src, bytes); });
}

void *device_alloc(int32_t device, size_t bytes) {
    if (!valid(device)) return nullptr;
    std::string why;
    void *p = alloc(device, bytes, &why);
    if (!p) log(LLM4ALL_LOG_ERROR, "cuda device_alloc: " + why);
    return p;
}

void device_free(int32_t device, void *buffer) {
    if (valid(device)) release(device, buffer);
}

// Weights at load, copied on the device's stream and waited for: the caller may free
// src on return, and the ops queued later on that stream see the whole copy (a plain
// cudaMemcpy from pageable memory may return before its DMA has finished, on the
// legacy stream, which our non-blocking stream does not wait for).
int32_t device_upload(int32_t device, void *dst, const void *src, size_t bytes) {
    if (!valid(device)) return 1;
    try {
        need(dst, bytes, "device_upload destination");
        check(cudaSetDevice(device), "cudaSetDevice");
        const cudaStream_t s = device_stream(device);
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
        check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
        return 0;
    } catch (const std::exception &e) {
        log(LLM4ALL_LOG_ERROR, std::string("cuda device_upload: ") + e.what());
        return 1;
    }
}

int32_t synchronize(llm4all_backend_ctx *ctx) {
    return guarded(ctx, "synchronize", [&] { ctx->synchronize(); });
}

const char *last_error(llm4all_backend_ctx *ctx) { return ctx ? ctx->error.c_str() : ""; }

} // namespace

} // namespace llm4all::cu

extern "C" __attribute__((visibility("default"))) int32_t llm4all_backend_score(void) {
    return llm4all::cu::probe().count > 0 ? 100 : 0;
}

extern "C" __attribute__((visibility("default"))) const char *llm4all_backend_refusal(void) {
    return llm4all::cu::probe().why.c_str();
}

extern "C" __attribute__((visibility("default"))) const llm4all_backend_iface *
llm4all_backend_init(llm4all_backend_log_fn log_fn) {
    using namespace llm4all::cu;
    static const llm4all_backend_iface table = {
        .api_version = LLM4ALL_BACKEND_API_VERSION,
        .size = sizeof(llm4all_backend_iface),
        .name = "cuda",
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
