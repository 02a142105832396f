// scale_search.h — the per-sub-block scale searches the K-quants share: for a
// few values, pick a scale (and for the affine types a min) and integer codes.
// Each reproduces llama.cpp's reference search (float arithmetic, same order).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace llm4all::quant {

// Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 leaves the
// rounded integer in the low mantissa bits. Out-of-range inputs give the same
// (meaningless) bits llama.cpp gets, which keeps odd inputs byte-identical too.
inline int nearest_int(float v) {
    const float shifted = v + 12582912.f;
    int32_t i;
    std::memcpy(&i, &shifted, 4);
    return (i & 0x007fffff) - 0x00400000;
}

// Values below this magnitude count as an all-zero group.
constexpr float GROUP_EPS = 1e-15f;

// The element of largest magnitude, signed (the first one on ties; 0 for an
// empty or all-zero input); its magnitude goes to *amax_out when given.
inline float largest_magnitude(int n, const float *x, float *amax_out = nullptr) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) { // a NaN never wins
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    if (amax_out) *amax_out = amax;
    return max;
}

// Symmetric codes L[i] in [0, 2*nmax) (value = scale * (L - nmax)), weighted by
// x^2, trying 18 scales around nmax/max. Returns the scale (0 for a zero group).
float search_symmetric(int n, int nmax, const float *x, int8_t *L);

// Symmetric codes like search_symmetric, but refined one value at a time (up to
// five sweeps) instead of by trying scales; Q3_K's search.
float search_symmetric_refine(int n, int nmax, const float *x, int8_t *L);

// Affine codes in [0, nmax] (value = scale * L - min) for `groups` consecutive
// groups of n values (n <= 32, groups a multiple of 4), each minimising its
// weighted error (|e| if use_mad else e^2) over nstep+1 trial scales from
// (nmax + rmin) to (nmax + rmin + nstep * rdelta) over the group's range. Writes
// each group's codes to L, its scale to scales[g] and its min, as a non-negative
// offset, to mins[g]. Groups run side by side, each exactly as llama.cpp's
// make_qkx2_quants would run it alone.
void search_affine(int groups, int n, int nmax, const float *x, const float *weights, uint8_t *L, float *scales,
                   float *mins, float rmin, float rdelta, int nstep, bool use_mad);

} // namespace llm4all::quant
