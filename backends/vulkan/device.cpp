// device.cpp — the Vulkan instance, its compute devices, device memory behind
// the plugin's addresses, and the pipeline cache (see device.h).
#include "device.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "llm4all/llm4all.h"  // log levels
#include "shaders.h"

namespace llm4all::vk {

void fail(const std::string &message) { throw Failure(message); }

void check(VkResult r, const char *what) {
    if (r != VK_SUCCESS) fail(std::string(what) + ": " + result_name(r));
}

namespace {

bool has_extension(const std::vector<VkExtensionProperties> &list, const char *name) {
    for (const auto &e : list)
        if (std::strcmp(e.extensionName, name) == 0) return true;
    return false;
}

std::vector<VkExtensionProperties> device_extensions(VkPhysicalDevice pd) {
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> list(n);
    if (n) vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, list.data());
    list.resize(n);
    return list;
}

std::string version_text(uint32_t v) {
    return std::to_string(VK_API_VERSION_MAJOR(v)) + "." + std::to_string(VK_API_VERSION_MINOR(v)) + "." +
           std::to_string(VK_API_VERSION_PATCH(v));
}

// Allocations sit this far apart in the address space, so an address just past one
// never falls into the next (a core bug then fails with a clear message).
constexpr uint64_t k_addr_gap = 1ull << 20;
std::atomic<uint64_t> g_next_addr{1ull << 44};

} // namespace

uint64_t reserve_addresses(size_t bytes) {
    const uint64_t span = (uint64_t(bytes) + k_addr_gap + k_addr_gap - 1) & ~(k_addr_gap - 1);
    return g_next_addr.fetch_add(span + k_addr_gap);
}

// ---- Device: description -----------------------------------------------------------

