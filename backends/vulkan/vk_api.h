// vk_api.h — the Vulkan functions the plugin calls, as pointers filled at run
// time from a dlopen'ed libvulkan.so.1: the plugin file itself links no Vulkan
// library, so it loads on any machine and score() can say "no Vulkan loader".
#pragma once

#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include <string>

namespace llm4all::vk {

// Every function used, by name: one list drives the declarations and the loading.
#define LLM4ALL_VK_INSTANCE_FUNCS(X)                                                                         \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties)                  \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkGetPhysicalDeviceMemoryProperties2) X(vkGetPhysicalDeviceQueueFamilyProperties)                  \
    X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice) X(vkDestroyDevice) X(vkGetDeviceQueue)      \
    X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements) X(vkAllocateMemory)             \
    X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory) X(vkFlushMappedMemoryRanges)    \
    X(vkInvalidateMappedMemoryRanges) X(vkCreateShaderModule) X(vkDestroyShaderModule)                   \
    X(vkCreateDescriptorSetLayout) X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout)              \
    X(vkDestroyPipelineLayout) X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkCreateDescriptorPool) \
    X(vkDestroyDescriptorPool) X(vkResetDescriptorPool) X(vkAllocateDescriptorSets)                       \
    X(vkUpdateDescriptorSets) X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers)  \
    X(vkFreeCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer) X(vkResetCommandBuffer)         \
    X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets) X(vkCmdPushConstants) X(vkCmdDispatch)                \
    X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer) X(vkCmdFillBuffer) X(vkQueueSubmit) X(vkCreateFence)       \
    X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences) X(vkDeviceWaitIdle)

#define LLM4ALL_VK_DECLARE(name) extern PFN_##name name;
LLM4ALL_VK_DECLARE(vkGetInstanceProcAddr)
LLM4ALL_VK_DECLARE(vkCreateInstance)
LLM4ALL_VK_DECLARE(vkEnumerateInstanceExtensionProperties)
LLM4ALL_VK_DECLARE(vkEnumerateInstanceVersion)  // NULL on a Vulkan 1.0 loader
LLM4ALL_VK_INSTANCE_FUNCS(LLM4ALL_VK_DECLARE)
#undef LLM4ALL_VK_DECLARE

// dlopens the loader ($LLM4ALL_VULKAN_LOADER, else libvulkan.so.1) once and fills the
// global functions; false with `why` set when it is absent. Thread-safe.
bool load_loader(std::string *why);
// Fills the instance-level (and, through the loader's trampolines, device) functions.
bool load_instance_functions(VkInstance instance, std::string *why);

// "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc. for messages.
const char *result_name(VkResult r);

} // namespace llm4all::vk
