// context.mm — the per-session context: command buffers and encoders, resolve(),
// host_array() and dispatch(), uploads and downloads (see context.h for the API ops
// are written against).
#include "context.h"

#include <algorithm>
#include <cstring>

namespace llm4all::mt {

namespace {
constexpr uint32_t k_commit_dispatches = 128;  // op_begin commits a command buffer past this many
constexpr uint64_t k_max_groups = 65535;       // per grid dimension, as the Vulkan plugin assumes
constexpr NSUInteger k_max_bindings = 30;      // buffer indices 0..30, the push constants last
constexpr size_t k_max_push = 4096;            // setBytes' limit

inline size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }
} // namespace

uint32_t Binding::elem(uint32_t elem_bytes) const {
    if (elem_bytes > 1 && skew % elem_bytes)
        fail("address is not aligned to its " + std::to_string(elem_bytes) + "-byte elements");
    return skew / elem_bytes;
}

int32_t guarded(llm4all_backend_ctx *ctx, const char *op, const std::function<void()> &body) {
    if (!ctx) return 1;
    ctx->error.clear();
    std::string why;
    if (protect(&why, [&] {
            ctx->op_begin();
            body();
        }))
        return 0;
    ctx->error = std::string("metal ") + op + ": " + why;
    log(3 /* LLM4ALL_LOG_ERROR */, ctx->error);
    return 1;
}

} // namespace llm4all::mt

using namespace llm4all::mt;

llm4all_backend_ctx::llm4all_backend_ctx(Device *device) : dev(device) {
    queue_ = [dev->handle() newCommandQueue];
    if (!queue_) fail("cannot create a Metal command queue on " + dev->name());
}

llm4all_backend_ctx::~llm4all_backend_ctx() {
    protect(nullptr, [&] {
        synchronize();
        if (scratch_addr_) dev->free(scratch_addr_);
    });
}

Binding llm4all_backend_ctx::scratch(size_t bytes) {
    if (bytes > scratch_bytes_) {
        // Encoded work that still uses the old buffer keeps it alive (command buffers
        // retain their buffers), so it can go at once.
        const size_t want = std::max(bytes, scratch_bytes_ * 2);
        if (scratch_addr_) dev->free(scratch_addr_);
        scratch_addr_ = 0;
        scratch_bytes_ = 0;
        scratch_addr_ = dev->alloc(want);
        scratch_bytes_ = want;
    }
    return resolve(reinterpret_cast<const void *>(uintptr_t(scratch_addr_)), bytes);
}

Binding llm4all_backend_ctx::resolve(const void *addr, size_t bytes) {
    const uint64_t a_addr = uint64_t(reinterpret_cast<uintptr_t>(addr));
    const Allocation &a = dev->find(a_addr, bytes);
    const uint64_t off = a_addr - a.addr;
    Binding b;
    b.buffer = a.buffer;
    b.offset = NSUInteger(off - off % 16);
    b.skew = uint32_t(off - b.offset);
    if (b.skew + uint64_t(bytes) > dev->max_binding_bytes())
        fail("a binding of " + std::to_string(bytes) + " bytes is larger than the kernels can index (" +
             std::to_string(dev->max_binding_bytes()) + ")");
    return b;
}

Binding llm4all_backend_ctx::host_array(const void *data, size_t bytes) {
    Binding b;
    b.buffer = dev->staging(data, bytes);
    return b;
}

void llm4all_backend_ctx::groups_2d(uint64_t n, uint32_t *gx, uint32_t *gy) const {
    if (n <= k_max_groups) {
        *gx = uint32_t(std::max<uint64_t>(n, 1));
        *gy = 1;
        return;
    }
    const uint64_t y = (n + k_max_groups - 1) / k_max_groups;
    if (y > k_max_groups) fail("too many threadgroups for one dispatch");
    *gy = uint32_t(y);
    *gx = uint32_t((n + y - 1) / y);
}

id<MTLComputeCommandEncoder> llm4all_backend_ctx::encoder() {
    if (!cb_) {
        cb_ = [queue_ commandBuffer];
        if (!cb_) fail("cannot create a Metal command buffer");
        n_dispatch_ = 0;
    }
    if (!enc_) {
        // Serial dispatch (the default): each dispatch sees the writes of those before it.
        enc_ = [cb_ computeCommandEncoder];
        if (!enc_) fail("cannot create a Metal compute encoder");
    }
    return enc_;
}

void llm4all_backend_ctx::end_encoder() {
    if (enc_) [enc_ endEncoding];
    enc_ = nil;
}

void llm4all_backend_ctx::commit() {
    if (!cb_) return;
    end_encoder();
    [cb_ commit];
    // Finished command buffers without errors need no wait: drop them.
    inflight_.erase(std::remove_if(inflight_.begin(), inflight_.end(),
                                   [](id<MTLCommandBuffer> c) { return [c status] == MTLCommandBufferStatusCompleted; }),
                    inflight_.end());
    inflight_.push_back(cb_);
    cb_ = nil;
    n_dispatch_ = 0;
}

