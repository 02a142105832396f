// gguf_api.cpp — C entry points that inspect a GGUF file without loading a
// model: the JSON description and reading one tensor as float32 (dequantized
// by the CPU backend plugin, the reference implementation of every type).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "api/shim.h"
#include "gguf.h"
#include "registry.h"
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
        const TypeInfo *ti = type_info(t->type);   // validated at open
        const uint64_t n = static_cast<uint64_t>(t->n_elements());
        // The element count is bounded by the file's bytes (validated at open),
        // but a quantized file expands several-fold, so still check the product.
        if (n > SIZE_MAX / sizeof(float))
            fail(LLM4ALL_ERR_OUT_OF_MEMORY, std::string(path) + ": tensor '" + tensor_name + "' is too large");

        const BackendPlugin &cpu = pick_backend("cpu");
        const llm4all_backend_iface *be = cpu.iface;
        llm4all_backend_ctx *ctx = be->ctx_new(0, 1);
        if (!ctx) fail(LLM4ALL_ERR_BACKEND, "the CPU backend could not create a context");
        struct CtxGuard {
            const llm4all_backend_iface *be;
            llm4all_backend_ctx *ctx;
            ~CtxGuard() { be->ctx_free(ctx); }
        } ctx_guard{be, ctx};

        float *out = static_cast<float *>(std::malloc(static_cast<size_t>(n) * sizeof(float)));
        if (!out) fail(LLM4ALL_ERR_OUT_OF_MEMORY, std::string(path) + ": no memory for tensor '" + tensor_name + "'");

        // Rows are dequantized in chunks so the id list stays small and int32.
        const int64_t row_len = t->ne[0];
        const int64_t n_rows = t->ne[1] * t->ne[2] * t->ne[3];
        const size_t rb = row_bytes(*ti, row_len);
        const int64_t chunk = 4096;
        std::vector<int32_t> ids(static_cast<size_t>(n_rows < chunk ? n_rows : chunk));
        for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
        const uint8_t *src = f->tensor_data(*t);
        for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
            const int64_t rows = n_rows - r0 < chunk ? n_rows - r0 : chunk;
            llm4all_tensor w{};
            w.data = const_cast<uint8_t *>(src + static_cast<size_t>(r0) * rb);
            w.type = t->type;
            w.n_dims = 2;
            w.ne[0] = row_len;
            w.ne[1] = rows;
            w.ne[2] = w.ne[3] = 1;
            llm4all_tensor y{};
            y.data = out + static_cast<size_t>(r0) * static_cast<size_t>(row_len);
            y.type = LLM4ALL_TYPE_F32;
            y.n_dims = 2;
            y.ne[0] = row_len;
            y.ne[1] = rows;
            y.ne[2] = y.ne[3] = 1;
            if (be->get_rows(ctx, &w, ids.data(), rows, &y) != 0) {
                std::free(out);
                fail(LLM4ALL_ERR_UNSUPPORTED, std::string(path) + ": the CPU backend cannot dequantize tensor '" +
                                                  tensor_name + "' of type " + ti->name);
            }
        }
        *out_values = out;
        *out_count = n;
    });
}

} // extern "C"
