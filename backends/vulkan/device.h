// device.h — the Vulkan instance and its compute devices: what each physical
// device is (name, memory, caps), its lazily created logical device and queue,
// its memory (allocations handed out as addresses in a plugin-wide address
// space, resolved back to VkBuffer + offset), and its compiled pipelines.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "llm4all/backend.h"
#include "vk_api.h"

namespace llm4all::vk {

// What ops throw inside the plugin; the table's entry points turn it into a
// status and last_error (no exception crosses the table).
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
[[noreturn]] void fail(const std::string &message);
// Throws Failure "what: VK_ERROR_..." unless r is VK_SUCCESS.
void check(VkResult r, const char *what);

void log(int32_t level, const std::string &message);

// One VkBuffer with its own memory, seen from the core as [addr, addr + bytes).
struct Allocation {
    uint64_t addr = 0;
    size_t bytes = 0;
    size_t capacity = 0;        // the VkBuffer's size (bytes rounded up to 256)
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    void *mapped = nullptr;     // host pointer when the memory is host-visible
    bool coherent = true;
};

// A compute pipeline with n storage-buffer bindings in set 0.
struct Pipeline {
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    uint32_t n_bindings = 0;
};

class Device {
public:
    Device(VkPhysicalDevice pd, uint32_t queue_family);
    ~Device();

    // ---- description (valid without the logical device) ----
    VkPhysicalDevice physical() const { return pd_; }
    const std::string &name() const { return name_; }
    const std::string &description() const { return description_; }
    uint32_t caps() const { return caps_; }
    void memory(uint64_t *total, uint64_t *free_bytes) const;
    const VkPhysicalDeviceLimits &limits() const { return limits_; }
    // Most bytes one storage-buffer binding may span (maxStorageBufferRange).
    uint64_t max_binding_bytes() const { return limits_.maxStorageBufferRange; }

    // ---- logical device, created on first use; throws Failure ----
    void open();
    VkDevice handle() { open(); return dev_; }
    VkQueue queue() const { return queue_; }
    uint32_t queue_family() const { return family_; }
    std::mutex &queue_mutex() { return queue_mutex_; }  // vkQueueSubmit needs external sync

    // ---- memory ----
    // Device-local memory (host-visible too when the device offers that, e.g. lavapipe,
    // integrated GPUs); its address, or throws.
    uint64_t alloc(size_t bytes);
    void free(uint64_t addr);
    // A host-visible (staging) buffer outside the address table; caller frees with release().
    Allocation *alloc_host(size_t bytes, bool readback);
    void release(Allocation *a);
    // The allocation holding [addr, addr + bytes), or throws a Failure naming the address.
    const Allocation &find(uint64_t addr, size_t bytes);
    // Copies host bytes into device memory outside any context (weights).
    void upload(uint64_t dst, const void *src, size_t bytes);

    // ---- pipelines ----
    // The pipeline of an embedded shader (shaders.h) with n bindings; built once.
    const Pipeline &pipeline(const char *shader, uint32_t n_bindings);

    // One-shot command buffer on this device's queue, waited for (device_upload).
    void run_once(const std::function<void(VkCommandBuffer)> &record);

private:
    Allocation *make(size_t bytes, bool device_local, bool readback);
    void destroy(Allocation *a);
    uint32_t memory_type(uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid, bool *found);

    VkPhysicalDevice pd_;
    uint32_t family_;
    std::string name_, description_;
    uint32_t caps_ = 0;
    VkPhysicalDeviceLimits limits_{};
    VkPhysicalDeviceMemoryProperties mem_{};
    bool has_budget_ = false;

    std::mutex open_mutex_;
    std::atomic<bool> opened_{false};
    VkDevice dev_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    std::mutex queue_mutex_;
    VkCommandPool once_pool_ = VK_NULL_HANDLE;  // under queue_mutex_
    VkFence once_fence_ = VK_NULL_HANDLE;

    std::mutex mem_mutex_;
    std::map<uint64_t, std::unique_ptr<Allocation>> allocs_;  // by address

    std::mutex pipe_mutex_;
    std::map<std::string, std::unique_ptr<Pipeline>> pipes_;
};

// The instance and its devices (every device with a compute queue), created once.
// Returns nullptr with `why` set ("no Vulkan loader (...)", "no Vulkan device") otherwise.
struct Instance {
    VkInstance handle = VK_NULL_HANDLE;
    uint32_t api_version = VK_API_VERSION_1_1;
    std::vector<std::unique_ptr<Device>> devices;
};
Instance *instance(std::string *why);
bool instance_started();   // whether instance() has been called (the drivers are loaded)
Device *device(int32_t index);  // nullptr when out of range or no instance

// Plugin-wide address space: every allocation gets a distinct range.
uint64_t reserve_addresses(size_t bytes);

} // namespace llm4all::vk
