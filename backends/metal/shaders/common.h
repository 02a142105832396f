// common.h — what every kernel of the Metal backend shares (vulkan/shaders/common.glsl
// line for line): the flat index of a threadgroup in a 2-D grid (context.h groups_2d),
// and exact fp16/bf16 <-> f32 conversions in integer arithmetic, so every GPU rounds
// as the CPU backend does (round to nearest even) whatever its conversions do.
// The plugin compiles kernels from source at run time and expands #include "..."
// itself (device.mm), so headers use include guards, not #pragma once.
#ifndef LLM4ALL_METAL_COMMON_H
#define LLM4ALL_METAL_COMMON_H

#include <metal_stdlib>
using namespace metal;

// The threadgroup's index in the grid of context.h's groups_2d (gx * gy groups).
inline uint flat_group(uint3 tg, uint3 ntg) { return tg.y * ntg.x + tg.x; }

inline float f16_to_f32(uint h) {
    const uint sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1fu) return as_type<float>(sign | 0x7f800000u | (m << 13));
    if (e != 0u) return as_type<float>(sign | ((e + 112u) << 23) | (m << 13));
    // zero or subnormal: m * 2^-24 is exact in f32
    const float v = float(m) * 5.9604644775390625e-8f;
    return sign != 0u ? -v : v;
}

inline uint f32_to_f16(float f) {
    const uint x = as_type<uint>(f);
    const uint sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00u | ((ax >> 13) & 0x3ffu);  // NaN, kept quiet
    if (ax >= 0x477ff000u) return sign | 0x7c00u;                         // overflow -> inf
    if (ax < 0x38800000u) {                                               // subnormal or zero
        if (ax < 0x33000000u) return sign;
        const uint e = ax >> 23, man = (ax & 0x7fffffu) | 0x800000u;
        const uint shift = 126u - e;
        uint q = man >> shift;
        const uint rem = man & ((1u << shift) - 1u), half_ = 1u << (shift - 1u);
        if (rem > half_ || (rem == half_ && (q & 1u) != 0u)) ++q;
        return sign | q;
    }
    uint q = (ax >> 13) - (112u << 10);
    const uint rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u) != 0u)) ++q;
    return sign | q;
}

inline float bf16_to_f32(uint b) { return as_type<float>(b << 16); }

// The grid attributes every kernel takes (threadgroup index, grid size, thread index).
#define KERNEL_GRID                                                                              \
    uint3 tg [[threadgroup_position_in_grid]], uint3 ntg [[threadgroups_per_grid]],              \
        uint lid [[thread_index_in_threadgroup]]

#endif // LLM4ALL_METAL_COMMON_H
