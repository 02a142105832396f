// float_rows.cpp — decoding through the CPU backend's get_rows; encoding is
// quant::quantize_rows (which also writes F16/BF16) plus plain F32.
#include "float_rows.h"

#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "quant/quantize_rows.h"
#include "registry.h"
#include "types.h"

namespace llm4all {

RowDecoder::RowDecoder() {
    be_ = pick_backend("cpu").iface;
    ctx_ = be_->ctx_new(0, 1);
    if (!ctx_) fail(LLM4ALL_ERR_BACKEND, "the CPU backend could not create a context");
}

RowDecoder::~RowDecoder() { be_->ctx_free(ctx_); }

void RowDecoder::decode(int32_t type, const uint8_t *src, int64_t n_per_row, int64_t nrows, float *out,
                        const char *what) {
    const TypeInfo *ti = type_info(type);
    if (!ti) fail(LLM4ALL_ERR_UNSUPPORTED, std::string(what) + ": unknown tensor type " + std::to_string(type));
    if (type == LLM4ALL_TYPE_F32) {
        std::memcpy(out, src, static_cast<size_t>(n_per_row * nrows) * sizeof(float));
        return;
    }
    // get_rows takes int32 row ids, so long tensors go in chunks.
    const int64_t chunk = 4096;
    std::vector<int32_t> ids(static_cast<size_t>(nrows < chunk ? nrows : chunk));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    const size_t rb = row_bytes(*ti, n_per_row);
    for (int64_t r0 = 0; r0 < nrows; r0 += chunk) {
        const int64_t rows = nrows - r0 < chunk ? nrows - r0 : chunk;
        llm4all_tensor w{};
        w.data = const_cast<uint8_t *>(src + static_cast<size_t>(r0) * rb);
        w.type = type;
        w.n_dims = 2;
        w.ne[0] = n_per_row;
        w.ne[1] = rows;
        w.ne[2] = w.ne[3] = 1;
        llm4all_tensor y{};
        y.data = out + static_cast<size_t>(r0) * static_cast<size_t>(n_per_row);
        y.type = LLM4ALL_TYPE_F32;
        y.n_dims = 2;
        y.ne[0] = n_per_row;
        y.ne[1] = rows;
        y.ne[2] = y.ne[3] = 1;
        if (be_->get_rows(ctx_, &w, ids.data(), rows, &y) != 0)
            fail(LLM4ALL_ERR_UNSUPPORTED,
                 std::string(what) + ": the CPU backend cannot decode type " + ti->name);
    }
}

bool can_encode(int32_t type) { return type == LLM4ALL_TYPE_F32 || quant::can_quantize(type); }

size_t encode_rows(int32_t type, const float *src, void *dst, int64_t nrows, int64_t n_per_row) {
    const size_t n = static_cast<size_t>(nrows * n_per_row);
    if (type == LLM4ALL_TYPE_F32) {
        std::memcpy(dst, src, n * sizeof(float));
        return n * sizeof(float);
    }
    return quant::quantize_rows(type, src, dst, nrows, n_per_row);
}

} // namespace llm4all
