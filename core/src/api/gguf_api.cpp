// gguf_api.cpp — C entry points that inspect a GGUF file without loading a
// model: the JSON description, the header's model check (hparams.h), and reading
// one tensor as float32 (dequantized by the CPU backend plugin, the reference
// implementation of every type).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "api/shim.h"
#include "gguf.h"
#include "hparams.h"
#include "model.h"
#include "vocab.h"
#include "float_rows.h"
#include "types.h"

using namespace llm4all;

extern "C" {

llm4all_status llm4all_gguf_describe(const char *path, uint64_t max_array, char **out_json) {
    return guarded([&] {
        LLM4ALL_REQUIRE(path, "path is NULL");
        LLM4ALL_REQUIRE(out_json, "out_json is NULL");
        *out_json = nullptr;
        std::unique_ptr<GgufFile> f = GgufFile::open(path, true);
        *out_json = dup_string(f->to_json(max_array));
    });
}

llm4all_status llm4all_gguf_check_model(const char *path) {
    return guarded([&] {
        LLM4ALL_REQUIRE(path, "path is NULL");
        std::unique_ptr<GgufFile> f = GgufFile::open(path, true);
        const std::string arch = f->get_string("general.architecture");
        if (!find_arch(arch))
            fail(LLM4ALL_ERR_UNSUPPORTED, std::string(path) + ": architecture '" + arch + "' is not supported");
        read_hparams(*f);
        Vocab vocab(*f);   // the tokenizer's keys are header too
    });
}

llm4all_status llm4all_gguf_read_tensor_f32(const char *path, const char *tensor_name, float **out_values,
                                            uint64_t *out_count) {
    return guarded([&] {
        LLM4ALL_REQUIRE(path, "path is NULL");
        LLM4ALL_REQUIRE(tensor_name, "tensor_name is NULL");
        LLM4ALL_REQUIRE(out_values && out_count, "out_values or out_count is NULL");
        *out_values = nullptr;
        *out_count = 0;
        std::unique_ptr<GgufFile> f = GgufFile::open(path, true);
        const GgufTensorInfo *t = f->find_tensor(tensor_name);
        if (!t)
            fail(LLM4ALL_ERR_INVALID_ARGUMENT,
                 std::string(path) + ": no tensor named '" + tensor_name + "'");
        const uint64_t n = static_cast<uint64_t>(t->n_elements());
        // The element count is bounded by the file's bytes (validated at open),
        // but a quantized file expands several-fold, so still check the product.
        if (n > SIZE_MAX / sizeof(float))
            fail(LLM4ALL_ERR_OUT_OF_MEMORY, std::string(path) + ": tensor '" + tensor_name + "' is too large");

        float *out = static_cast<float *>(std::malloc(static_cast<size_t>(n) * sizeof(float)));
        if (!out) fail(LLM4ALL_ERR_OUT_OF_MEMORY, std::string(path) + ": no memory for tensor '" + tensor_name + "'");
        try {
            RowDecoder dec;
            dec.decode(t->type, f->tensor_data(*t), t->ne[0], t->ne[1] * t->ne[2] * t->ne[3], out,
                       (std::string(path) + ": tensor '" + tensor_name + "'").c_str());
        } catch (...) {
            std::free(out);
            throw;
        }
        *out_values = out;
        *out_count = n;
    });
}

} // extern "C"
