// half.h — float32 <-> fp16/bf16 with the rounding llama.cpp's portable code uses
// when it writes model files (round to nearest even; any NaN becomes one quiet
// NaN). The quantizers store their block scales through these.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace llm4all::quant {

// The same 4 bytes read as another type (std::bit_cast before C++20).
template <typename To, typename From> inline To same_bits(From v) {
    static_assert(sizeof(To) == sizeof(From), "same size only");
    To out;
    std::memcpy(&out, &v, sizeof out);
    return out;
}
inline uint32_t float_bits(float f) { return same_bits<uint32_t>(f); }
inline float bits_float(uint32_t u) { return same_bits<float>(u); }

// Rounds with float additions rather than integer bit twiddling, so the result is
// exactly llama.cpp's (ggml_compute_fp32_to_fp16) for every input, NaNs included:
// |f| is first scaled so overflow saturates to infinity and tiny values land in
// the subnormal grid, then adding a power of two whose ulp is the target fp16 ulp
// makes the FPU round to 10 mantissa bits.
inline uint16_t f32_to_half(float f) {
    const uint32_t w = float_bits(f), twice = w + w, sign = w & 0x80000000u;
    float mag = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
    uint32_t anchor = twice & 0xff000000u; // the exponent, shifted left by one
    if (anchor < 0x71000000u) anchor = 0x71000000u; // below fp16's normal range: subnormal grid
    mag = bits_float((anchor >> 1) + 0x07800000u) + mag;
    const uint32_t r = float_bits(mag);
    const uint32_t half = ((r >> 13) & 0x7c00u) + (r & 0x0fffu);
    return uint16_t((sign >> 16) | (twice > 0xff000000u ? 0x7e00u : half));
}

// Exact (every fp16 value is a float). Normal halves are rebased by an exponent
// shift and one multiply; subnormals are built as (1 + m/2^23) * 2^-1 - 0.5.
inline float half_to_f32(uint16_t h) {
    const uint32_t w = uint32_t(h) << 16, sign = w & 0x80000000u, twice = w + w;
    const float normal = bits_float((twice >> 4) + (0xe0u << 23)) * 0x1.0p-112f;
    const float subnormal = bits_float((twice >> 17) | (126u << 23)) - 0.5f;
    return bits_float(sign | float_bits(twice < (1u << 27) ? subnormal : normal));
}

// Round to nearest even; NaNs keep their top bits and are forced quiet.
inline uint16_t f32_to_bf16_ref(float f) {
    const uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 64);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

} // namespace llm4all::quant
