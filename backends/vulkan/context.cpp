// context.cpp — the per-session context: command recording, the upload ring,
// resolve() and dispatch() (see context.h for the API ops are written against).
#include "context.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace llm4all::vk {

namespace {
constexpr uint32_t k_max_sets = 1024;      // descriptor sets per batch
constexpr uint32_t k_max_bindings = 12;    // storage buffers per dispatch
constexpr uint32_t k_submit_sets = 128;    // op_begin submits a batch past this many dispatches
constexpr size_t k_ring_bytes = 8u << 20;  // upload ring; uploads larger than half go in chunks

inline size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }
} // namespace

uint32_t Binding::elem(uint32_t elem_bytes) const {
    if (elem_bytes > 1 && skew % elem_bytes)
        fail("address is not aligned to its " + std::to_string(elem_bytes) + "-byte elements");
    return skew / elem_bytes;
}

} // namespace llm4all::vk

using namespace llm4all::vk;

llm4all_backend_ctx::llm4all_backend_ctx(Device *device) : dev(device) {
    const char *prof = std::getenv("LLM4ALL_VULKAN_PROFILE");
    profiling = prof && *prof && std::strcmp(prof, "0") != 0;
    VkDevice d = dev->handle();
    VkCommandPoolCreateInfo pi{};
    pi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = dev->queue_family();
    check(vkCreateCommandPool(d, &pi, nullptr, &pool_), "vkCreateCommandPool");
    for (Frame &f : frames_) {
        VkCommandBufferAllocateInfo ai{};
        ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
        ai.commandPool = pool_;
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        check(vkAllocateCommandBuffers(d, &ai, &f.cb), "vkAllocateCommandBuffers");
        VkFenceCreateInfo fi{};
        fi.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
        check(vkCreateFence(d, &fi, nullptr, &f.fence), "vkCreateFence");
        VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, k_max_sets * k_max_bindings};
        VkDescriptorPoolCreateInfo dpi{};
        dpi.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO;
        dpi.maxSets = k_max_sets;
        dpi.poolSizeCount = 1;
        dpi.pPoolSizes = &size;
        check(vkCreateDescriptorPool(d, &dpi, nullptr, &f.dpool), "vkCreateDescriptorPool");
        f.ring = dev->alloc_host(k_ring_bytes, false);
    }
}

llm4all_backend_ctx::~llm4all_backend_ctx() {
    if (!profile_.empty()) {
        double total = 0;
        for (const auto &kv : profile_) total += kv.second.first;
        std::fprintf(stderr, "vulkan profile (%s), %.3f s in ops:\n", dev->name().c_str(), total);
        for (const auto &kv : profile_)
            std::fprintf(stderr, "  %-16s %8.3f s %8llu calls %9.3f ms/call\n", kv.first.c_str(), kv.second.first,
                         (unsigned long long)kv.second.second, 1e3 * kv.second.first / double(kv.second.second));
    }
    VkDevice d = dev->handle();
    try {
        flush_and_wait(true);
    } catch (...) {
    }
    for (Frame &f : frames_) {
        if (f.ring) dev->release(f.ring);
        if (f.dpool) vkDestroyDescriptorPool(d, f.dpool, nullptr);
        if (f.fence) vkDestroyFence(d, f.fence, nullptr);
    }
    if (readback_) dev->release(readback_);
    if (scratch_addr_) dev->free(scratch_addr_);
    if (pool_) vkDestroyCommandPool(d, pool_, nullptr);
}

void llm4all_backend_ctx::profile_add(const char *op, double seconds) {
    auto &p = profile_[op];
    p.first += seconds;
    ++p.second;
}

Binding llm4all_backend_ctx::resolve(const void *addr, size_t bytes) {
    const uint64_t a_addr = uint64_t(reinterpret_cast<uintptr_t>(addr));
    const Allocation &a = dev->find(a_addr, bytes);
    const uint64_t off = a_addr - a.addr;
    const uint64_t align = std::max<uint64_t>(dev->limits().minStorageBufferOffsetAlignment, 4);
    Binding b;
    b.buffer = a.buffer;
    b.offset = off - off % align;
    b.skew = uint32_t(off - b.offset);
    b.range = std::min<uint64_t>(round_up(b.skew + std::max<size_t>(bytes, 4), 4), a.capacity - b.offset);
    if (b.range > dev->max_binding_bytes())
        fail("a binding of " + std::to_string(b.range) + " bytes is larger than this device allows (" +
             std::to_string(dev->max_binding_bytes()) + ", maxStorageBufferRange)");
    return b;
}

void llm4all_backend_ctx::begin() {
    Frame &f = cur();
    if (f.recording) return;
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(vkBeginCommandBuffer(f.cb, &bi), "vkBeginCommandBuffer");
    f.recording = true;
}

