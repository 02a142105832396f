// limits.h — what the engine refuses from a caller before allocating anything:
// thread counts it could not start, and memory requests larger than the machine.
// Errors name the option and its value (INVALID_ARGUMENT / OUT_OF_MEMORY).
#pragma once

#include <cstdint>

namespace llm4all {

// The largest session context accepted (16M tokens, beyond every model's training).
constexpr int32_t k_max_session_ctx = 1 << 24;

// More threads than this is a mistake, not a machine: each one costs a stack.
constexpr int32_t k_max_threads = 1024;

// n (0 = one per hardware thread) checked: negative or above k_max_threads fails,
// naming `option`.
int32_t resolve_threads(int32_t n, const char *option);

// Physical memory of this machine in bytes (0 when the system does not say).
uint64_t physical_memory_bytes();

// Fails with OUT_OF_MEMORY when bytes exceed the machine's physical memory: such a
// buffer could only be overcommitted and would crash the process when touched.
void check_fits_memory(uint64_t bytes, const char *what);

} // namespace llm4all
