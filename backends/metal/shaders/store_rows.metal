// store_rows.metal — copies `total` F32 values into dst starting at element d_off:
// as F32, or (DST_F16=1) rounded to F16 (nearest even, as the CPU). Metal writes
// halves directly, where vulkan/shaders/store_rows.comp writes whole words (no
// 16-bit storage needed there), so here one thread writes one value either way.
#include "common.h"
#ifdef DST_F16
#define DST_T half
#else
#define DST_T float
#endif
struct StoreP { uint total, s_off, d_off; };
kernel void store_rows(device const float *s [[buffer(0)]], device DST_T *d [[buffer(1)]],
                       constant StoreP &p [[buffer(2)]], KERNEL_GRID) {
    const uint i = flat_group(tg, ntg) * 256u + lid;
    if (i >= p.total) return;
#ifdef DST_F16
    d[p.d_off + i] = as_type<half>(ushort(f32_to_f16(s[p.s_off + i])));
#else
    d[p.d_off + i] = s[p.s_off + i];
#endif
}
