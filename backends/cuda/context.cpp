// context.cpp — contexts (stream, staging for uploads and per-call arrays), the
// allocation registry and the per-device streams of the CUDA plugin.
#include "context.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace llm4all::cu {

void fail(const std::string &message) { throw Failure(message); }

void check(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return;
    cudaGetLastError();  // clear a non-sticky error so the next call starts clean
    fail(std::string(what) + ": " + cudaGetErrorString(e));
}

namespace {
std::mutex g_alloc_mutex;
std::map<uintptr_t, size_t> g_allocs;  // start address -> bytes
std::mutex g_stream_mutex;
std::vector<cudaStream_t> g_streams;
} // namespace

void register_alloc(const void *p, size_t bytes) {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    g_allocs[reinterpret_cast<uintptr_t>(p)] = bytes;
}

void unregister_alloc(const void *p) {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    g_allocs.erase(reinterpret_cast<uintptr_t>(p));
}

void need(const void *p, size_t bytes, const char *what) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    auto it = g_allocs.upper_bound(a);
    if (!p || it == g_allocs.begin())
        fail(std::string(what) + " is not an address of this device's memory");
    --it;
    if (a - it->first > it->second)
        fail(std::string(what) + " is not an address of this device's memory");
    if (bytes > it->second - (a - it->first))
        fail(std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " + std::to_string(a - it->first) +
             " run past the end of its allocation of " + std::to_string(it->second) + " bytes");
}

cudaStream_t device_stream(int device) {
    std::lock_guard<std::mutex> lock(g_stream_mutex);
    if (device < 0) fail("no device " + std::to_string(device));
    if (g_streams.size() <= size_t(device)) g_streams.resize(size_t(device) + 1, nullptr);
    if (!g_streams[size_t(device)]) {
        check(cudaSetDevice(device), "cudaSetDevice");
        cudaStream_t s = nullptr;
        // Non-blocking: the legacy default stream (cudaMemcpy of weights) does not
        // serialise with it; device_upload waits for its own copy before returning.
        check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
        g_streams[size_t(device)] = s;  // lives as long as the process
    }
    return g_streams[size_t(device)];
}

} // namespace llm4all::cu

using llm4all::cu::check;
using llm4all::cu::fail;

namespace {
constexpr size_t k_host_ring = size_t(16) << 20;  // upload staging
constexpr size_t k_dev_ring = size_t(4) << 20;    // per-call arrays
constexpr size_t k_align = 256;
size_t round_up(size_t n) { return (n + k_align - 1) / k_align * k_align; }
} // namespace

llm4all_backend_ctx::llm4all_backend_ctx(int device_) : device(device_), stream(nullptr) {
    check(cudaSetDevice(device), "cudaSetDevice");
    stream = llm4all::cu::device_stream(device);
    check(cudaMallocHost(reinterpret_cast<void **>(&host_ring_), k_host_ring), "cudaMallocHost (staging)");
    host_size_ = k_host_ring;
    if (cudaMalloc(reinterpret_cast<void **>(&dev_ring_), k_dev_ring) != cudaSuccess) {
        cudaGetLastError();
        cudaFreeHost(host_ring_);
        fail("cudaMalloc of " + std::to_string(k_dev_ring) + " bytes for per-call arrays failed");
    }
    dev_size_ = k_dev_ring;
}

llm4all_backend_ctx::~llm4all_backend_ctx() {
    cudaSetDevice(device);
    cudaStreamSynchronize(stream);  // copies may still read the staging ring
    cudaFree(dev_ring_);
    cudaFreeHost(host_ring_);
    cudaGetLastError();
}

char *llm4all_backend_ctx::stage(const void *src, size_t bytes) {
    if (bytes > host_size_) fail("staging copy larger than the staging buffer");
    if (host_off_ + bytes > host_size_) {
        synchronize();  // every queued copy out of the ring has run
        host_off_ = 0;
    }
    char *p = host_ring_ + host_off_;
    std::memcpy(p, src, bytes);
    host_off_ += round_up(bytes);
    return p;
}

const void *llm4all_backend_ctx::to_device(const void *host, size_t bytes) {
    if (!host || !bytes) return nullptr;
    if (bytes > dev_size_) fail("per-call array of " + std::to_string(bytes) + " bytes is too large");
    if (dev_off_ + bytes > dev_size_) dev_off_ = 0;
    char *dst = dev_ring_ + dev_off_;
    dev_off_ += round_up(bytes);
    check(cudaMemcpyAsync(dst, stage(host, bytes), bytes, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
    return dst;
}

void llm4all_backend_ctx::upload(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    llm4all::cu::need(dst, bytes, "upload destination");
    if (!src) fail("upload from a null pointer");
    const size_t chunk = host_size_ / 2;
    for (size_t off = 0; off < bytes; off += chunk) {
        const size_t n = std::min(chunk, bytes - off);
        char *s = stage(static_cast<const char *>(src) + off, n);
        check(cudaMemcpyAsync(static_cast<char *>(dst) + off, s, n, cudaMemcpyHostToDevice, stream),
              "cudaMemcpyAsync");
    }
}

void llm4all_backend_ctx::download(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    llm4all::cu::need(src, bytes, "download source");
    if (!dst) fail("download into a null pointer");
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync");
    synchronize();
}

void llm4all_backend_ctx::synchronize() {
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    host_off_ = 0;
}
