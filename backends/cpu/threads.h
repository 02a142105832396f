// threads.h — a small persistent thread pool for the CPU ops. parallel_for
// hands out indices 0..n-1 through an atomic claim word; the calling thread works
// too and returns once every item is done, whether or not each worker woke up
// for the job. Workers spin briefly after a job (decode issues many small jobs
// in a row) and then sleep on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace llm4all::cpu {

// A non-owning reference to a callable taking the item index. Unlike
// std::function it never allocates, so each op's lambda (which captures many
// references) costs nothing to hand to the pool in the token loop.
class TaskRef {
public:
    template <class F>
    TaskRef(const F &f) : obj_(&f), call_([](const void *o, int64_t i) { (*static_cast<const F *>(o))(i); }) {}
    void operator()(int64_t i) const { call_(obj_, i); }

private:
    const void *obj_;
    void (*call_)(const void *, int64_t);
};

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool &) = delete;
    ThreadPool &operator=(const ThreadPool &) = delete;

    int size() const { return n_threads_; }
    // Runs fn(i) for every i in [0, n); returns when all are done. One caller at a
    // time and not from inside fn (a nested call would end the outer job).
    // fn must outlive the call (a lambda at the call site does).
    void parallel_for(int64_t n, TaskRef fn);

private:
    void worker_loop();
    void run_items(uint32_t job);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable wake_;
    std::atomic<uint64_t> claim_{0};      // job id << 32 | items not yet claimed
    uint32_t n_items_ = 0;                // the current job's item count
    std::atomic<int64_t> done_{0};        // its items finished
    const TaskRef *fn_ = nullptr;
    std::atomic<bool> stop_{false};
};

} // namespace llm4all::cpu
