// device.mm — the Metal devices, device memory behind the plugin's addresses, and
// the pipeline cache (see device.h).
//
// Kernels are compiled at run time (newLibraryWithSource) from the source embedded
// at build time, not ahead of time with `xcrun metal`/`metallib`: the offline Metal
// compiler comes only with a full Xcode (and since Xcode 26 as a separate download),
// while the run-time compiler is part of Metal.framework on every Mac. So a build
// with the Command Line Tools alone (as `pip install` does) gets a working plugin, and
// one source tree serves every GPU family and OS version. The cost is a compile of
// each kernel variant at its first use (tens of ms each; macOS keeps compiled
// shaders in its own cache across runs). `cmake --build <dir> --target
// llm4all-metal-check` compiles every variant offline where Xcode is installed.
#include "device.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "llm4all/llm4all.h"  // log levels
#include "shaders.h"

namespace llm4all::mt {

void fail(const std::string &message) { throw Failure(message); }

std::string text(NSString *s) { return s ? std::string([s UTF8String]) : std::string(); }
std::string text(NSError *e) { return e ? text([e localizedDescription]) : std::string("unknown error"); }

bool protect(std::string *why, const std::function<void()> &body) {
    std::string msg;
    try {
        @autoreleasepool {
            @try {
                try {
                    body();
                    return true;
                } catch (const std::exception &e) {
                    msg = e.what();
                }
            } @catch (NSException *e) {
                msg = text([e name]) + ": " + text([e reason]);
            }
        }
    } catch (...) {
        msg = "unknown error";
    }
    if (why) *why = msg.empty() ? "unknown error" : msg;
    return false;
}

namespace {

// Allocations sit this far apart in the address space, so an address just past one
// never falls into the next (a core bug then fails with a clear message).
constexpr uint64_t k_addr_gap = 1ull << 20;
std::atomic<uint64_t> g_next_addr{1ull << 44};

bool env_on(const char *name) {
    const char *e = std::getenv(name);
    return e && *e && std::strcmp(e, "0") != 0;
}

} // namespace

uint64_t reserve_addresses(size_t bytes) {
    const uint64_t span = (uint64_t(bytes) + k_addr_gap + k_addr_gap - 1) & ~(k_addr_gap - 1);
    return g_next_addr.fetch_add(span + k_addr_gap);
}

// ---- Device: description -----------------------------------------------------------

Device::Device(id<MTLDevice> dev) : dev_(dev) {
    name_ = text([dev name]);
    // F16 arithmetic is native on every Metal GPU. HOST_MEMORY stays clear even on
    // unified memory: the core then moves data only through upload/download, which
    // order host copies with the queued GPU work.
    caps_ = LLM4ALL_CAP_F16;
    const bool unified = [dev hasUnifiedMemory];
    // LLM4ALL_METAL_PRIVATE=1 keeps buffers in private storage on unified memory too,
    // so tests on Apple silicon take the staging paths that discrete GPUs take.
    shared_ = unified && !env_on("LLM4ALL_METAL_PRIVATE");
    max_binding_ = std::min<uint64_t>(uint64_t([dev maxBufferLength]), 1ull << 31);
    description_ = "Metal, " + std::string(unified ? "unified memory" : "discrete memory");
    if ([dev isLowPower]) description_ += ", low power";
    if ([dev isRemovable]) description_ += ", removable";
    description_ += ", " + text([[NSProcessInfo processInfo] operatingSystemVersionString]);
}

void Device::memory(uint64_t *total, uint64_t *free_bytes) const {
    // recommendedMaxWorkingSetSize: what Metal advises one process to keep resident
    // on this GPU (on unified memory, a share of RAM).
    const uint64_t t = uint64_t([dev_ recommendedMaxWorkingSetSize]);
    const uint64_t used = uint64_t([dev_ currentAllocatedSize]);
    if (total) *total = t;
    if (free_bytes) *free_bytes = t > used ? t - used : 0;
}

// ---- Device: memory ------------------------------------------------------------------

uint64_t Device::alloc(size_t bytes) {
    if (bytes > [dev_ maxBufferLength])
        fail("an allocation of " + std::to_string(bytes) + " bytes is larger than one Metal buffer may be (" +
             std::to_string(uint64_t([dev_ maxBufferLength])) + ")");
    auto a = std::make_unique<Allocation>();
    a->bytes = bytes;
    // Rounded up to whole 256 bytes: kernels read the last bytes as a uint.
    a->capacity = (std::max<size_t>(bytes, 4) + 255) & ~size_t(255);
    const MTLResourceOptions opts = shared_ ? MTLResourceStorageModeShared : MTLResourceStorageModePrivate;
    a->buffer = [dev_ newBufferWithLength:a->capacity options:opts];
    if (!a->buffer)
        fail("cannot allocate " + std::to_string(bytes) + " bytes of Metal memory on " + name_);
    if (shared_) a->contents = [a->buffer contents];
    a->addr = reserve_addresses(bytes);
    const uint64_t addr = a->addr;
    std::lock_guard<std::mutex> lock(mem_mutex_);
    allocs_[addr] = std::move(a);
    return addr;
}

void Device::free(uint64_t addr) {
    std::lock_guard<std::mutex> lock(mem_mutex_);
    auto it = allocs_.find(addr);
    if (it != allocs_.end()) allocs_.erase(it);  // ARC releases the buffer
}

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
                          "metal: %zu bytes at offset %llu run past the end of an allocation of %zu bytes", bytes,
                          (unsigned long long)(addr - a.addr), a.bytes);
            fail(buf);
        }
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "metal: address 0x%llx is not memory of device %s", (unsigned long long)addr,
                  name_.c_str());
    fail(buf);
}

