// runtime.cpp — the emulator's device memory, contexts and kernel runs: one
// threadgroup at a time; a kernel without barriers runs its threads one after the
// other, one with barriers gets an OS thread per GPU thread for the whole dispatch
// (they wait for each other between threadgroups, which share the static arrays).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "kernel.h"
// metal_stdlib's address-space words must not reach the plugin's own headers.
#undef device
#undef kernel
#undef thread
#undef constant
#include "context.h"

namespace emu {

struct Kernel {
    Launch launch;
    int n_bufs;
    bool barrier;
};
std::map<std::string, Kernel> &table() {
    static std::map<std::string, Kernel> t;
    return t;
}
void add_kernel(const char *name, Launch launch, int n_bufs, bool barrier) { table()[name] = {launch, n_bufs, barrier}; }

// The threads of a threadgroup meet here; a thread that never comes (a kernel
// returning early on some threads only) is reported instead of hanging.
struct Barrier {
    std::mutex m;
    std::condition_variable cv;
    uint32_t n = 0, waiting = 0;
    uint64_t generation = 0;
    void wait() {
        std::unique_lock<std::mutex> lock(m);
        const uint64_t g = generation;
        if (++waiting == n) {
            waiting = 0;
            ++generation;
            cv.notify_all();
            return;
        }
        if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return generation != g; })) {
            std::fprintf(stderr, "metal emulator: a barrier waited 60 s (a thread returned early?)\n");
            std::abort();
        }
    }
};
thread_local Barrier *t_barrier = nullptr;

} // namespace emu

void metal::threadgroup_barrier(metal::mem_flags) {
    if (!emu::t_barrier) {
        std::fprintf(stderr, "metal emulator: a barrier in a kernel registered without barriers\n");
        std::abort();
    }
    emu::t_barrier->wait();
}

namespace llm4all::mt {

void fail(const std::string &message) { throw Failure(message); }

bool protect(std::string *why, const std::function<void()> &body) {
    try {
        body();
        return true;
    } catch (const std::exception &e) {
        if (why) *why = e.what();
    } catch (...) {
        if (why) *why = "unknown error";
    }
    return false;
}

namespace {
std::atomic<uint64_t> g_next_addr{1ull << 44};
constexpr uint64_t k_gap = 1ull << 20;
} // namespace

uint64_t Device::alloc(size_t bytes) {
    auto a = std::make_unique<Allocation>();
    a->bytes = bytes;
    a->capacity = (std::max<size_t>(bytes, 4) + 255) & ~size_t(255);
    a->mem.assign(a->capacity, 0xcd);  // not zeros: a kernel reading unwritten memory shows
    a->addr = g_next_addr.fetch_add(((uint64_t(bytes) + 2 * k_gap - 1) & ~(k_gap - 1)) + k_gap);
    const uint64_t addr = a->addr;
    std::lock_guard<std::mutex> lock(mu_);
    allocs_[addr] = std::move(a);
    return addr;
}

void Device::free(uint64_t addr) {
    std::lock_guard<std::mutex> lock(mu_);
    allocs_.erase(addr);
}

Allocation &Device::find(uint64_t addr, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = allocs_.upper_bound(addr);
    if (it != allocs_.begin()) {
        --it;
        Allocation &a = *it->second;
        if (addr >= a.addr && addr - a.addr <= a.bytes && bytes <= a.bytes - (addr - a.addr)) return a;
    }
    fail("metal emulator: an address outside every allocation");
}

void Device::upload(uint64_t dst, const void *src, size_t bytes) {
    if (!bytes) return;
    Allocation &a = find(dst, bytes);
    std::memcpy(a.mem.data() + (dst - a.addr), src, bytes);
}

Instance *instance(std::string *) {
    static Instance inst = [] {
        Instance i;
        i.devices.push_back(std::make_unique<Device>());
        return i;
    }();
    return &inst;
}

Device *device(int32_t index) { return index == 0 ? instance(nullptr)->devices[0].get() : nullptr; }

uint32_t Binding::elem(uint32_t elem_bytes) const {
    if (elem_bytes > 1 && skew % elem_bytes) fail("address is not aligned to its elements");
    return skew / elem_bytes;
}

int32_t guarded(llm4all_backend_ctx *ctx, const char *op, const std::function<void()> &body) {
    if (!ctx) return 1;
    ctx->error.clear();
    std::string why;
    if (protect(&why, [&] {
            ctx->op_begin();
            body();
        }))
        return 0;
    ctx->error = std::string("metal ") + op + ": " + why;
    return 1;
}

} // namespace llm4all::mt

