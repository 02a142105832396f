// device.h — the emulator's stand-in for ../device.h: the API that plugin.mm and the
// op files use, with host memory behind the plugin's addresses and no Objective-C
// (emulate/README.md). One device.
#pragma once
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
struct Failure : std::runtime_error { using std::runtime_error::runtime_error; };
[[noreturn]] void fail(const std::string &message);
void log(int32_t level, const std::string &message);
bool protect(std::string *why, const std::function<void()> &body);

struct Allocation {
    uint64_t addr = 0;
    size_t bytes = 0, capacity = 0;
    std::vector<uint8_t> mem;
};

class Device {
public:
    const std::string &name() const { return name_; }
    const std::string &description() const { return desc_; }
    uint32_t caps() const { return LLM4ALL_CAP_F16 | LLM4ALL_CAP_EMULATED; }
    void memory(uint64_t *t, uint64_t *f) const { *t = 8ull << 30; *f = 8ull << 30; }
    uint64_t max_binding_bytes() const { return 1ull << 31; }
    uint64_t alloc(size_t bytes);
    void free(uint64_t addr);
    Allocation &find(uint64_t addr, size_t bytes);
    void upload(uint64_t dst, const void *src, size_t bytes);
private:
    std::string name_ = "Metal emulated on the CPU", desc_ = "mock metal_stdlib";
    std::mutex mu_;
    std::map<uint64_t, std::unique_ptr<Allocation>> allocs_;
};
struct Instance { std::vector<std::unique_ptr<Device>> devices; };
Instance *instance(std::string *why);
Device *device(int32_t index);
} // namespace llm4all::mt
