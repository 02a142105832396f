// get_rows.metal — y[i,:] = dequant(w[ids[i] - row_base, :]) for one weight type
// (TYPE_<T>, via dequant.h). One threadgroup (64 threads) per id, 4 values per
// thread step. (vulkan/shaders/get_rows.comp)
#include "common.h"
#include "dequant.h"
struct GetRowsP {
    uint n;          // values per row
    uint n_ids;
    uint w_skew;     // bytes from the buffer offset to row row_base
    uint row_bytes;
    int row_base;    // the table row at w_skew (the host binds only the rows it needs)
    uint y_off;      // floats
};
kernel void get_rows(device const uint *w [[buffer(0)]], device const int *ids [[buffer(1)]],
                     device float *y [[buffer(2)]], constant GetRowsP &p [[buffer(3)]], KERNEL_GRID) {
    const uint i = flat_group(tg, ntg);
    if (i >= p.n_ids) return;
    const uint rb = p.w_skew + uint(ids[i] - p.row_base) * p.row_bytes;
    const uint yb = p.y_off + i * p.n;
    for (uint e = 4u * lid; e < p.n; e += 256u) {
        const float4 v = dq_row4(w, rb, e, p.n);
        for (uint k = 0u; k < 4u; ++k)
            if (e + k < p.n) y[yb + e + k] = v[k];
    }
}
