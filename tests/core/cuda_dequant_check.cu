// cuda_dequant_check.cu — runs without a GPU: the CUDA plugin's block layouts
// (backends/cuda/dequant.cuh, compiled here for the host) against the CPU backend's
// dequantization (its get_rows on host memory), for every weight type, on random
// blocks (every bit pattern is a valid block; fp16 scales set to small positive
// values) and float rows of awkward lengths. The values must agree to 1e-6 of the
// row's largest (the only difference allowed: a fused multiply-add in d*q + m).
// Built from backends/cuda/CMakeLists.txt; argv[1] is the plugin directory.
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "dequant.cuh"
#include "llm4all/backend.h"
#include "quant_types.h"

#include "check.h"

namespace {

std::mt19937 g_rng(7);

// The CPU plugin with the best score here.
const llm4all_backend_iface *cpu_backend(const std::string &dir) {
    const llm4all_backend_iface *best = nullptr;
    int32_t best_score = 0;
    for (const char *v : {"generic", "avx2", "avx512", "avx512-vnni"}) {
        void *h = dlopen((dir + "/libllm4all-cpu-" + v + ".so").c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) continue;
        auto score = reinterpret_cast<llm4all_backend_score_fn>(dlsym(h, "llm4all_backend_score"));
        auto init = reinterpret_cast<llm4all_backend_init_fn>(dlsym(h, "llm4all_backend_init"));
        if (score && init && score() > best_score) {
            best_score = score();
            best = init(nullptr);
        }
    }
    return best;
}

// Byte offsets of a block's fp16 scale fields.
std::vector<int> f16_fields(int32_t type) {
    switch (type) {
    case LLM4ALL_TYPE_Q4_1:
    case LLM4ALL_TYPE_Q5_1:
    case LLM4ALL_TYPE_Q4_K:
    case LLM4ALL_TYPE_Q5_K: return {0, 2};
    case LLM4ALL_TYPE_Q2_K: return {80, 82};
    case LLM4ALL_TYPE_Q3_K: return {108};
    case LLM4ALL_TYPE_Q6_K: return {208};
    default: return {0};
    }
}

std::vector<uint8_t> random_rows(const llm4all::cu::QuantType &t, int64_t n, int64_t rows) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<uint8_t> out(llm4all::cu::row_bytes(t, n) * size_t(rows));
    if (t.type == LLM4ALL_TYPE_F32) {
        for (size_t i = 0; i < out.size() / 4; ++i) {
            const float f = nd(g_rng);
            std::memcpy(out.data() + 4 * i, &f, 4);
        }
    } else if (t.block_size == 1) {
        for (size_t i = 0; i < out.size() / 2; ++i) {
            const float f = nd(g_rng);
            uint16_t h;
            if (t.type == LLM4ALL_TYPE_F16) {
                const __half x = __float2half_rn(f);
                std::memcpy(&h, &x, 2);
            } else {
                uint32_t u;
                std::memcpy(&u, &f, 4);
                h = uint16_t(u >> 16);
            }
            std::memcpy(out.data() + 2 * i, &h, 2);
        }
    } else {
        std::uniform_int_distribution<int> byte(0, 255);
        std::uniform_real_distribution<float> scale(0.002f, 0.02f);
        for (uint8_t &b : out) b = uint8_t(byte(g_rng));
        for (size_t b = 0; b < out.size() / t.type_size; ++b)
            for (int off : f16_fields(t.type)) {
                const __half x = __float2half_rn(scale(g_rng));
                std::memcpy(out.data() + b * t.type_size + size_t(off), &x, 2);
            }
    }
    return out;
}

template <int T>
void dequant_rows(const uint8_t *w, size_t rb, int64_t n, int64_t rows, float *y) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t e = 0; e < n; e += 8) {
            float v[8];
            llm4all::cu::row8<T>(w + size_t(r) * rb, e, n, v);
            for (int k = 0; k < 8 && e + k < n; ++k) y[r * n + e + k] = v[k];
        }
}

