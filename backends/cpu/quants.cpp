// quants.cpp — dequantization of weight rows and quantization of activation rows.
// Dequantization must be bit-identical to the gguf package's reference, so this
// file is compiled with -ffp-contract=off: d * q + m must round twice, as numpy
// does, never once as a fused multiply-add would.
#include "quants.h"

#include <cmath>

#include "llm4all/backend.h"

namespace llm4all::cpu {

bool type_supported(int32_t type) {
    switch (type) {
    case LLM4ALL_TYPE_F32: case LLM4ALL_TYPE_F16: case LLM4ALL_TYPE_BF16:
    case LLM4ALL_TYPE_Q4_0: case LLM4ALL_TYPE_Q4_1: case LLM4ALL_TYPE_Q5_0:
    case LLM4ALL_TYPE_Q5_1: case LLM4ALL_TYPE_Q8_0:
        return true;
    default:
        return false;
    }
}

size_t type_row_bytes(int32_t type, int64_t n) {
    switch (type) {
    case LLM4ALL_TYPE_F32: return size_t(n) * 4;
    case LLM4ALL_TYPE_F16: case LLM4ALL_TYPE_BF16: return size_t(n) * 2;
    case LLM4ALL_TYPE_Q4_0: return size_t(n / QK) * sizeof(BlockQ4_0);
    case LLM4ALL_TYPE_Q4_1: return size_t(n / QK) * sizeof(BlockQ4_1);
    case LLM4ALL_TYPE_Q5_0: return size_t(n / QK) * sizeof(BlockQ5_0);
    case LLM4ALL_TYPE_Q5_1: return size_t(n / QK) * sizeof(BlockQ5_1);
    case LLM4ALL_TYPE_Q8_0: return size_t(n / QK) * sizeof(BlockQ8_0);
    default: return 0;
    }
}

namespace {

// Element j of a 4/5-bit block: low nibbles hold elements 0..15, high nibbles 16..31.
inline int nibble(const uint8_t *qs, int j) { return j < QK / 2 ? (qs[j] & 0x0f) : (qs[j - QK / 2] >> 4); }

inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    std::memcpy(&v, p, 4); // little-endian, as GGUF is
    return v;
}

void dequant_q4_0(const BlockQ4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK; ++j) y[j] = d * float(nibble(b[i].qs, j) - 8);
    }
}

void dequant_q4_1(const BlockQ4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        for (int j = 0; j < QK; ++j) y[j] = d * float(nibble(b[i].qs, j)) + m;
    }
}

void dequant_q5_0(const BlockQ5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d);
        const uint32_t qh = load_u32(b[i].qh);
        for (int j = 0; j < QK; ++j) {
            int q = nibble(b[i].qs, j) | int((qh >> j) & 1) << 4;
            y[j] = d * float(q - 16);
        }
    }
}

void dequant_q5_1(const BlockQ5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d), m = fp16_to_f32(b[i].m);
        const uint32_t qh = load_u32(b[i].qh);
        for (int j = 0; j < QK; ++j) {
            int q = nibble(b[i].qs, j) | int((qh >> j) & 1) << 4;
            y[j] = d * float(q) + m;
        }
    }
}

void dequant_q8_0(const BlockQ8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += QK) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < QK; ++j) y[j] = float(b[i].qs[j]) * d;
    }
}

} // namespace

void dequantize_row(int32_t type, const void *row, float *y, int64_t n) {
    const int64_t nb = n / QK;
    switch (type) {
    case LLM4ALL_TYPE_F32: std::memcpy(y, row, size_t(n) * 4); break;
    case LLM4ALL_TYPE_F16: {
        const uint16_t *h = static_cast<const uint16_t *>(row);
        int64_t i = 0;
#ifdef __F16C__
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(h + i))));
#endif
        for (; i < n; ++i) y[i] = fp16_to_f32(h[i]);
        break;
    }
    case LLM4ALL_TYPE_BF16: {
        const uint16_t *h = static_cast<const uint16_t *>(row);
        for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(h[i]);
        break;
    }
    case LLM4ALL_TYPE_Q4_0: dequant_q4_0(static_cast<const BlockQ4_0 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q4_1: dequant_q4_1(static_cast<const BlockQ4_1 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q5_0: dequant_q5_0(static_cast<const BlockQ5_0 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q5_1: dequant_q5_1(static_cast<const BlockQ5_1 *>(row), y, nb); break;
    case LLM4ALL_TYPE_Q8_0: dequant_q8_0(static_cast<const BlockQ8_0 *>(row), y, nb); break;
    default: break;
    }
}

// llama.cpp's scheme: d = amax / 127 stored as fp16, q = round(x / d) half away
// from zero, with the reciprocal of the unrounded d.
void quantize_row_q8_0(const float *x, ActQ8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = fp16_to_f32(f32_to_fp16(d));
        for (int j = 0; j < QK; ++j) y[i].qs[j] = int8_t(std::roundf(x[j] * id));
    }
}

void quantize_row_q8_1(const float *x, ActQ8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / QK; ++i, x += QK) {
        float amax = 0.0f;
        for (int j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK; ++j) {
            int q = int(std::roundf(x[j] * id));
            y[i].qs[j] = int8_t(q);
            sum += q;
        }
        y[i].d = fp16_to_f32(f32_to_fp16(d));
        y[i].s = fp16_to_f32(f32_to_fp16(float(sum) * d));
    }
}

void convert_row_f16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_fp16(x[i]);
}

void convert_row_bf16(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = f32_to_bf16(x[i]);
}

} // namespace llm4all::cpu