Device::Device(VkPhysicalDevice pd, uint32_t queue_family) : pd_(pd), family_(queue_family) {
    VkPhysicalDeviceProperties props{};
    vkGetPhysicalDeviceProperties(pd, &props);
    limits_ = props.limits;
    // Tests shrink the binding limit to reach the paths that split large tensors
    // (lavapipe's 128 MiB would need tensors too big for a quick test).
    if (const char *env = std::getenv("LLM4ALL_VULKAN_MAX_BINDING")) {
        const unsigned long long v = std::strtoull(env, nullptr, 10);
        if (v >= 4096 && v < limits_.maxStorageBufferRange) limits_.maxStorageBufferRange = uint32_t(v);
    }
    name_ = props.deviceName;
    vkGetPhysicalDeviceMemoryProperties(pd, &mem_);
    const auto exts = device_extensions(pd);
    has_budget_ = has_extension(exts, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

    // Driver name and version (Vulkan 1.2 or VK_KHR_driver_properties), F16 arithmetic.
    const bool v12 = props.apiVersion >= VK_API_VERSION_1_2;
    VkPhysicalDeviceDriverProperties driver{};
    driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    VkPhysicalDeviceProperties2 p2{};
    p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    const bool have_driver = v12 || has_extension(exts, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
    if (have_driver) p2.pNext = &driver;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    VkPhysicalDeviceShaderFloat16Int8Features f16{};
    f16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
    VkPhysicalDeviceFeatures2 f2{};
    f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
    if (v12 || has_extension(exts, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME)) f2.pNext = &f16;
    vkGetPhysicalDeviceFeatures2(pd, &f2);

    if (props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) caps_ |= LLM4ALL_CAP_EMULATED;
    if (f16.shaderFloat16) caps_ |= LLM4ALL_CAP_F16;
    if (have_driver && driver.driverName[0])
        description_ = std::string(driver.driverName) + ", " + driver.driverInfo;
    else
        description_ = "driver version " + std::to_string(props.driverVersion);
    description_ += ", Vulkan " + version_text(props.apiVersion);
}

void Device::memory(uint64_t *total, uint64_t *free_bytes) const {
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{};
    budget.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT;
    VkPhysicalDeviceMemoryProperties2 m2{};
    m2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2;
    if (has_budget_) m2.pNext = &budget;
    vkGetPhysicalDeviceMemoryProperties2(pd_, &m2);
    uint64_t t = 0, f = 0;
    for (uint32_t h = 0; h < m2.memoryProperties.memoryHeapCount; ++h) {
        if (!(m2.memoryProperties.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
        const uint64_t size = m2.memoryProperties.memoryHeaps[h].size;
        t += size;
        if (has_budget_)
            f += budget.heapBudget[h] > budget.heapUsage[h] ? budget.heapBudget[h] - budget.heapUsage[h] : 0;
        else
            f += size;
    }
    if (!has_budget_) {
        // Without the budget extension, what this process has allocated is all we know.
        uint64_t used = 0;
        std::lock_guard<std::mutex> lock(const_cast<std::mutex &>(mem_mutex_));
        for (const auto &kv : allocs_) used += kv.second->bytes;
        f = f > used ? f - used : 0;
    }
    if (total) *total = t;
    if (free_bytes) *free_bytes = f;
}

// ---- Device: logical device --------------------------------------------------------

void Device::open() {
    if (opened_.load(std::memory_order_acquire)) return;
    std::lock_guard<std::mutex> lock(open_mutex_);
    if (opened_.load(std::memory_order_relaxed)) return;
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qi{};
    qi.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qi.queueFamilyIndex = family_;
    qi.queueCount = 1;
    qi.pQueuePriorities = &priority;
    std::vector<const char *> exts;
    if (has_budget_) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    VkDeviceCreateInfo di{};
    di.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    di.queueCreateInfoCount = 1;
    di.pQueueCreateInfos = &qi;
    di.enabledExtensionCount = uint32_t(exts.size());
    di.ppEnabledExtensionNames = exts.data();
    check(vkCreateDevice(pd_, &di, nullptr, &dev_), "vkCreateDevice");
    vkGetDeviceQueue(dev_, family_, 0, &queue_);
    VkCommandPoolCreateInfo pi{};
    pi.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO;
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT | VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
    pi.queueFamilyIndex = family_;
    check(vkCreateCommandPool(dev_, &pi, nullptr, &once_pool_), "vkCreateCommandPool");
    VkFenceCreateInfo fi{};
    fi.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO;
    check(vkCreateFence(dev_, &fi, nullptr, &once_fence_), "vkCreateFence");
    opened_.store(true, std::memory_order_release);
}

Device::~Device() {
    if (!dev_) return;
    vkDeviceWaitIdle(dev_);
    for (auto &kv : pipes_) {
        vkDestroyPipeline(dev_, kv.second->pipeline, nullptr);
        vkDestroyPipelineLayout(dev_, kv.second->layout, nullptr);
        vkDestroyDescriptorSetLayout(dev_, kv.second->set_layout, nullptr);
    }
    for (auto &kv : allocs_) destroy(kv.second.release());
    if (once_fence_) vkDestroyFence(dev_, once_fence_, nullptr);
    if (once_pool_) vkDestroyCommandPool(dev_, once_pool_, nullptr);
    vkDestroyDevice(dev_, nullptr);
}

void Device::run_once(const std::function<void(VkCommandBuffer)> &record) {
    open();
    std::lock_guard<std::mutex> lock(queue_mutex_);
    VkCommandBufferAllocateInfo ai{};
    ai.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO;
    ai.commandPool = once_pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cb = VK_NULL_HANDLE;
    check(vkAllocateCommandBuffers(dev_, &ai, &cb), "vkAllocateCommandBuffers");
    struct Free {
        VkDevice d; VkCommandPool p; VkCommandBuffer c;
        ~Free() { vkFreeCommandBuffers(d, p, 1, &c); }
    } guard{dev_, once_pool_, cb};
    VkCommandBufferBeginInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO;
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(vkBeginCommandBuffer(cb, &bi), "vkBeginCommandBuffer");
    record(cb);
    check(vkEndCommandBuffer(cb), "vkEndCommandBuffer");
    VkSubmitInfo si{};
    si.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cb;
    check(vkResetFences(dev_, 1, &once_fence_), "vkResetFences");
    check(vkQueueSubmit(queue_, 1, &si, once_fence_), "vkQueueSubmit");
    check(vkWaitForFences(dev_, 1, &once_fence_, VK_TRUE, UINT64_MAX), "vkWaitForFences");
}

// ---- Device: memory ------------------------------------------------------------------

uint32_t Device::memory_type(uint32_t bits, VkMemoryPropertyFlags want, VkMemoryPropertyFlags avoid, bool *found) {
    for (uint32_t i = 0; i < mem_.memoryTypeCount; ++i) {
        const VkMemoryPropertyFlags f = mem_.memoryTypes[i].propertyFlags;
        if ((bits & (1u << i)) && (f & want) == want && !(f & avoid)) {
            *found = true;
            return i;
        }
    }
    *found = false;
    return 0;
}

Allocation *Device::make(size_t bytes, bool device_local, bool readback) {
    open();
    auto a = std::make_unique<Allocation>();
    a->bytes = bytes;
    VkBufferCreateInfo bi{};
    bi.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO;
    // Rounded up to whole words: shaders read the last bytes as a uint.
    bi.size = (std::max<size_t>(bytes, 4) + 255) & ~size_t(255);
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    a->capacity = size_t(bi.size);
    check(vkCreateBuffer(dev_, &bi, nullptr, &a->buffer), "vkCreateBuffer");
    VkMemoryRequirements req{};
    vkGetBufferMemoryRequirements(dev_, a->buffer, &req);
    bool found = false;
    uint32_t type = 0;
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT, hc = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                                dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, cached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    if (device_local) {
        // Device-local and host-visible (lavapipe, integrated GPUs) lets uploads and
        // downloads be plain copies; otherwise device-local alone.
        type = memory_type(req.memoryTypeBits, dl | hv | hc, 0, &found);
        if (!found) type = memory_type(req.memoryTypeBits, dl, 0, &found);
        if (!found) type = memory_type(req.memoryTypeBits, 0, 0, &found);
    } else {
        if (readback) type = memory_type(req.memoryTypeBits, hv | hc | cached, 0, &found);
        if (!found) type = memory_type(req.memoryTypeBits, hv | hc, 0, &found);
        if (!found) type = memory_type(req.memoryTypeBits, hv, 0, &found);
    }
    if (!found) {
        vkDestroyBuffer(dev_, a->buffer, nullptr);
        fail("no suitable Vulkan memory type for a buffer of " + std::to_string(bytes) + " bytes");
    }
    VkMemoryAllocateInfo mi{};
    mi.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO;
    mi.allocationSize = req.size;
    mi.memoryTypeIndex = type;
    const VkResult r = vkAllocateMemory(dev_, &mi, nullptr, &a->memory);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(dev_, a->buffer, nullptr);
        fail("cannot allocate " + std::to_string(bytes) + " bytes of Vulkan memory on " + name_ + ": " +
             result_name(r));
    }
    check(vkBindBufferMemory(dev_, a->buffer, a->memory, 0), "vkBindBufferMemory");
    const VkMemoryPropertyFlags flags = mem_.memoryTypes[type].propertyFlags;
    // LLM4ALL_VULKAN_UNMAPPED=1 leaves device memory unmapped, so tests on lavapipe (all
    // memory host-visible) take the staging paths that discrete GPUs take.
    static const bool unmapped = [] {
        const char *e = std::getenv("LLM4ALL_VULKAN_UNMAPPED");
        return e && *e && std::strcmp(e, "0") != 0;
    }();
    if ((flags & hv) && !(device_local && unmapped)) {
        a->coherent = (flags & hc) != 0;
        if (vkMapMemory(dev_, a->memory, 0, VK_WHOLE_SIZE, 0, &a->mapped) != VK_SUCCESS) a->mapped = nullptr;
    }
    return a.release();
}

void Device::destroy(Allocation *a) {
    if (!a) return;
    if (a->mapped) vkUnmapMemory(dev_, a->memory);
    vkDestroyBuffer(dev_, a->buffer, nullptr);
    vkFreeMemory(dev_, a->memory, nullptr);
    delete a;
}

uint64_t Device::alloc(size_t bytes) {
    if (bytes > limits_.maxStorageBufferRange)
        log(LLM4ALL_LOG_DEBUG, "vulkan: allocation of " + std::to_string(bytes) +
                                   " bytes is larger than one binding may span (" +
                                   std::to_string(limits_.maxStorageBufferRange) + "); ops bind parts of it");
    std::unique_ptr<Allocation> a(make(bytes, true, false));
    a->addr = reserve_addresses(bytes);
    const uint64_t addr = a->addr;
    std::lock_guard<std::mutex> lock(mem_mutex_);
    allocs_[addr] = std::move(a);
    return addr;
}

void Device::free(uint64_t addr) {
    std::unique_ptr<Allocation> a;
    {
        std::lock_guard<std::mutex> lock(mem_mutex_);
        auto it = allocs_.find(addr);
        if (it == allocs_.end()) return;
        a = std::move(it->second);
        allocs_.erase(it);
    }
    // Work queued by a context may still read it: the core frees after synchronising,
    // but a wait here keeps a mistake from becoming a device fault. (vkDeviceWaitIdle
    // needs the queue to itself.)
    {
        std::lock_guard<std::mutex> lock(queue_mutex_);
        vkDeviceWaitIdle(dev_);
    }
    destroy(a.release());
}

Allocation *Device::alloc_host(size_t bytes, bool readback) {
    Allocation *a = make(bytes, false, readback);
    if (!a->mapped) {
        destroy(a);
        fail("cannot map a host-visible Vulkan buffer");
    }
    return a;
}

void Device::release(Allocation *a) { destroy(a); }

const Allocation &Device::find(uint64_t addr, size_t bytes) {
    std::lock_guard<std::mutex> lock(mem_mutex_);
    auto it = allocs_.upper_bound(addr);
    if (it != allocs_.begin()) {
        --it;
        const Allocation &a = *it->second;
        if (addr >= a.addr && addr - a.addr <= a.bytes && bytes <= a.bytes - (addr - a.addr)) return a;
        if (addr >= a.addr && addr - a.addr < a.bytes + k_addr_gap) {
            char buf[200];
            std::snprintf(buf, sizeof buf,
                          "vulkan: %zu bytes at offset %llu run past the end of an allocation of %zu bytes", bytes,
                          (unsigned long long)(addr - a.addr), a.bytes);
            fail(buf);
        }
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "vulkan: address 0x%llx is not memory of device %s", (unsigned long long)addr,
                  name_.c_str());
    fail(buf);
}

void Device::upload(uint64_t dst, const void *src, size_t bytes) {
    if (!bytes) return;
    const Allocation &a = find(dst, bytes);
    const size_t off = size_t(dst - a.addr);
    if (a.mapped) {
        std::memcpy(static_cast<uint8_t *>(a.mapped) + off, src, bytes);
        if (!a.coherent) {
            VkMappedMemoryRange r{};
            r.sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE;
            r.memory = a.memory;
            r.offset = 0;
            r.size = VK_WHOLE_SIZE;
            check(vkFlushMappedMemoryRanges(dev_, 1, &r), "vkFlushMappedMemoryRanges");
        }
        return;
    }
    // Through a staging buffer, in chunks.
    const size_t chunk = std::min<size_t>(bytes, 64u << 20);
    Allocation *staging = alloc_host(chunk, false);
    struct Rel { Device *d; Allocation *a; ~Rel() { d->release(a); } } rel{this, staging};
    for (size_t done = 0; done < bytes; done += chunk) {
        const size_t n = std::min(chunk, bytes - done);
        std::memcpy(staging->mapped, static_cast<const uint8_t *>(src) + done, n);
        run_once([&](VkCommandBuffer cb) {
            VkBufferCopy c{0, off + done, n};
            vkCmdCopyBuffer(cb, staging->buffer, a.buffer, 1, &c);
        });
    }
}

// ---- Device: pipelines --------------------------------------------------------------------

const Pipeline &Device::pipeline(const char *shader, uint32_t n_bindings) {
    open();
    std::lock_guard<std::mutex> lock(pipe_mutex_);
    const std::string key = std::string(shader) + "/" + std::to_string(n_bindings);
    auto it = pipes_.find(key);
    if (it != pipes_.end()) return *it->second;
    const Shader *s = find_shader(shader);
    if (!s) fail(std::string("vulkan: no shader named ") + shader + " is built into the plugin");
    auto p = std::make_unique<Pipeline>();
    p->n_bindings = n_bindings;
    std::vector<VkDescriptorSetLayoutBinding> b(n_bindings);
    for (uint32_t i = 0; i < n_bindings; ++i) {
        b[i].binding = i;
        b[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        b[i].descriptorCount = 1;
        b[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    VkDescriptorSetLayoutCreateInfo li{};
    li.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    li.bindingCount = n_bindings;
    li.pBindings = b.data();
    check(vkCreateDescriptorSetLayout(dev_, &li, nullptr, &p->set_layout), "vkCreateDescriptorSetLayout");
    VkPushConstantRange pc{VK_SHADER_STAGE_COMPUTE_BIT, 0, 128};
    VkPipelineLayoutCreateInfo pli{};
    pli.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    pli.setLayoutCount = 1;
    pli.pSetLayouts = &p->set_layout;
    pli.pushConstantRangeCount = 1;
    pli.pPushConstantRanges = &pc;
    check(vkCreatePipelineLayout(dev_, &pli, nullptr, &p->layout), "vkCreatePipelineLayout");
    VkShaderModuleCreateInfo mi{};
    mi.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    mi.codeSize = s->bytes;
    mi.pCode = s->code;
    VkShaderModule module = VK_NULL_HANDLE;
    check(vkCreateShaderModule(dev_, &mi, nullptr, &module), "vkCreateShaderModule");
    VkComputePipelineCreateInfo ci{};
    ci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = module;
    ci.stage.pName = "main";
    ci.layout = p->layout;
    const VkResult r = vkCreateComputePipelines(dev_, VK_NULL_HANDLE, 1, &ci, nullptr, &p->pipeline);
    vkDestroyShaderModule(dev_, module, nullptr);
    check(r, (std::string("vkCreateComputePipelines(") + shader + ")").c_str());
    return *(pipes_[key] = std::move(p));
}

// ---- Instance ------------------------------------------------------------------------------

namespace {

std::once_flag g_instance_once;
std::atomic<bool> g_instance_started{false};
Instance *g_instance = nullptr;
std::string g_instance_problem;

void create_instance() {
    std::string why;
    if (!load_loader(&why)) {
        g_instance_problem = why;
        return;
    }
    auto inst = std::make_unique<Instance>();
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_1) {
        g_instance_problem = "no Vulkan device (the Vulkan loader is 1.0; 1.1 is needed)";
        return;
    }
    // Ask for 1.2 where the loader knows it; devices report their own version.
    inst->api_version = loader_version >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;
    uint32_t n_ext = 0;
    vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, nullptr);
    std::vector<VkExtensionProperties> exts(n_ext);
    if (n_ext) vkEnumerateInstanceExtensionProperties(nullptr, &n_ext, exts.data());
    exts.resize(n_ext);
    std::vector<const char *> enable;
    VkInstanceCreateFlags flags = 0;
    // MoltenVK (macOS) lists its devices only to instances that ask for portability ones.
    if (has_extension(exts, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        enable.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "llm4all";
    app.pEngineName = "llm4all";
    app.apiVersion = inst->api_version;
    VkInstanceCreateInfo ci{};
    ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ci.flags = flags;
    ci.pApplicationInfo = &app;
    ci.enabledExtensionCount = uint32_t(enable.size());
    ci.ppEnabledExtensionNames = enable.data();
    const VkResult r = vkCreateInstance(&ci, nullptr, &inst->handle);
    if (r != VK_SUCCESS) {
        g_instance_problem = std::string("no Vulkan device (vkCreateInstance: ") + result_name(r) + ")";
        return;
    }
    if (!load_instance_functions(inst->handle, &why)) {
        g_instance_problem = why;
        return;
    }
    uint32_t n = 0;
    vkEnumeratePhysicalDevices(inst->handle, &n, nullptr);
    std::vector<VkPhysicalDevice> pds(n);
    if (n) vkEnumeratePhysicalDevices(inst->handle, &n, pds.data());
    pds.resize(n);
    for (VkPhysicalDevice pd : pds) {
        VkPhysicalDeviceProperties props{};
        vkGetPhysicalDeviceProperties(pd, &props);
        if (props.apiVersion < VK_API_VERSION_1_1) {
            log(LLM4ALL_LOG_INFO, std::string("vulkan: skipping ") + props.deviceName + " (Vulkan 1.0 only)");
            continue;
        }
        uint32_t nq = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, nullptr);
        std::vector<VkQueueFamilyProperties> qf(nq);
        if (nq) vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf.data());
        // Prefer a compute queue family without graphics (a dedicated compute engine).
        int64_t family = -1;
        for (uint32_t i = 0; i < nq; ++i)
            if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
                family = i;
                break;
            }
        for (uint32_t i = 0; i < nq && family < 0; ++i)
            if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = i;
        if (family < 0) continue;
        inst->devices.push_back(std::make_unique<Device>(pd, uint32_t(family)));
    }
    // Best first, so "vulkan" / "vulkan:0" is the real GPU on a machine that also has
    // lavapipe: discrete, integrated, virtual, then CPU (software) devices.
    auto rank = [](const Device &d) {
        VkPhysicalDeviceProperties p{};
        vkGetPhysicalDeviceProperties(d.physical(), &p);
        switch (p.deviceType) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
        default: return 3;
        }
    };
    std::stable_sort(inst->devices.begin(), inst->devices.end(),
                     [&](const std::unique_ptr<Device> &a, const std::unique_ptr<Device> &b) { return rank(*a) < rank(*b); });
    if (inst->devices.empty()) {
        g_instance_problem = "no Vulkan device";
        // The instance is kept (destroying it is of no use to a plugin that stays loaded).
    }
    g_instance = inst.release();
}

} // namespace

bool instance_started() { return g_instance_started.load(); }

Instance *instance(std::string *why) {
    std::call_once(g_instance_once, [] {
        g_instance_started = true;
        try {
            create_instance();
        } catch (const std::exception &e) {
            g_instance_problem = std::string("no Vulkan device (") + e.what() + ")";
        }
    });
    if (!g_instance_problem.empty()) {
        if (why) *why = g_instance_problem;
        return nullptr;
    }
    return g_instance;
}

Device *device(int32_t index) {
    Instance *inst = instance(nullptr);
    if (!inst || index < 0 || size_t(index) >= inst->devices.size()) return nullptr;
    return inst->devices[size_t(index)].get();
}

} // namespace llm4all::vk
