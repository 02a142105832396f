// test_quantize_rows.cpp — llm4all_quantize_rows without any reference engine:
// every type round-trips through the CPU backend's dequantizer within the error
// bounds llama.cpp's own test-quantize-fns sets for its quantizers (same data,
// same metric), and bad arguments come back as clear errors. Byte identity with
// llama.cpp is tests/python/test_quantize_rows.py's job.
// test-sources: backends/cpu/quants.cpp
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../../backends/cpu/quants.h"
#include "check.h"
#include "llm4all/backend.h" // the LLM4ALL_TYPE_* ids
#include "llm4all/llm4all.h"

namespace {

struct Case {
    const char *name;
    int32_t type;
    float max_error; // test-quantize-fns: 0.002, 2-bit 0.0075, 3-bit 0.004
};

const Case kCases[] = {
    {"F16", LLM4ALL_TYPE_F16, 0.002f},     {"BF16", LLM4ALL_TYPE_BF16, 0.002f},
    {"Q4_0", LLM4ALL_TYPE_Q4_0, 0.002f},   {"Q4_1", LLM4ALL_TYPE_Q4_1, 0.002f},
    {"Q5_0", LLM4ALL_TYPE_Q5_0, 0.002f},   {"Q5_1", LLM4ALL_TYPE_Q5_1, 0.002f},
    {"Q8_0", LLM4ALL_TYPE_Q8_0, 0.002f},   {"Q2_K", LLM4ALL_TYPE_Q2_K, 0.0075f},
    {"Q3_K", LLM4ALL_TYPE_Q3_K, 0.004f},   {"Q4_K", LLM4ALL_TYPE_Q4_K, 0.002f},
    {"Q5_K", LLM4ALL_TYPE_Q5_K, 0.002f},   {"Q6_K", LLM4ALL_TYPE_Q6_K, 0.002f},
    {"IQ4_NL", LLM4ALL_TYPE_IQ4_NL, 0.002f}, {"IQ4_XS", LLM4ALL_TYPE_IQ4_XS, 0.002f},
};

// test-quantize-fns' metric: sqrt(sum of squared differences) / n.
float total_error(const std::vector<float> &a, const std::vector<float> &b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += double(a[i] - b[i]) * double(a[i] - b[i]);
    return float(std::sqrt(sum) / double(a.size()));
}

bool fails_with(llm4all_status st, llm4all_status want, const char *fragment) {
    return st == want && std::strstr(llm4all_last_error(), fragment) != nullptr;
}

} // namespace

int main() {
    // test-quantize-fns' data: 0.1 + 2 cos(i), 4096 values, as 4 rows of 1024.
    const int64_t rows = 4, n = 1024;
    std::vector<float> x(size_t(rows * n)), y(x.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = 0.1f + 2.0f * std::cos(float(i));

    for (const Case &c : kCases) {
        size_t need = 0, written = 0;
        check(llm4all_quantize_rows(c.type, x.data(), rows, n, nullptr, 0, &need) == LLM4ALL_OK &&
                  need == size_t(rows) * llm4all::cpu::type_row_bytes(c.type, n),
              std::string(c.name) + ": size query gives rows x row bytes");
        std::vector<uint8_t> q(need);
        const llm4all_status st = llm4all_quantize_rows(c.type, x.data(), rows, n, q.data(), q.size(), &written);
        check(st == LLM4ALL_OK && written == need, std::string(c.name) + ": quantizes");
        for (int64_t r = 0; r < rows; ++r)
            llm4all::cpu::dequantize_row(c.type, q.data() + size_t(r) * (need / rows), y.data() + r * n, n);
        const float err = total_error(x, y);
        check(err < c.max_error, std::string(c.name) + ": round-trip error " + std::to_string(err) + " < " +
                                     std::to_string(c.max_error));
    }

    // Bad arguments: clear errors, nothing written.
    std::vector<uint8_t> q(4096);
    size_t written = 7;
    check(fails_with(llm4all_quantize_rows(LLM4ALL_TYPE_Q4_K, x.data(), 1, 100, q.data(), q.size(), &written),
                     LLM4ALL_ERR_INVALID_ARGUMENT, "multiple of 256") && written == 0,
          "a row length that is not a whole number of blocks is refused");
    check(fails_with(llm4all_quantize_rows(LLM4ALL_TYPE_Q8_1, x.data(), 1, 32, q.data(), q.size(), nullptr),
                     LLM4ALL_ERR_UNSUPPORTED, "cannot quantize to type id 9"),
          "Q8_1 (activations only) is not a quantization target");
    check(fails_with(llm4all_quantize_rows(LLM4ALL_TYPE_F32, x.data(), 1, 32, q.data(), q.size(), nullptr),
                     LLM4ALL_ERR_UNSUPPORTED, "cannot quantize"),
          "F32 is not a quantization target");
    check(fails_with(llm4all_quantize_rows(-3, x.data(), 1, 32, q.data(), q.size(), nullptr),
                     LLM4ALL_ERR_UNSUPPORTED, "type id -3"),
          "an unknown type id is refused");
    check(fails_with(llm4all_quantize_rows(LLM4ALL_TYPE_Q8_0, x.data(), 4, 256, q.data(), 100, nullptr),
                     LLM4ALL_ERR_INVALID_ARGUMENT, "are needed"),
          "a too small dst is refused");
    check(fails_with(llm4all_quantize_rows(LLM4ALL_TYPE_Q8_0, nullptr, 1, 32, q.data(), q.size(), nullptr),
                     LLM4ALL_ERR_INVALID_ARGUMENT, "src is NULL"),
          "a NULL src is refused");
    check(fails_with(llm4all_quantize_rows(LLM4ALL_TYPE_Q8_0, x.data(), -1, 32, q.data(), q.size(), nullptr),
                     LLM4ALL_ERR_INVALID_ARGUMENT, "negative"),
          "a negative row count is refused");
    check(fails_with(llm4all_quantize_rows(LLM4ALL_TYPE_Q8_0, x.data(), INT64_MAX / 2, 32 * 1024, nullptr, 0,
                                           nullptr),
                     LLM4ALL_ERR_INVALID_ARGUMENT, "overflows"),
          "a size that overflows is refused");
    check(llm4all_quantize_rows(LLM4ALL_TYPE_Q8_0, nullptr, 0, 32, q.data(), q.size(), &written) == LLM4ALL_OK &&
              written == 0,
          "zero rows write nothing");

    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
