// handles.h — what the opaque C handles hold. Shared by the api/ shims only.
#pragma once

#include "model.h"
#include "session.h"

struct llm4all_model {
    llm4all::Model impl;
    llm4all_model(const std::string &path, const std::string &device, bool mmap) : impl(path, device, mmap) {}
    bool skip_memory_check = false;   // llm4all_model_options.skip_memory_check: sessions do not check either
};

struct llm4all_session {
    llm4all::Session impl;
    llm4all_session(const llm4all::Model &m, int32_t n_ctx, int32_t n_batch, int32_t n_threads, int32_t kv_type)
        : impl(m, n_ctx, n_batch, n_threads, kv_type) {}
};
