// test_threads.cpp — the CPU backend's thread pool: every item of every job runs
// exactly once, and parallel_for returns only after all of them, however late the
// workers wake (items that sleep stand in for descheduled threads).
// test-sources: backends/cpu/threads.cpp
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../../backends/cpu/threads.h"

#include "check.h"

using llm4all::cpu::ThreadPool;

namespace {

// Many jobs of random sizes back to back: each item's counter must end at exactly one.
void check_exactly_once(int n_threads, int n_jobs, bool sleepy) {
    ThreadPool pool(n_threads);
    std::mt19937 rng(uint32_t(n_threads * 1000 + n_jobs));
    std::vector<std::atomic<int>> hits(4096);
    int bad = 0;
    for (int job = 0; job < n_jobs; ++job) {
        const int64_t n = std::uniform_int_distribution<int64_t>(0, int64_t(hits.size()))(rng);
        for (auto &h : hits) h.store(0, std::memory_order_relaxed);
        pool.parallel_for(n, [&](int64_t i) {
            if (sleepy && i % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
            hits[size_t(i)].fetch_add(1, std::memory_order_relaxed);
        });
        // Every item done when the call returns, and none of a later job reaches this one.
        for (int64_t i = 0; i < int64_t(hits.size()); ++i)
            if (hits[size_t(i)].load(std::memory_order_relaxed) != (i < n ? 1 : 0)) ++bad;
        // Gaps longer than the workers' spin, so some jobs find them asleep.
        if (job % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(400));
    }
    check(bad == 0, std::to_string(n_threads) + " threads" + (sleepy ? " (sleepy items)" : "") + ": " +
                        std::to_string(bad) + " items run other than once");
}

// Small and large jobs in turn, back to back: a worker still looking at a finished small
// job while the caller publishes a larger one must not claim a phantom item of it (that
// ran an item twice and left the caller waiting for a count it had passed).
void check_alternating(int n_threads, int n_jobs) {
    ThreadPool pool(n_threads);
    std::vector<std::atomic<int>> hits(64);
    int bad = 0;
    for (int job = 0; job < n_jobs; ++job) {
        const int64_t n = job % 2 ? 64 : 2;
        for (int64_t i = 0; i < n; ++i) hits[size_t(i)].store(0, std::memory_order_relaxed);
        pool.parallel_for(n, [&](int64_t i) { hits[size_t(i)].fetch_add(1, std::memory_order_relaxed); });
        for (int64_t i = 0; i < n; ++i)
            if (hits[size_t(i)].load(std::memory_order_relaxed) != 1) ++bad;
    }
    check(bad == 0, std::to_string(n_threads) + " threads, alternating sizes: " + std::to_string(bad) +
                        " items run other than once");
}

} // namespace

int main() {
    // A pool that loses count hangs its caller: fail with a message rather than hang.
    std::thread([] {
        std::this_thread::sleep_for(std::chrono::seconds(120));
        std::printf("FAIL: still running after 120 s: a parallel_for never returned\n");
        std::fflush(stdout);
        std::_Exit(1);
    }).detach();
    for (int threads : {1, 2, 3, 8}) {
        check_exactly_once(threads, 2000, false);
        check_exactly_once(threads, 200, true);
    }
    for (int threads : {2, 3}) check_alternating(threads, 200000);
    // Pools are created and destroyed often (one per session): none may hang or leak a thread.
    for (int i = 0; i < 200; ++i) {
        ThreadPool pool(4);
        std::atomic<int64_t> sum{0};
        pool.parallel_for(100, [&](int64_t k) { sum.fetch_add(k); });
        check(sum.load() == 4950, "pool " + std::to_string(i) + ": sum " + std::to_string(sum.load()));
    }
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
