// threads.cpp — the persistent thread pool behind every parallel CPU op.
//
// Items are claimed from one atomic word holding (job id << 32 | items left), so a
// claim names the job it belongs to: a worker that wakes late, after the job has
// ended or another has begun, fails its claim instead of running a stale item. The
// caller therefore waits for the items to finish, not for every worker to show up:
// on a machine where the server, its clients and the decode threads share the cores,
// a worker that is descheduled costs only the item it holds.
#include "threads.h"

#include <algorithm>
#include <chrono>

namespace llm4all::cpu {

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true, std::memory_order_relaxed);
        claim_.store(((claim_.load(std::memory_order_relaxed) >> 32) + 1) << 32, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto &t : workers_) t.join();
}

void ThreadPool::run_items(uint32_t job) {
    uint64_t w = claim_.load(std::memory_order_acquire);
    for (;;) {
        // Another job's word, or none of this job's items left: nothing to claim. (The
        // word counts the items left, not the next index: checked against a count read
        // apart from it, a finished job's word could be claimed while the caller was
        // already writing the next job's count.)
        if (uint32_t(w >> 32) != job || uint32_t(w) == 0) return;
        if (!claim_.compare_exchange_weak(w, w - 1, std::memory_order_acquire, std::memory_order_acquire)) continue;
        // The claim holds the job open (its caller waits for done_), so n_items_ and fn_
        // are this job's.
        (*fn_)(int64_t(n_items_) - int64_t(uint32_t(w)));
        done_.fetch_add(1, std::memory_order_release);
        w = claim_.load(std::memory_order_acquire);
    }
}

void ThreadPool::worker_loop() {
    uint32_t seen = 0;
    auto job_of = [this] { return uint32_t(claim_.load(std::memory_order_acquire) >> 32); };
    for (;;) {
        // Spin a little: the next op usually follows within microseconds.
        auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
        while (job_of() == seen && std::chrono::steady_clock::now() < spin_until) std::this_thread::yield();
        if (job_of() == seen) {
            std::unique_lock<std::mutex> lock(mu_);
            wake_.wait(lock, [&] { return job_of() != seen; });
        }
        seen = job_of();
        if (stop_.load(std::memory_order_relaxed)) return;
        run_items(seen);
    }
}

void ThreadPool::parallel_for(int64_t n, TaskRef fn) {
    if (n <= 0) return;
    if (workers_.empty() || n == 1) {
        for (int64_t i = 0; i < n; ++i) fn(i);
        return;
    }
    // A claim word counts at most 2^32 - 1 items: larger loops go in pieces.
    constexpr int64_t k_max_items = 0xffffffff;
    if (n > k_max_items) {
        for (int64_t at = 0; at < n; at += k_max_items)
            parallel_for(std::min(k_max_items, n - at), [&](int64_t i) { fn(at + i); });
        return;
    }
    uint32_t job;
    {
        std::lock_guard<std::mutex> lock(mu_);
        fn_ = &fn;
        n_items_ = uint32_t(n);
        done_.store(0, std::memory_order_relaxed);
        job = uint32_t(claim_.load(std::memory_order_relaxed) >> 32) + 1;
        claim_.store(uint64_t(job) << 32 | uint64_t(n), std::memory_order_release);
    }
    wake_.notify_all();
    run_items(job);
    while (done_.load(std::memory_order_acquire) != n) std::this_thread::yield();
}

} // namespace llm4all::cpu
