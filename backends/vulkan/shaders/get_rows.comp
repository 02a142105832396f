// get_rows.comp — y[i,:] = dequant(w[ids[i] - row_base, :]) for one weight type
// (TYPE_<T>, via dequant.glsl). One workgroup per id, 4 values per invocation step.
#version 450
#include "common.glsl"
layout(local_size_x = 64) in;
layout(set = 0, binding = 0) readonly buffer W { uint w[]; };
layout(set = 0, binding = 1) readonly buffer I { int ids[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };
#define DQ_WORDS w
#include "dequant.glsl"
layout(push_constant) uniform P {
    uint n;          // values per row
    uint n_ids;
    uint w_skew;     // bytes from the binding's start to row row_base
    uint row_bytes;
    int row_base;    // the table row at w_skew (the host binds only the rows it needs)
    uint y_off;      // floats
} p;
void main() {
    const uint i = flat_group();
    if (i >= p.n_ids) return;
    const uint rb = p.w_skew + uint(ids[i] - p.row_base) * p.row_bytes;
    const uint yb = p.y_off + i * p.n;
    for (uint e = 4u * gl_LocalInvocationID.x; e < p.n; e += 256u) {
        const vec4 v = dq_row4(rb, e, p.n);
        for (uint k = 0u; k < 4u; ++k)
            if (e + k < p.n) y[yb + e + k] = v[k];
    }
}
