// context.h — the per-session Vulkan context (llm4all_backend_ctx) and the API
// every op is written against: resolve() turns an address from the core into a
// storage-buffer binding, host_array() puts a per-call host array (ids, pos, ...)
// where a shader can read it, dispatch() records one compute shader run.
// Ops are recorded into a command buffer (compute->compute barriers between
// them) and submitted by synchronize(), download(), or when the batch grows large.
//
// Writing an op (see ops.cpp):
//     Binding x = ctx->resolve(t->data, bytes), y = ctx->resolve(...);
//     struct { uint32_t n, rows, x_off, y_off; } pc{n, rows, x.elem(4), y.elem(4)};
//     ctx->dispatch("scale", {x, y}, &pc, sizeof pc, gx, gy, 1);
// Storage buffers are set 0, bindings 0..n-1 in the order given; push constants
// at most 128 bytes. A binding starts at an offset aligned down to the device's
// minStorageBufferOffsetAlignment, so the shader must add the binding's skew
// (elem(size): the address's distance from that offset in elements of `size`
// bytes, passed in the push constants) to every index.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "device.h"

namespace llm4all::vk {

struct Binding {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceSize offset = 0;  // aligned to minStorageBufferOffsetAlignment
    VkDeviceSize range = 0;   // from offset; covers skew + the bytes asked for, whole words
    uint32_t skew = 0;        // bytes from offset to the address resolved
    // The skew in elements of elem_bytes (4 for F32 data, 2 for F16, 1 for bytes);
    // throws when the address is not a multiple of elem_bytes past the aligned offset.
    uint32_t elem(uint32_t elem_bytes) const;
};

} // namespace llm4all::vk

struct llm4all_backend_ctx {
    explicit llm4all_backend_ctx(llm4all::vk::Device *device);
    ~llm4all_backend_ctx();

    llm4all::vk::Device *dev;
    std::string error;  // last_error(); "" when the last op succeeded
    bool profiling = false;  // LLM4ALL_VULKAN_PROFILE set
    void profile_add(const char *op, double seconds);

    // The allocation (of this ctx's device) holding [addr, addr + bytes) as a binding;
    // throws a Failure saying what is wrong (unknown address, range past the end, a
    // range larger than one binding may span: max_binding_bytes()).
    llm4all::vk::Binding resolve(const void *addr, size_t bytes);
    uint64_t max_binding_bytes() const { return dev->max_binding_bytes(); }
    // Copies a small host array (ids, pos, first/last, freq_factors) into this ctx's
    // upload ring and returns its binding (skew 0); valid for the current batch.
    llm4all::vk::Binding host_array(const void *data, size_t bytes);
    // Records shader `shader` (shaders/<name>.comp or a variant) with the given
    // bindings and push constants, gx*gy*gz workgroups. Throws a Failure.
    void dispatch(const char *shader, std::initializer_list<llm4all::vk::Binding> bindings, const void *push,
                  size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz);
    // Device scratch memory of at least `bytes` owned by this ctx (contents undefined),
    // e.g. partial results between two dispatches of one op. One buffer per ctx: a
    // larger request replaces it (after waiting for the work that used it), so ask
    // once per op for everything the op needs.
    llm4all::vk::Binding scratch(size_t bytes);
    // Splits n workgroups into gx * gy with gx <= the device's limit (65535 typically);
    // the shader rebuilds the index as gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x
    // and skips indices >= n.
    void groups_2d(uint64_t n, uint32_t *gx, uint32_t *gy) const;

    // Host <-> device copies ordered with the recorded ops.
    void upload(void *dst, const void *src, size_t bytes);
    void download(void *dst, const void *src, size_t bytes);
    // Submits what is recorded and waits for it.
    void synchronize();
    // Called by guarded() before every op: submits a batch that has grown large, so
    // that within one op the ring and descriptor pool never need resetting.
    void op_begin();

private:
    // Two batches ("frames") alternate: while one runs on the device the next is
    // recorded. Each has its command buffer, fence, descriptor pool and upload ring.
    struct Frame {
        VkCommandBuffer cb = VK_NULL_HANDLE;
        VkFence fence = VK_NULL_HANDLE;
        VkDescriptorPool dpool = VK_NULL_HANDLE;
        llm4all::vk::Allocation *ring = nullptr;  // host-visible: host arrays and staged uploads
        size_t ring_used = 0;
        uint32_t n_sets = 0;    // descriptor sets taken from dpool
        bool recording = false; // cb is open (commands recorded, not yet submitted)
        bool submitted = false; // on the queue, fence not yet waited for
    };
    Frame &cur() { return frames_[cur_]; }
    bool pending() const { return frames_[0].recording || frames_[0].submitted || frames_[1].recording ||
                                  frames_[1].submitted; }
    void begin();                 // opens the current frame's command buffer when it is not open
    void barrier();               // compute/transfer writes -> later reads and writes
    void submit(Frame &f);        // ends and submits f's commands (no wait)
    void retire(Frame &f);        // waits for f and makes it reusable (pool, ring, cb)
    // Submits the current frame and switches to the other (waiting for it if it still
    // runs): between ops only, since host_array() bindings point into the current ring.
    void submit_async();
    // Submits and waits for everything; resets the current frame's ring too when
    // reset_ring (never inside an op, see submit_async).
    void flush_and_wait(bool reset_ring);
    size_t ring_alloc(size_t bytes, size_t align);  // offset in the current ring

    VkCommandPool pool_ = VK_NULL_HANDLE;
    Frame frames_[2];
    int cur_ = 0;
    llm4all::vk::Allocation *readback_ = nullptr;  // host-visible, for non-mappable downloads
    uint64_t scratch_addr_ = 0;  // scratch(): an allocation of the device's address table
    size_t scratch_bytes_ = 0;
    std::map<std::string, std::pair<double, uint64_t>> profile_;  // op -> seconds, calls
};

namespace llm4all::vk {

// Runs an op body on ctx: clears last_error, turns a thrown exception into status 1
// and last_error "<op>: <message>" (also logged). Every table entry goes through it.
// With LLM4ALL_VULKAN_PROFILE=1 each op is waited for and timed; the context prints
// the totals per op to stderr when it is freed.
template <class F> int32_t guarded(llm4all_backend_ctx *ctx, const char *op, F &&body) {
    if (!ctx) return 1;
    try {
        ctx->error.clear();
        ctx->op_begin();
        if (!ctx->profiling) {
            body();
            return 0;
        }
        const auto t0 = std::chrono::steady_clock::now();
        body();
        ctx->synchronize();
        ctx->profile_add(op, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        return 0;
    } catch (const std::exception &e) {
        ctx->error = std::string("vulkan ") + op + ": " + e.what();
    } catch (...) {
        ctx->error = std::string("vulkan ") + op + ": unknown error";
    }
    log(3 /* LLM4ALL_LOG_ERROR */, ctx->error);
    return 1;
}

} // namespace llm4all::vk
