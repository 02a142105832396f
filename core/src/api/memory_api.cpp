// memory_api.cpp — C entry points of the memory estimate (memory.h): the estimate of a
// GGUF file for given model and session options, and the available memory beside it.
#include <cstring>

#include "api/options.h"
#include "api/shim.h"
#include "memory.h"

using namespace llm4all;

namespace {
void copy_name(char *dst, size_t cap, const std::string &s) {
    const size_t n = std::min(cap - 1, s.size());
    std::memcpy(dst, s.data(), n);
    dst[n] = '\0';
}
} // namespace

extern "C" {

void llm4all_memory_estimate_init(llm4all_memory_estimate *e) {
    if (!e) return;
    std::memset(e, 0, sizeof *e);
    e->size = sizeof *e;
}

llm4all_status llm4all_gguf_estimate_memory(const char *path, const llm4all_model_options *model_options,
                                            const llm4all_session_options *session_options,
                                            llm4all_memory_estimate *out) {
    return guarded([&] {
        LLM4ALL_REQUIRE(path && out, "path or out is NULL");
        LLM4ALL_REQUIRE(out->size >= offsetof(llm4all_memory_estimate, devices) && out->size <= sizeof *out,
                        "llm4all_memory_estimate.size is wrong: call llm4all_memory_estimate_init()");
        llm4all_model_options mo;
        llm4all_model_options_init(&mo);
        if (model_options) {
            LLM4ALL_REQUIRE(model_options->size >= offsetof(llm4all_model_options, use_mmap) + sizeof(bool) &&
                                model_options->size <= sizeof mo,
                            "llm4all_model_options.size is wrong: call llm4all_model_options_init()");
            std::memcpy(&mo, model_options, model_options->size);
        }
        const llm4all_session_options so =
            read_options(session_options, llm4all_session_options_init, "llm4all_session_options");
        LLM4ALL_REQUIRE(so.kv_type == LLM4ALL_KV_F16 || so.kv_type == LLM4ALL_KV_F32,
                        "kv_type must be LLM4ALL_KV_F16 (0) or LLM4ALL_KV_F32 (1)");
        LLM4ALL_REQUIRE(so.n_ctx >= 0 && so.n_batch >= 0, "n_ctx and n_batch must not be negative");
        // Only the header is read: tensors stay unread mapped pages.
        Model model(path, mo.device ? mo.device : "auto", mo.use_mmap);
        model.plan(mo.n_gpu_layers);   // where the layers would go, without uploading them
        const SessionShape shape = resolve_session_shape(
            model.hparams(), so.n_ctx, so.n_batch, so.kv_type == LLM4ALL_KV_F32 ? LLM4ALL_TYPE_F32 : LLM4ALL_TYPE_F16);
        const std::vector<MemoryUse> uses = estimate_memory(model, shape);
        std::string source;
        const uint64_t available = available_memory(&source);

        llm4all_memory_estimate e;
        llm4all_memory_estimate_init(&e);
        e.n_ctx = shape.n_ctx;
        e.n_batch = shape.n_batch;
        for (const MemoryUse &u : uses) {
            if (e.n_devices < LLM4ALL_MEMORY_MAX_DEVICES) {
                llm4all_memory_device &d = e.devices[e.n_devices++];
                copy_name(d.name, sizeof d.name, u.device);
                d.weights = u.weights, d.kv_cache = u.kv_cache, d.compute = u.compute, d.runtime = u.runtime;
                d.total = u.total();
            }
            e.weights += u.weights, e.kv_cache += u.kv_cache, e.compute += u.compute, e.runtime += u.runtime;
        }
        e.total = e.weights + e.kv_cache + e.compute + e.runtime;
        e.available = available;
        copy_name(e.available_source, sizeof e.available_source, source);
        // Older callers' shorter structs get the fields they know (devices cut to their room).
        const uint32_t size = out->size;
        std::memcpy(out, &e, size);
        out->size = size;
    });
}

} // extern "C"