bool llm4all_backend_ctx::pending() {
    if (cb_) return true;
    for (id<MTLCommandBuffer> c : inflight_)
        if ([c status] != MTLCommandBufferStatusCompleted) return true;
    return false;
}

void llm4all_backend_ctx::synchronize() {
    commit();
    std::string err;
    for (id<MTLCommandBuffer> c : inflight_) {
        [c waitUntilCompleted];
        if ([c status] == MTLCommandBufferStatusError && err.empty()) err = text([c error]);
    }
    inflight_.clear();
    if (!err.empty()) fail("the GPU failed a command buffer: " + err);
}

void llm4all_backend_ctx::op_begin() {
    if (n_dispatch_ >= k_commit_dispatches) commit();
}

void llm4all_backend_ctx::dispatch(const char *kernel, std::initializer_list<Binding> bindings, const void *push,
                                   size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t threads) {
    if (bindings.size() > k_max_bindings) fail(std::string(kernel) + ": more than 30 bindings");
    if (push_bytes > k_max_push) fail(std::string(kernel) + ": push constants over 4 KiB");
    if (!gx || !gy || !gz) return;
    id<MTLComputePipelineState> ps = dev->pipeline(kernel);
    if (threads > [ps maxTotalThreadsPerThreadgroup])
        fail(std::string(kernel) + " needs " + std::to_string(threads) + " threads per threadgroup; this device allows " +
             std::to_string(uint64_t([ps maxTotalThreadsPerThreadgroup])));
    id<MTLComputeCommandEncoder> enc = encoder();
    [enc setComputePipelineState:ps];
    NSUInteger i = 0;
    for (const Binding &b : bindings) {
        if (!b.buffer) fail(std::string(kernel) + ": binding " + std::to_string(uint64_t(i)) + " has no buffer");
        [enc setBuffer:b.buffer offset:b.offset atIndex:i];
        ++i;
    }
    if (push_bytes) [enc setBytes:push length:push_bytes atIndex:i];
    [enc dispatchThreadgroups:MTLSizeMake(gx, gy, gz) threadsPerThreadgroup:MTLSizeMake(threads, 1, 1)];
    ++n_dispatch_;
}

void llm4all_backend_ctx::upload(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    const uint64_t d_addr = uint64_t(reinterpret_cast<uintptr_t>(dst));
    const Allocation &a = dev->find(d_addr, bytes);
    const size_t off = size_t(d_addr - a.addr);
    if (a.contents && !pending()) {
        // Nothing queued can still read the old bytes: a plain copy.
        std::memcpy(static_cast<uint8_t *>(a.contents) + off, src, bytes);
        return;
    }
    // Ordered after the encoded ops: a blit from a shared copy in the same command
    // buffer. Blits on macOS move whole 4-byte words: an unaligned range is widened
    // to the words around it, their other bytes read back first.
    const size_t lo = off & ~size_t(3), hi = round_up(off + bytes, 4);
    id<MTLBuffer> stage;
    if (lo == off && hi == off + bytes) {
        stage = dev->staging(src, bytes);
    } else {
        synchronize();
        std::vector<uint8_t> words(hi - lo);
        dev->read_words(a, lo, words.size(), words.data());
        std::memcpy(words.data() + (off - lo), src, bytes);
        stage = dev->staging(words.data(), words.size());
    }
    end_encoder();
    if (!cb_) {
        cb_ = [queue_ commandBuffer];
        if (!cb_) fail("cannot create a Metal command buffer");
        n_dispatch_ = 0;
    }
    id<MTLBlitCommandEncoder> blit = [cb_ blitCommandEncoder];
    [blit copyFromBuffer:stage sourceOffset:0 toBuffer:a.buffer destinationOffset:lo size:hi - lo];
    [blit endEncoding];
}

void llm4all_backend_ctx::download(void *dst, const void *src, size_t bytes) {
    synchronize();
    if (!bytes) return;
    const uint64_t s_addr = uint64_t(reinterpret_cast<uintptr_t>(src));
    const Allocation &a = dev->find(s_addr, bytes);
    const size_t off = size_t(s_addr - a.addr);
    if (a.contents) {
        std::memcpy(dst, static_cast<const uint8_t *>(a.contents) + off, bytes);
        return;
    }
    const size_t lo = off & ~size_t(3), hi = round_up(off + bytes, 4);  // within capacity (256-rounded)
    std::vector<uint8_t> words(hi - lo);
    dev->read_words(a, lo, words.size(), words.data());
    std::memcpy(dst, words.data() + (off - lo), bytes);
}
