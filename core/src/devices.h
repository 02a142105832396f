// devices.h — the devices of the loaded plugins and the choice a device string
// makes ("auto", "cpu", "gpu", "vulkan", "vulkan:1", "cuda", an exact name).
// A model runs on the CPU plus at most one other device (devices.cpp says how
// "auto" chooses); which of its layers go there is the model's placement.
#pragma once

#include <string>
#include <vector>

#include "registry.h"

namespace llm4all {

struct DeviceRef {
    const BackendPlugin *plugin = nullptr;
    int32_t index = 0;            // among the plugin's devices
    llm4all_device_info info{};   // as the plugin described it when listed
    const llm4all_backend_iface &be() const { return *plugin->iface; }
    bool host() const { return (info.caps & LLM4ALL_CAP_HOST_MEMORY) != 0; }
    bool emulated() const { return (info.caps & LLM4ALL_CAP_EMULATED) != 0; }
    // "vulkan:0 (llvmpipe (LLVM 15.0.6, 256 bits))", "cpu (CPU (AVX2))"
    std::string label() const;
    // "vulkan:0", "cpu"
    std::string id() const;
};

// Every device of every selected plugin, the CPU first. Fresh memory figures.
std::vector<DeviceRef> list_devices();

// What a model with this device string runs on: the CPU always (first), then the
// device the string names, unless it names the CPU. "auto" adds the best GPU that
// is not emulated, if any. Throws Error(BACKEND) naming why a named device cannot
// be used (no plugin, the plugin's refusal, no such index).
std::vector<DeviceRef> pick_devices(const std::string &device);

} // namespace llm4all