id<MTLBuffer> Device::staging(const void *src, size_t bytes) {
    static const uint32_t zero = 0;
    // newBufferWithBytes copies at once, so src may go away after this call.
    id<MTLBuffer> b = bytes ? [dev_ newBufferWithBytes:src length:bytes options:MTLResourceStorageModeShared]
                            : [dev_ newBufferWithBytes:&zero length:sizeof zero options:MTLResourceStorageModeShared];
    if (!b) fail("cannot allocate a staging buffer of " + std::to_string(bytes) + " bytes");
    return b;
}

id<MTLCommandQueue> Device::queue() {
    if (!queue_) queue_ = [dev_ newCommandQueue];
    if (!queue_) fail("cannot create a Metal command queue on " + name_);
    return queue_;
}

void Device::read_words(const Allocation &a, size_t lo, size_t n, void *out) {
    if (a.contents) {
        std::memcpy(out, static_cast<const uint8_t *>(a.contents) + lo, n);
        return;
    }
    id<MTLBuffer> stage = [dev_ newBufferWithLength:std::max<size_t>(n, 4) options:MTLResourceStorageModeShared];
    if (!stage) fail("cannot allocate a readback buffer of " + std::to_string(n) + " bytes");
    std::lock_guard<std::mutex> lock(queue_mutex_);
    id<MTLCommandBuffer> cb = [queue() commandBuffer];
    id<MTLBlitCommandEncoder> blit = [cb blitCommandEncoder];
    [blit copyFromBuffer:a.buffer sourceOffset:lo toBuffer:stage destinationOffset:0 size:n];
    [blit endEncoding];
    [cb commit];
    [cb waitUntilCompleted];
    if ([cb status] == MTLCommandBufferStatusError) fail("metal readback: " + text([cb error]));
    std::memcpy(out, [stage contents], n);
}

