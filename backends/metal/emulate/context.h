// context.h — the emulator's stand-in for ../context.h: the same API for the op files
// (resolve, host_array, scratch, dispatch, ...); each dispatch runs at once on the CPU.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>
#include "device.h"

namespace llm4all::mt {
struct Binding {
    uint8_t *buffer = nullptr;
    size_t offset = 0;
    uint32_t skew = 0;
    uint32_t elem(uint32_t elem_bytes) const;
};
} // namespace llm4all::mt

struct llm4all_backend_ctx {
    explicit llm4all_backend_ctx(llm4all::mt::Device *d) : dev(d) {}
    ~llm4all_backend_ctx();
    llm4all::mt::Device *dev;
    std::string error;
    llm4all::mt::Binding resolve(const void *addr, size_t bytes);
    uint64_t max_binding_bytes() const { return dev->max_binding_bytes(); }
    llm4all::mt::Binding host_array(const void *data, size_t bytes);
    llm4all::mt::Binding scratch(size_t bytes);
    void dispatch(const char *kernel, std::initializer_list<llm4all::mt::Binding> bindings, const void *push,
                  size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t threads);
    void groups_2d(uint64_t n, uint32_t *gx, uint32_t *gy) const;
    void upload(void *dst, const void *src, size_t bytes);
    void download(void *dst, const void *src, size_t bytes);
    void synchronize() { arrays_.clear(); }
    void op_begin() {}
private:
    std::vector<std::vector<uint8_t>> arrays_;
    uint64_t scratch_addr_ = 0;
    size_t scratch_bytes_ = 0;
};

namespace llm4all::mt {
int32_t guarded(llm4all_backend_ctx *ctx, const char *op, const std::function<void()> &body);
}
