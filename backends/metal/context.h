// context.h — the per-session Metal context (llm4all_backend_ctx) and the API every
// op is written against (as backends/vulkan/context.h): resolve() turns an address
// from the core into a buffer binding, host_array() makes a per-call host array
// (ids, pos, ...) readable by a kernel, dispatch() encodes one kernel run.
// Each context has its own command queue; ops are encoded into one command buffer
// (a serial compute encoder: each dispatch sees the writes of the ones before it),
// committed every k_commit_dispatches and by synchronize() and download(), which wait.
// Contexts of one device share buffers (a batch writes other sessions' KV caches):
// the core ends every forward pass with a download, so work of one context is done
// before another reads what it wrote.
//
// Writing an op (see ops.mm):
//     Binding x = ctx->resolve(t->data, bytes), y = ctx->resolve(...);
//     struct { uint32_t n, x_off, y_off; float s; } pc{n, x.elem(4), y.elem(4), s};
//     ctx->dispatch("scale", {x, y}, &pc, sizeof pc, gx, gy, 1, 256);
// Buffers are bound at indices 0..n-1 in the order given, the push constants (at
// most 4 KiB, setBytes) at index n. A binding starts at an offset aligned down to
// 16 bytes, so the kernel adds the binding's skew (elem(size): the address's distance
// from that offset in elements of `size` bytes, passed in the push constants) to
// every index, exactly as the Vulkan shaders do.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "device.h"

namespace llm4all::mt {

struct Binding {
    id<MTLBuffer> buffer = nil;
    NSUInteger offset = 0;  // aligned to 16 bytes
    uint32_t skew = 0;      // bytes from offset to the address resolved
    // The skew in elements of elem_bytes (4 for F32 data, 2 for F16, 1 for bytes);
    // throws when the address is not a multiple of elem_bytes past the aligned offset.
    uint32_t elem(uint32_t elem_bytes) const;
};

} // namespace llm4all::mt

struct llm4all_backend_ctx {
    explicit llm4all_backend_ctx(llm4all::mt::Device *device);
    ~llm4all_backend_ctx();

    llm4all::mt::Device *dev;
    std::string error;  // last_error(); "" when the last op succeeded

    // The allocation (of this ctx's device) holding [addr, addr + bytes) as a binding;
    // throws a Failure saying what is wrong (unknown address, range past the end, a
    // range past max_binding_bytes(), which the kernels' 32-bit indices cannot reach).
    llm4all::mt::Binding resolve(const void *addr, size_t bytes);
    uint64_t max_binding_bytes() const { return dev->max_binding_bytes(); }
    // A copy of a small host array (ids, pos, first/last, freq_factors) in a shared
    // buffer (skew 0); the command buffer keeps it alive until it has run.
    llm4all::mt::Binding host_array(const void *data, size_t bytes);
    // Device scratch memory of at least `bytes` owned by this ctx (contents undefined),
    // valid until the next scratch() call (attention's split partials).
    llm4all::mt::Binding scratch(size_t bytes);
    // Encodes kernel `kernel` (a variant of shaders.h) with the given bindings and push
    // constants: gx*gy*gz threadgroups of `threads` threads (the kernel's threadgroup
    // size, which its source assumes). Throws a Failure.
    void dispatch(const char *kernel, std::initializer_list<llm4all::mt::Binding> bindings, const void *push,
                  size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t threads);
    // Splits n threadgroups into gx * gy with gx <= 65535; the kernel rebuilds the index
    // with flat_group() (shaders/common.h) and skips indices >= n.
    void groups_2d(uint64_t n, uint32_t *gx, uint32_t *gy) const;

    // Host <-> device copies ordered with the encoded ops.
    void upload(void *dst, const void *src, size_t bytes);
    void download(void *dst, const void *src, size_t bytes);
    // Commits what is encoded and waits for it; throws if the GPU reported an error.
    void synchronize();
    // Called by guarded() before every op: commits a command buffer that has grown
    // large, so the GPU works while the next ops are encoded.
    void op_begin();

private:
    id<MTLComputeCommandEncoder> encoder();  // opens the command buffer / encoder if needed
    void end_encoder();
    void commit();        // ends and commits the open command buffer (no wait)
    bool pending();       // work encoded or committed and not yet complete

    id<MTLCommandQueue> queue_ = nil;
    id<MTLCommandBuffer> cb_ = nil;            // open: ops encoded, not committed
    id<MTLComputeCommandEncoder> enc_ = nil;   // open on cb_
    std::vector<id<MTLCommandBuffer>> inflight_;  // committed, not yet waited for
    uint32_t n_dispatch_ = 0;                  // dispatches in cb_
    uint64_t scratch_addr_ = 0;                // scratch(): an allocation of the device's address table
    size_t scratch_bytes_ = 0;
};

namespace llm4all::mt {

// Runs an op body on ctx: clears last_error, turns a thrown exception (C++ or
// Objective-C) into status 1 and last_error "metal <op>: <message>" (also logged).
// Every table entry goes through it.
int32_t guarded(llm4all_backend_ctx *ctx, const char *op, const std::function<void()> &body);

} // namespace llm4all::mt
