// limits.cpp — checks of caller-supplied sizes against the machine (limits.h).
#include "limits.h"

#include <algorithm>
#include <string>
#include <thread>

#include "error.h"
#include "platform/platform.h"

namespace llm4all {

int32_t resolve_threads(int32_t n, const char *option) {
    if (n < 0 || n > k_max_threads)
        fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string(option) + " = " + std::to_string(n) + " is out of range (0.." +
                                               std::to_string(k_max_threads) + "; 0 = every core)");
    return n > 0 ? n : static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
}

uint64_t physical_memory_bytes() { return platform::physical_memory(); }

void check_fits_memory(uint64_t bytes, const char *what) {
    const uint64_t ram = physical_memory_bytes();
    if (ram && bytes > ram)
        fail(LLM4ALL_ERR_OUT_OF_MEMORY, std::string(what) + " needs " + std::to_string(bytes >> 20) +
                                            " MiB, more than this machine's memory (" + std::to_string(ram >> 20) + " MiB)");
}

} // namespace llm4all
