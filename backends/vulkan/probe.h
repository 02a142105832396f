// probe.h — which Vulkan devices exist, asked of a short-lived child process
// (llm4all-vulkan-probe, beside the plugin). Answering means loading every
// installed driver, and some never unload: lavapipe alone leaves ~50 MiB of LLVM
// in the process. Asked in a child, a process that never uses a Vulkan device
// (no GPU, or only emulated ones that "auto" skips) never maps a driver at all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llm4all::vk {

struct ProbedDevice {
    std::string name, description;
    uint32_t caps = 0;
    uint64_t memory_total = 0, memory_free = 0;
};

struct Probe {
    bool ran = false;        // false: no answer from a child (callers ask in this process)
    std::string problem;     // why there is no device, when ran and devices is empty
    std::vector<ProbedDevice> devices;   // in the order the plugin numbers them
};

// Runs the child once per process (LLM4ALL_VULKAN_PROBE=0 turns it off).
const Probe &probe();

// The child's side: writes this process's devices to fd in the format probe() reads.
int32_t print_devices(int fd);

} // namespace llm4all::vk
