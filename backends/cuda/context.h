// context.h — the CUDA plugin's per-session context (llm4all_backend_ctx), the
// registry of device allocations that every op checks its addresses against, and
// guarded(), which runs a table entry's body and turns any failure into a status
// and the context's last error (no exception crosses the plugin table).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "llm4all/backend.h"

namespace llm4all::cu {

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
[[noreturn]] void fail(const std::string &message);
// Throws a Failure naming what and CUDA's error string unless e is cudaSuccess.
void check(cudaError_t e, const char *what);
void log(int32_t level, const std::string &message);

// Every cudaMalloc of this plugin (weights and context buffers) is registered, so an
// op can refuse a host pointer or a range past the end of its allocation with a
// reason instead of faulting on the device.
void register_alloc(const void *p, size_t bytes);
void unregister_alloc(const void *p);
// Throws unless [p, p + bytes) lies inside one registered allocation.
void need(const void *p, size_t bytes, const char *what);

// One stream per device, shared by every context on it: the core lets a context
// read buffers another context wrote (a batch reads every session's KV cache)
// without synchronising between them, which one in-order stream guarantees.
cudaStream_t device_stream(int device);

} // namespace llm4all::cu

struct llm4all_backend_ctx {
    explicit llm4all_backend_ctx(int device);
    ~llm4all_backend_ctx();
    llm4all_backend_ctx(const llm4all_backend_ctx &) = delete;
    llm4all_backend_ctx &operator=(const llm4all_backend_ctx &) = delete;

    // A per-call host array (ids, pos, first/last, freq_factors) copied to the device
    // in stream order; the returned device pointer is valid for ops queued after it.
    const void *to_device(const void *host, size_t bytes);
    void upload(void *dst, const void *src, size_t bytes);
    void download(void *dst, const void *src, size_t bytes);
    void synchronize();

    int device;
    cudaStream_t stream;
    std::string error;

  private:
    // Pinned host staging: the caller's buffer is copied here before the async copy,
    // so it may be reused at once. Reused from the start after a stream sync.
    char *host_ring_ = nullptr;
    size_t host_size_ = 0, host_off_ = 0;
    // Device ring for per-call arrays: reusing a slot needs no sync, since the copy
    // into it is queued after every op that read its previous contents.
    char *dev_ring_ = nullptr;
    size_t dev_size_ = 0, dev_off_ = 0;
    char *stage(const void *src, size_t bytes);
};

namespace llm4all::cu {

// Runs body for table entry op on ctx: clears the last error, selects the device,
// checks the launch, and turns any exception into 1 and ctx->error.
template <class F>
int32_t guarded(llm4all_backend_ctx *ctx, const char *op, F &&body) {
    if (!ctx) return 1;
    ctx->error.clear();
    try {
        check(cudaSetDevice(ctx->device), "cudaSetDevice");
        body();
        check(cudaGetLastError(), "kernel launch");
        return 0;
    } catch (const std::exception &e) {
        ctx->error = std::string("cuda ") + op + ": " + e.what();
        return 1;
    } catch (...) {
        ctx->error = std::string("cuda ") + op + ": unknown failure";
        return 1;
    }
}

} // namespace llm4all::cu