bool dequant(int32_t type, const uint8_t *w, size_t rb, int64_t n, int64_t rows, float *y) {
    switch (type) {
#define LLM4ALL_CU_CASE(T) \
    case T: dequant_rows<T>(w, rb, n, rows, y); return true;
        LLM4ALL_CU_WEIGHT_TYPES(LLM4ALL_CU_CASE)
#undef LLM4ALL_CU_CASE
    default: return false;
    }
}

} // namespace

int main(int argc, char **argv) {
    const std::string dir = argc > 1 ? argv[1] : ".";
    const llm4all_backend_iface *cpu = cpu_backend(dir);
    check(cpu != nullptr, "a CPU plugin runs here (in " + dir + ")");
    if (!cpu) return 1;
    llm4all_backend_ctx *ctx = cpu->ctx_new(0, 1);
    const int32_t types[] = {LLM4ALL_TYPE_F32,  LLM4ALL_TYPE_F16,  LLM4ALL_TYPE_BF16, LLM4ALL_TYPE_Q4_0,
                             LLM4ALL_TYPE_Q4_1, LLM4ALL_TYPE_Q5_0, LLM4ALL_TYPE_Q5_1, LLM4ALL_TYPE_Q8_0,
                             LLM4ALL_TYPE_Q2_K, LLM4ALL_TYPE_Q3_K, LLM4ALL_TYPE_Q4_K, LLM4ALL_TYPE_Q5_K,
                             LLM4ALL_TYPE_Q6_K, LLM4ALL_TYPE_IQ4_NL, LLM4ALL_TYPE_IQ4_XS};
    for (int32_t type : types) {
        const llm4all::cu::QuantType *t = llm4all::cu::quant_type(type);
        check(t != nullptr, "type " + std::to_string(type) + " is in quant_types.h");
        if (!t) continue;
        for (int64_t blocks : {1, 3, 7}) {
            // Float rows of lengths that end mid-chunk of 8 (7, 21, 49 values).
            const int64_t n = t->block_size == 1 ? 7 * blocks : t->block_size * blocks, rows = 5;
            const std::vector<uint8_t> w = random_rows(*t, n, rows);
            std::vector<float> ref(size_t(n * rows)), got(size_t(n * rows), NAN);
            std::vector<int32_t> ids = {0, 1, 2, 3, 4};
            llm4all_tensor tw{}, ty{};
            tw.data = const_cast<uint8_t *>(w.data());
            tw.type = type;
            tw.n_dims = 2;
            tw.ne[0] = n;
            tw.ne[1] = rows;
            tw.ne[2] = tw.ne[3] = 1;
            ty = tw;
            ty.data = ref.data();
            ty.type = LLM4ALL_TYPE_F32;
            const bool cpu_ok = cpu->get_rows(ctx, &tw, ids.data(), rows, &ty) == 0;
            const bool ours = dequant(type, w.data(), llm4all::cu::row_bytes(*t, n), n, rows, got.data());
            double worst = 0.0;
            for (int64_t r = 0; r < rows; ++r) {
                double mx = 0.0;
                for (int64_t i = 0; i < n; ++i) mx = std::fmax(mx, std::fabs(ref[size_t(r * n + i)]));
                for (int64_t i = 0; i < n; ++i) {
                    const double d = std::fabs(double(ref[size_t(r * n + i)]) - double(got[size_t(r * n + i)]));
                    worst = std::fmax(worst, std::isnan(d) ? INFINITY : d / (mx > 0 ? mx : 1.0));
                }
            }
            char line[160];
            std::snprintf(line, sizeof line, "%s rows of %lld values: dequant.cuh = CPU (worst %.2g of the row max)",
                          t->name, (long long)n, worst);
            check(cpu_ok && ours && worst <= 1e-6, line);
            if (blocks == 3) std::printf("%s\n", line);
        }
    }
    cpu->ctx_free(ctx);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
