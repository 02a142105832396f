// common.glsl — what every shader of the Vulkan backend shares: the flat index of
// a workgroup in a 2-D grid (context.h groups_2d), and exact fp16/bf16 <-> f32
// conversions in integer arithmetic, so every device rounds as the CPU backend
// does (round to nearest even) whatever its packHalf2x16 does.

uint flat_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

float f16_to_f32(uint h) {
    const uint sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1fu) return uintBitsToFloat(sign | 0x7f800000u | (m << 13));
    if (e != 0u) return uintBitsToFloat(sign | ((e + 112u) << 23) | (m << 13));
    // zero or subnormal: m * 2^-24 is exact in f32
    const float v = float(m) * 5.9604644775390625e-8;
    return sign != 0u ? -v : v;
}

uint f32_to_f16(float f) {
    const uint x = floatBitsToUint(f);
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

float bf16_to_f32(uint b) { return uintBitsToFloat(b << 16); }

// Byte o and 16-bit half h of a buffer read as uint words.
#define BYTE_AT(buf, o) ((buf[(o) >> 2] >> (((o) & 3u) * 8u)) & 0xffu)
#define HALF_AT(buf, h) ((buf[(h) >> 1] >> (((h) & 1u) * 16u)) & 0xffffu)
