// memory.h — how much memory a model and a session on it will take, computed from the
// GGUF header and the session's sizes alone (no weight is read), what this machine has
// available (MemAvailable, a cgroup limit, or LLM4ALL_MEMORY_LIMIT), and the check that
// refuses a load that cannot fit before anything large is allocated or touched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model.h"

namespace llm4all {

// Bytes one device holds for a model and a session, by purpose.
struct MemoryUse {
    std::string device;     // "cpu" today; a GPU backend adds its own entries
    uint64_t weights = 0;   // weight pages a run touches (mapped file pages count once touched)
    uint64_t kv_cache = 0;  // K and V of every layer, as kv_cache.cpp sizes them
    uint64_t compute = 0;   // activations of a full prompt batch, logits, sampler, backend buffers
    uint64_t runtime = 0;   // parsed vocabulary and other tables, libraries, threads
    uint64_t total() const { return weights + kv_cache + compute + runtime; }
};

struct SessionShape {
    int32_t n_ctx = 0;      // as Session resolves it (0 = the model's, at most 4096)
    int32_t n_batch = 0;    // 0 = 512, never above n_ctx
    int32_t kv_type = LLM4ALL_TYPE_F16;
    bool session = true;    // false: the model alone (no KV cache, no compute buffers)
};

// The shape a Session constructed with these arguments takes (the same resolution); for an
// encoder, the window of an embedding pass: n_ctx (0 = its training context), at most that.
SessionShape resolve_session_shape(const Hparams &hp, int32_t n_ctx, int32_t n_batch, int32_t kv_type);

// Per device (CPU only today). An encoder (embedding model) has no KV cache; its compute
// is one pass over a window of n_ctx tokens (0 = its training context).
std::vector<MemoryUse> estimate_memory(const Model &model, const SessionShape &shape);

// Bytes of memory this process may still use, 0 when unknown; *source names where the
// figure comes from ("LLM4ALL_MEMORY_LIMIT", "cgroup memory limit", "MemAvailable", ...).
uint64_t available_memory(std::string *source);

// Throw Error(OUT_OF_MEMORY) with a message naming the numbers and what to change when
// the load would not fit the available memory; nothing when that figure is unknown.
// A model load needs its weights and runtime tables. A session needs the weights (mapped
// file pages count as available memory until they are touched, or while the page cache
// could drop them) plus its KV cache and compute buffers; the runtime tables are resident
// by then, so MemAvailable already excludes them.
void check_model_memory(const Model &model);
void check_session_memory(const Model &model, int32_t n_ctx, int32_t n_batch, int32_t kv_type);

} // namespace llm4all
