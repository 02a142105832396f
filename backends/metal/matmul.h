// matmul.h — the Metal plugin's matrix products (matmul.mm): the table entries
// mul_mat and mul_mat_multi, and which weight types they take.
#pragma once

#include "llm4all/backend.h"

namespace llm4all::mt {

bool mul_mat_supports(int32_t type);
// Table entries (backend.h): 0 on success, else 1 with the reason in last_error.
int32_t mul_mat(llm4all_backend_ctx *ctx, const llm4all_tensor *w, const llm4all_tensor *x, llm4all_tensor *y);
int32_t mul_mat_multi(llm4all_backend_ctx *ctx, int32_t n, const llm4all_tensor *const *w, const llm4all_tensor *x,
                      llm4all_tensor *const *y);

} // namespace llm4all::mt
