// vk_api.cpp — dlopens the Vulkan loader and fills the function pointers that
// vk_api.h declares (our own small loader: no Vulkan library is linked).
#include "vk_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace llm4all::vk {

#define LLM4ALL_VK_DEFINE(name) PFN_##name name = nullptr;
LLM4ALL_VK_DEFINE(vkGetInstanceProcAddr)
LLM4ALL_VK_DEFINE(vkCreateInstance)
LLM4ALL_VK_DEFINE(vkEnumerateInstanceExtensionProperties)
LLM4ALL_VK_DEFINE(vkEnumerateInstanceVersion)
LLM4ALL_VK_INSTANCE_FUNCS(LLM4ALL_VK_DEFINE)
#undef LLM4ALL_VK_DEFINE

namespace {
std::once_flag g_once;
std::string g_problem;  // "" once loaded
} // namespace

bool load_loader(std::string *why) {
    std::call_once(g_once, [] {
        // Tests point this at a missing file to see the "no loader" refusal.
        const char *env = std::getenv("LLM4ALL_VULKAN_LOADER");
        const char *name = env && *env ? env : "libvulkan.so.1";
        void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            g_problem = std::string("no Vulkan loader (") + name + ")";
            return;
        }
        vkGetInstanceProcAddr = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
        if (!vkGetInstanceProcAddr) {
            g_problem = std::string("no Vulkan loader (") + name + " lacks vkGetInstanceProcAddr)";
            return;
        }
        // Global commands are fetched with a NULL instance.
        vkCreateInstance = reinterpret_cast<PFN_vkCreateInstance>(vkGetInstanceProcAddr(nullptr, "vkCreateInstance"));
        vkEnumerateInstanceExtensionProperties = reinterpret_cast<PFN_vkEnumerateInstanceExtensionProperties>(
            vkGetInstanceProcAddr(nullptr, "vkEnumerateInstanceExtensionProperties"));
        vkEnumerateInstanceVersion = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
            vkGetInstanceProcAddr(nullptr, "vkEnumerateInstanceVersion"));
        if (!vkCreateInstance || !vkEnumerateInstanceExtensionProperties)
            g_problem = std::string("no Vulkan loader (") + name + " is incomplete)";
        // The library stays loaded for the life of the process.
    });
    if (!g_problem.empty() && why) *why = g_problem;
    return g_problem.empty();
}

bool load_instance_functions(VkInstance instance, std::string *why) {
    bool ok = true;
#define LLM4ALL_VK_LOAD(name)                                                                    \
    name = reinterpret_cast<PFN_##name>(vkGetInstanceProcAddr(instance, #name));                 \
    if (!name) {                                                                                 \
        ok = false;                                                                              \
        if (why) *why = "the Vulkan loader lacks " #name " (Vulkan 1.1 is needed)";             \
    }
    LLM4ALL_VK_INSTANCE_FUNCS(LLM4ALL_VK_LOAD)
#undef LLM4ALL_VK_LOAD
    return ok;
}

const char *result_name(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
    default: return "VkResult error";
    }
}

} // namespace llm4all::vk