using namespace llm4all::mt;

llm4all_backend_ctx::~llm4all_backend_ctx() {
    if (scratch_addr_) dev->free(scratch_addr_);
}

// As ../context.mm: the offset aligned down to 16 bytes, the rest as skew.
Binding llm4all_backend_ctx::resolve(const void *addr, size_t bytes) {
    const uint64_t a_addr = uint64_t(uintptr_t(addr));
    Allocation &a = dev->find(a_addr, bytes);
    const uint64_t off = a_addr - a.addr;
    Binding b;
    b.buffer = a.mem.data();
    b.offset = off - off % 16;
    b.skew = uint32_t(off - b.offset);
    return b;
}

Binding llm4all_backend_ctx::host_array(const void *data, size_t bytes) {
    arrays_.emplace_back(std::max<size_t>(bytes, 4) + 16);
    if (bytes) std::memcpy(arrays_.back().data(), data, bytes);
    Binding b;
    b.buffer = arrays_.back().data();
    return b;
}

Binding llm4all_backend_ctx::scratch(size_t bytes) {
    if (bytes > scratch_bytes_) {
        const size_t want = std::max(bytes, scratch_bytes_ * 2);
        if (scratch_addr_) dev->free(scratch_addr_);
        scratch_addr_ = dev->alloc(want);
        scratch_bytes_ = want;
    }
    return resolve(reinterpret_cast<const void *>(uintptr_t(scratch_addr_)), bytes);
}

void llm4all_backend_ctx::groups_2d(uint64_t n, uint32_t *gx, uint32_t *gy) const {
    if (n <= 65535) {
        *gx = uint32_t(std::max<uint64_t>(n, 1));
        *gy = 1;
        return;
    }
    const uint64_t y = (n + 65534) / 65535;
    *gy = uint32_t(y);
    *gx = uint32_t((n + y - 1) / y);
}

void llm4all_backend_ctx::upload(void *dst, const void *src, size_t bytes) {
    dev->upload(uint64_t(uintptr_t(dst)), src, bytes);
}

void llm4all_backend_ctx::download(void *dst, const void *src, size_t bytes) {
    synchronize();
    if (!bytes) return;
    const uint64_t s_addr = uint64_t(uintptr_t(src));
    Allocation &a = dev->find(s_addr, bytes);
    std::memcpy(dst, a.mem.data() + (s_addr - a.addr), bytes);
}

void llm4all_backend_ctx::dispatch(const char *kernel, std::initializer_list<Binding> bindings, const void *push,
                                   size_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t threads) {
    if (!gx || !gy || !gz) return;
    auto it = emu::table().find(kernel);
    if (it == emu::table().end()) fail(std::string("metal emulator: no kernel ") + kernel);
    const emu::Kernel &k = it->second;
    // The kernel's buffer parameters must be what the host binds (plugin.mm would
    // leave the rest unbound on a GPU).
    if (int(bindings.size()) != k.n_bufs || bindings.size() > 16)
        fail(std::string("metal emulator: ") + kernel + " takes " + std::to_string(k.n_bufs) + " buffers, " +
             std::to_string(bindings.size()) + " bound");
    void *bufs[16];
    int i = 0;
    for (const Binding &b : bindings) bufs[i++] = b.buffer + b.offset;
    // Past the host's push constants: zeros, so a kernel struct larger than the host's
    // reads zeros (and the op test fails) rather than memory that is not there.
    std::vector<uint8_t> pc(push_bytes + 64, 0);
    std::memcpy(pc.data(), push, push_bytes);
    const metal::uint3 ntg(gx, gy, gz);
    const uint64_t n_groups = uint64_t(gx) * gy * gz;
    auto group = [&](uint64_t g) {
        return metal::uint3(uint32_t(g % gx), uint32_t(g / gx % gy), uint32_t(g / gx / gy));
    };
    if (!k.barrier) {
        for (uint64_t g = 0; g < n_groups; ++g)
            for (uint32_t l = 0; l < threads; ++l) k.launch(bufs, pc.data(), group(g), ntg, l);
        return;
    }
    emu::Barrier bar;
    bar.n = threads;
    std::vector<std::thread> ts;
    for (uint32_t l = 0; l < threads; ++l)
        ts.emplace_back([&, l] {
            emu::t_barrier = &bar;
            for (uint64_t g = 0; g < n_groups; ++g) {
                k.launch(bufs, pc.data(), group(g), ntg, l);
                bar.wait();  // the next threadgroup reuses the static arrays
            }
        });
    for (auto &t : ts) t.join();
}