void llm4all_backend_ctx::barrier() {
    // Also first in a batch: a barrier's scope reaches back over earlier submissions
    // on the queue, and only a barrier orders their writes before these reads.
    VkMemoryBarrier mb{};
    mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                       VK_ACCESS_TRANSFER_WRITE_BIT;
    const VkPipelineStageFlags stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cur().cb, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

void llm4all_backend_ctx::submit(Frame &f) {
    if (!f.recording) return;
    f.recording = false;
    // A fence alone does not make device writes visible to the host (downloads read
    // mapped memory after waiting for it): a barrier to the host stage does.
    VkMemoryBarrier mb{};
    mb.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER;
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(f.cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
    check(vkEndCommandBuffer(f.cb), "vkEndCommandBuffer");
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &f.cb;
    check(vkResetFences(dev->handle(), 1, &f.fence), "vkResetFences");
    {
        std::lock_guard<std::mutex> lock(dev->queue_mutex());
        check(vkQueueSubmit(dev->queue(), 1, &si, f.fence), "vkQueueSubmit");
    }
    f.submitted = true;
}

void llm4all_backend_ctx::retire(Frame &f) {
    if (!f.submitted) return;
    VkDevice d = dev->handle();
    check(vkWaitForFences(d, 1, &f.fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
    f.submitted = false;
    check(vkResetCommandBuffer(f.cb, 0), "vkResetCommandBuffer");
    check(vkResetDescriptorPool(d, f.dpool, 0), "vkResetDescriptorPool");
    f.n_sets = 0;
    f.ring_used = 0;
}

void llm4all_backend_ctx::submit_async() {
    submit(cur());
    cur_ ^= 1;
    retire(cur());
}

void llm4all_backend_ctx::flush_and_wait(bool reset_ring) {
    Frame &f = cur();
    const size_t keep = f.ring_used;  // bindings of the op in progress may point into it
    submit(f);
    retire(frames_[cur_ ^ 1]);
    retire(f);
    if (!reset_ring) f.ring_used = keep;
}

void llm4all_backend_ctx::synchronize() { flush_and_wait(true); }

void llm4all_backend_ctx::op_begin() {
    // Batches go to the device every k_submit_sets dispatches, so it works while the
    // next ones are recorded.
    if (cur().n_sets >= k_submit_sets || cur().ring_used > cur().ring->bytes / 2) submit_async();
}

size_t llm4all_backend_ctx::ring_alloc(size_t bytes, size_t align) {
    Frame &f = cur();
    size_t off = round_up(f.ring_used, align);
    if (off + bytes > f.ring->bytes) fail("the upload ring is full within one op (" + std::to_string(bytes) + " bytes)");
    f.ring_used = off + bytes;
    return off;
}

Binding llm4all_backend_ctx::host_array(const void *data, size_t bytes) {
    const size_t align = std::max<size_t>(dev->limits().minStorageBufferOffsetAlignment, 16);
    const size_t off = ring_alloc(std::max<size_t>(bytes, 4), align);
    Allocation *ring = cur().ring;
    if (bytes) std::memcpy(static_cast<uint8_t *>(ring->mapped) + off, data, bytes);
    if (!ring->coherent) {
        VkMappedMemoryRange r{};
        r.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
        r.memory = ring->memory;
        r.size = VK_WHOLE_SIZE;
        check(vkFlushMappedMemoryRanges(dev->handle(), 1, &r), "vkFlushMappedMemoryRanges");
    }
    Binding b;
    b.buffer = ring->buffer;
    b.offset = off;
    b.range = round_up(std::max<size_t>(bytes, 4), 4);
    return b;
}

Binding llm4all_backend_ctx::scratch(size_t bytes) {
    bytes = std::max<size_t>(bytes, 256);
    if (bytes > scratch_bytes_) {
        if (scratch_addr_) {
            flush_and_wait(false);  // recorded work may use the old buffer
            dev->free(scratch_addr_);
            scratch_addr_ = 0;
            scratch_bytes_ = 0;
        }
        const size_t want = std::max(bytes, scratch_bytes_ * 2);
        scratch_addr_ = dev->alloc(want);
        scratch_bytes_ = want;
    }
    return resolve(reinterpret_cast<const void *>(uintptr_t(scratch_addr_)), bytes);
}

void llm4all_backend_ctx::groups_2d(uint64_t n, uint32_t *gx, uint32_t *gy) const {
    const uint64_t max_x = dev->limits().maxComputeWorkGroupCount[0];
    if (n <= max_x) {
        *gx = uint32_t(std::max<uint64_t>(n, 1));
        *gy = 1;
        return;
    }
    const uint64_t y = (n + max_x - 1) / max_x;
    if (y > dev->limits().maxComputeWorkGroupCount[1]) fail("too many workgroups for one dispatch");
    *gy = uint32_t(y);
    *gx = uint32_t((n + y - 1) / y);
}

void llm4all_backend_ctx::dispatch(const char *shader, std::initializer_list<Binding> bindings, const void *push,
                                   size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz) {
    if (bindings.size() > k_max_bindings) fail(std::string(shader) + ": more than 12 bindings");
    if (push_bytes > 128) fail(std::string(shader) + ": push constants over 128 bytes");
    if (!gx || !gy || !gz) return;
    const Pipeline &p = dev->pipeline(shader, uint32_t(bindings.size()));
    VkDevice d = dev->handle();
    if (cur().n_sets >= k_max_sets) flush_and_wait(false);  // keeps the ring: bindings may point into it
    VkDescriptorSetAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO;
    ai.descriptorPool = cur().dpool;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &p.set_layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    check(vkAllocateDescriptorSets(d, &ai, &set), "vkAllocateDescriptorSets");
    ++cur().n_sets;
    VkDescriptorBufferInfo infos[k_max_bindings];
    VkWriteDescriptorSet writes[k_max_bindings];
    uint32_t i = 0;
    for (const Binding &b : bindings) {
        infos[i] = {b.buffer, b.offset, b.range};
        writes[i] = {};
        writes[i].sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET;
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
        ++i;
    }
    vkUpdateDescriptorSets(d, i, writes, 0, nullptr);
    begin();
    barrier();
    VkCommandBuffer cb = cur().cb;
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
    vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
    if (push_bytes) vkCmdPushConstants(cb, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, uint32_t(push_bytes), push);
    vkCmdDispatch(cb, gx, gy, gz);
}

void llm4all_backend_ctx::upload(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    const uint64_t d_addr = uint64_t(reinterpret_cast<uintptr_t>(dst));
    const Allocation &a = dev->find(d_addr, bytes);
    const size_t off = size_t(d_addr - a.addr);
    if (!pending() && a.mapped) {
        // Nothing queued can still read the old bytes: a plain copy.
        dev->upload(d_addr, src, bytes);
        return;
    }
    // Ordered after the queued ops: staged in the ring and copied by the queue.
    const size_t chunk = cur().ring->bytes / 2;
    for (size_t done = 0; done < bytes; done += chunk) {
        const size_t n = std::min(chunk, bytes - done);
        if (cur().ring_used + n + 256 > cur().ring->bytes) submit_async();
        const size_t r = ring_alloc(n, 16);
        Allocation *ring = cur().ring;
        std::memcpy(static_cast<uint8_t *>(ring->mapped) + r, static_cast<const uint8_t *>(src) + done, n);
        if (!ring->coherent) {
            VkMappedMemoryRange mr{};
            mr.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
            mr.memory = ring->memory;
            mr.size = VK_WHOLE_SIZE;
            check(vkFlushMappedMemoryRanges(dev->handle(), 1, &mr), "vkFlushMappedMemoryRanges");
        }
        begin();
        barrier();
        VkBufferCopy c{r, off + done, n};
        vkCmdCopyBuffer(cur().cb, ring->buffer, a.buffer, 1, &c);
    }
}

void llm4all_backend_ctx::download(void *dst, const void *src, size_t bytes) {
    flush_and_wait(true);
    if (!bytes) return;
    const uint64_t s_addr = uint64_t(reinterpret_cast<uintptr_t>(src));
    const Allocation &a = dev->find(s_addr, bytes);
    const size_t off = size_t(s_addr - a.addr);
    if (a.mapped) {
        if (!a.coherent) {
            VkMappedMemoryRange r{};
            r.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
            r.memory = a.memory;
            r.size = VK_WHOLE_SIZE;
            check(vkInvalidateMappedMemoryRanges(dev->handle(), 1, &r), "vkInvalidateMappedMemoryRanges");
        }
        std::memcpy(dst, static_cast<const uint8_t *>(a.mapped) + off, bytes);
        return;
    }
    const size_t chunk = std::min<size_t>(bytes, 16u << 20);
    if (readback_ && readback_->bytes < chunk) {
        dev->release(readback_);
        readback_ = nullptr;
    }
    if (!readback_) readback_ = dev->alloc_host(chunk, true);
    for (size_t done = 0; done < bytes; done += chunk) {
        const size_t n = std::min(chunk, bytes - done);
        begin();
        barrier();
        VkBufferCopy c{off + done, 0, n};
        vkCmdCopyBuffer(cur().cb, a.buffer, readback_->buffer, 1, &c);
        flush_and_wait(true);
        if (!readback_->coherent) {
            VkMappedMemoryRange r{};
            r.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
            r.memory = readback_->memory;
            r.size = VK_WHOLE_SIZE;
            check(vkInvalidateMappedMemoryRanges(dev->handle(), 1, &r), "vkInvalidateMappedMemoryRanges");
        }
        std::memcpy(static_cast<uint8_t *>(dst) + done, readback_->mapped, n);
    }
}