void Device::upload(uint64_t dst, const void *src, size_t bytes) {
    if (!bytes) return;
    const Allocation &a = find(dst, bytes);
    const size_t off = size_t(dst - a.addr);
    if (a.contents) {
        std::memcpy(static_cast<uint8_t *>(a.contents) + off, src, bytes);
        return;
    }
    // Private memory: a blit from a shared copy, waited for. Blits move whole 4-byte
    // words: the words around an unaligned range are read back and patched.
    const size_t lo = off & ~size_t(3), hi = (off + bytes + 3) & ~size_t(3);
    id<MTLBuffer> stage;
    if (lo == off && hi == off + bytes) {
        stage = staging(src, bytes);
    } else {
        std::vector<uint8_t> words(hi - lo);
        read_words(a, lo, words.size(), words.data());
        std::memcpy(words.data() + (off - lo), src, bytes);
        stage = staging(words.data(), words.size());
    }
    std::lock_guard<std::mutex> lock(queue_mutex_);
    id<MTLCommandBuffer> cb = [queue() commandBuffer];
    id<MTLBlitCommandEncoder> blit = [cb blitCommandEncoder];
    [blit copyFromBuffer:stage sourceOffset:0 toBuffer:a.buffer destinationOffset:lo size:hi - lo];
    [blit endEncoding];
    [cb commit];
    [cb waitUntilCompleted];
    if ([cb status] == MTLCommandBufferStatusError) fail("metal upload: " + text([cb error]));
}

// ---- Device: pipelines ----------------------------------------------------------------

id<MTLComputePipelineState> Device::pipeline(const char *name) {
    std::lock_guard<std::mutex> lock(pipe_mutex_);
    auto it = pipes_.find(name);
    if (it != pipes_.end()) return it->second;
    const ShaderVariant *v = find_variant(name);
    if (!v) fail(std::string("no Metal kernel called ") + name + " in this plugin");
    const std::string source = shader_source(v->source);
    MTLCompileOptions *opts = [MTLCompileOptions new];
    NSMutableDictionary *macros = [NSMutableDictionary dictionary];
    for (const auto &d : shader_defines(v->defines))
        macros[[NSString stringWithUTF8String:d.first.c_str()]] = [NSString stringWithUTF8String:d.second.c_str()];
    opts.preprocessorMacros = macros;
    // IEEE arithmetic (infinities in the softmax, exact divisions), as the CPU backend.
    // fastMathEnabled is deprecated from macOS 15 in favour of mathMode but still honoured.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    opts.fastMathEnabled = NO;
#pragma clang diagnostic pop
    NSError *err = nil;
    id<MTLLibrary> lib = [dev_ newLibraryWithSource:[NSString stringWithUTF8String:source.c_str()]
                                            options:opts
                                              error:&err];
    if (!lib) fail(std::string("cannot compile Metal kernel ") + name + ": " + text(err));
    const std::string fn_name = shader_function(v->source);
    id<MTLFunction> fn = [lib newFunctionWithName:[NSString stringWithUTF8String:fn_name.c_str()]];
    if (!fn) fail(std::string("Metal kernel ") + name + ": no function " + fn_name + " in " + v->source);
    err = nil;
    id<MTLComputePipelineState> ps = [dev_ newComputePipelineStateWithFunction:fn error:&err];
    if (!ps) fail(std::string("cannot make the Metal pipeline ") + name + ": " + text(err));
    log(LLM4ALL_LOG_DEBUG, std::string("metal: compiled kernel ") + name + " on " + name_);
    pipes_[name] = ps;
    return ps;
}

// ---- instance ------------------------------------------------------------------------

namespace {

std::once_flag g_once;
Instance *g_instance = nullptr;
std::string g_problem;

} // namespace

Instance *instance(std::string *why) {
    std::call_once(g_once, [] {
        std::string err;
        const bool ok = protect(&err, [] {
            NSArray<id<MTLDevice>> *all = MTLCopyAllDevices();
            auto inst = std::make_unique<Instance>();
            for (id<MTLDevice> d in all) inst->devices.push_back(std::make_unique<Device>(d));
            if (inst->devices.empty()) fail("no Metal device");
            g_instance = inst.release();
        });
        if (!ok) g_problem = err.rfind("no Metal device", 0) == 0 ? err : "no Metal device (" + err + ")";
    });
    if (!g_instance) {
        if (why) *why = g_problem;
        return nullptr;
    }
    return g_instance;
}

Device *device(int32_t index) {
    Instance *inst = instance(nullptr);
    if (!inst || index < 0 || size_t(index) >= inst->devices.size()) return nullptr;
    return inst->devices[size_t(index)].get();
}

} // namespace llm4all::mt
