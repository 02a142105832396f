// device.h — the Metal devices (MTLCopyAllDevices): what each is (name, memory,
// caps), its memory (MTLBuffers handed out as addresses in a plugin-wide address
// space and resolved back to buffer + offset, as the Vulkan plugin does), and its
// compute pipelines, compiled from the embedded kernel source at first use.
// Objective-C++ (ARC): include only from .mm files.
#pragma once

#import <Metal/Metal.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "llm4all/backend.h"

namespace llm4all::mt {

// What ops throw inside the plugin; the table's entry points turn it (and any
// Objective-C exception) into a status and last_error: nothing crosses the table.
struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
[[noreturn]] void fail(const std::string &message);
void log(int32_t level, const std::string &message);
std::string text(NSString *s);  // "" for nil
std::string text(NSError *e);   // its localizedDescription, or "unknown error"

// Runs body inside an autorelease pool; false with *why set when it threw a C++ or an
// Objective-C exception (Metal raises NSException on invalid API use).
bool protect(std::string *why, const std::function<void()> &body);

// One MTLBuffer, seen from the core as [addr, addr + bytes).
struct Allocation {
    uint64_t addr = 0;
    size_t bytes = 0;
    size_t capacity = 0;       // the buffer's length (bytes rounded up to 256)
    id<MTLBuffer> buffer = nil;
    void *contents = nullptr;  // host pointer when the storage is shared (unified memory)
};

class Device {
public:
    explicit Device(id<MTLDevice> dev);

    // ---- description ----
    id<MTLDevice> handle() const { return dev_; }
    const std::string &name() const { return name_; }
    const std::string &description() const { return description_; }
    uint32_t caps() const { return caps_; }
    void memory(uint64_t *total, uint64_t *free_bytes) const;
    // Most bytes one op reads through one buffer binding: the kernels index in 32 bits.
    uint64_t max_binding_bytes() const { return max_binding_; }

    // ---- memory ----
    // A buffer of the device's storage mode (shared on unified memory, private on a
    // discrete GPU or with LLM4ALL_METAL_PRIVATE=1); its address, or throws.
    uint64_t alloc(size_t bytes);
    // Forgets the buffer: command buffers retain what they use, so work still queued
    // keeps it alive until it finishes.
    void free(uint64_t addr);
    // The allocation holding [addr, addr + bytes), or throws a Failure naming the address.
    const Allocation &find(uint64_t addr, size_t bytes);
    // Copies host bytes into device memory outside any context (weights); waits.
    void upload(uint64_t dst, const void *src, size_t bytes);
    // Bytes [lo, lo + n) of an allocation (lo and n multiples of 4, as blits on macOS
    // need; n may reach into the 256-byte rounding) into host memory; waits for a blit
    // from private memory. Callers wait for the work that writes them first.
    void read_words(const Allocation &a, size_t lo, size_t n, void *out);
    // A shared buffer holding a copy of host bytes (uploads to private memory, host arrays).
    id<MTLBuffer> staging(const void *src, size_t bytes);

    // ---- pipelines ----
    // The pipeline of an embedded kernel variant (shaders.h), compiled once.
    id<MTLComputePipelineState> pipeline(const char *name);

private:
    id<MTLDevice> dev_;
    std::string name_, description_;
    uint32_t caps_ = 0;
    bool shared_ = true;
    uint64_t max_binding_ = 0;

    std::mutex mem_mutex_;
    std::map<uint64_t, std::unique_ptr<Allocation>> allocs_;  // by address

    std::mutex pipe_mutex_;
    std::map<std::string, id<MTLComputePipelineState>> pipes_;

    std::mutex queue_mutex_;
    id<MTLCommandQueue> queue_ = nil;  // blits to and from private memory outside contexts
    id<MTLCommandQueue> queue();        // under queue_mutex_
};

// The devices (MTLCopyAllDevices), found once. Returns nullptr with `why` set
// ("no Metal device") when there is none.
struct Instance {
    std::vector<std::unique_ptr<Device>> devices;
};
Instance *instance(std::string *why);
Device *device(int32_t index);  // nullptr when out of range or no device

// Plugin-wide address space: every allocation gets a distinct range.
uint64_t reserve_addresses(size_t bytes);

} // namespace llm4all::mt
