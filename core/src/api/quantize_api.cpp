// quantize_api.cpp — C entry points for quantizing a whole GGUF file and for
// quantizing float rows (used by bindings and by the tests against llama.cpp).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "api/shim.h"
#include "quant/quantize_rows.h"
#include "quantize.h"
#include "types.h"

using namespace llm4all;

extern "C" {

void llm4all_quantize_options_init(llm4all_quantize_options *options) {
    if (!options) return;
    std::memset(options, 0, sizeof(*options));
    options->size = sizeof(*options);
    options->output_type = -1;
    options->token_embedding_type = -1;
}

llm4all_status llm4all_quantize(const char *in_path, const char *out_path,
                                const llm4all_quantize_options *options) {
    return guarded([&] {
        LLM4ALL_REQUIRE(in_path && out_path, "in_path or out_path is NULL");
        LLM4ALL_REQUIRE(options, "options is NULL");
        LLM4ALL_REQUIRE(options->size >= offsetof(llm4all_quantize_options, user) + sizeof(void *),
                        "options->size is too small (call llm4all_quantize_options_init)");
        LLM4ALL_REQUIRE(options->type && *options->type, "options->type is not set");
        quantize_file(in_path, out_path, *options);
    });
}

llm4all_status llm4all_quantize_rows(int32_t type, const float *src, int64_t nrows, int64_t n_per_row,
                                     void *dst, size_t dst_size, size_t *written) {
    return guarded([&] {
        if (written) *written = 0;
        const TypeInfo *ti = type_info(type);
        if (!ti || !quant::can_quantize(type))
            fail(LLM4ALL_ERR_UNSUPPORTED, "cannot quantize to type id " + std::to_string(type));
        LLM4ALL_REQUIRE(nrows >= 0 && n_per_row >= 0, "nrows and n_per_row must not be negative");
        if (n_per_row % ti->block_size != 0)
            fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string(ti->name) + " rows need a multiple of " +
                                                   std::to_string(ti->block_size) + " values, got " +
                                                   std::to_string(n_per_row));
        const size_t row = row_bytes(*ti, n_per_row);
        if (nrows > 0 && row > SIZE_MAX / static_cast<size_t>(nrows))
            fail(LLM4ALL_ERR_INVALID_ARGUMENT, "nrows * row size overflows");
        const size_t need = row * static_cast<size_t>(nrows);
        if (!dst) {
            if (written) *written = need;
            return;
        }
        LLM4ALL_REQUIRE(src || need == 0, "src is NULL");
        if (dst_size < need)
            fail(LLM4ALL_ERR_INVALID_ARGUMENT, "dst holds " + std::to_string(dst_size) + " bytes, " +
                                                   std::to_string(need) + " are needed");
        const size_t n = quant::quantize_rows(type, src, dst, nrows, n_per_row);
        if (written) *written = n;
    });
}

} // extern "C"
