// test_placement.cpp — layers placed on a second device, through the public C ABI.
// The device is tests/core/plugins/shadow.cpp: the CPU's own ops behind addresses
// that crash if the core dereferences them, so every split (0, 1, some, all layers,
// with or without the output head) must give the CPU's logits bit for bit, batched
// sequences included; and the device string's errors must say what is wrong.
// Test data: stories260K ($LLM4ALL_TESTDATA); skips when absent.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "llm4all/llm4all.h"

#include "check.h"

namespace {

std::string g_path;
int32_t g_vocab = 0;

llm4all_model *load(const char *device, int32_t n_gpu_layers, llm4all_status *st = nullptr) {
    llm4all_model_options o;
    llm4all_model_options_init(&o);
    o.device = device;
    o.n_gpu_layers = n_gpu_layers;
    llm4all_model *m = nullptr;
    const llm4all_status s = llm4all_model_load(g_path.c_str(), &o, &m);
    if (st) *st = s;
    else if (s != LLM4ALL_OK) std::printf("load %s/%d: %s\n", device, n_gpu_layers, llm4all_last_error());
    return m;
}

llm4all_session *session(llm4all_model *m) {
    llm4all_session_options o;
    llm4all_session_options_init(&o);
    o.n_ctx = 128;
    o.n_batch = 16;   // the prompt takes several passes
    o.n_threads = 2;
    llm4all_session *s = nullptr;
    if (llm4all_session_new(m, &o, &s) != LLM4ALL_OK) std::printf("session: %s\n", llm4all_last_error());
    return s;
}

std::vector<float> last_logits(llm4all_session *s) {
    const float *l = nullptr;
    int32_t rows = 0;
    if (llm4all_session_logits(s, &l, &rows) != LLM4ALL_OK || rows < 1) return {};
    return std::vector<float>(l, l + g_vocab);
}

// Greedy continuation of a fixed prompt; every step's logits appended to *trace.
std::vector<int32_t> greedy(llm4all_model *m, int32_t steps, std::vector<float> *trace) {
    llm4all_session *s = session(m);
    if (!s) return {};
    std::vector<int32_t> toks = {1, 403, 407, 261, 378, 285, 306, 280, 261, 286, 314, 422, 371, 272, 301, 407,
                                 296, 269, 284, 334, 261, 323, 285, 387};
    std::vector<int32_t> out;
    llm4all_status st = llm4all_session_decode(s, toks.data(), toks.size(), false);
    for (int32_t i = 0; i < steps && st == LLM4ALL_OK; ++i) {
        std::vector<float> l = last_logits(s);
        trace->insert(trace->end(), l.begin(), l.end());
        int32_t best = 0;
        for (int32_t t = 1; t < int32_t(l.size()); ++t)
            if (l[t] > l[best]) best = t;
        out.push_back(best);
        st = llm4all_session_decode(s, &best, 1, false);
    }
    if (st != LLM4ALL_OK) std::printf("decode: %s\n", llm4all_last_error());
    llm4all_session_free(s);
    return out;
}

// Two sequences in one batch on model m: each one's logits after the step.
std::vector<float> batched(llm4all_model *m) {
    llm4all_session *a = session(m), *b = session(m);
    std::vector<int32_t> ta = {1, 403, 407, 261, 378}, tb = {1, 296, 269, 284, 334, 261, 323};
    llm4all_batch_item items[2] = {{a, ta.data(), ta.size(), false}, {b, tb.data(), tb.size(), false}};
    std::vector<float> out;
    if (llm4all_decode_batch(items, 2) == LLM4ALL_OK)
        for (llm4all_session *s : {a, b}) {
            std::vector<float> l = last_logits(s);
            out.insert(out.end(), l.begin(), l.end());
        }
    else
        std::printf("decode_batch: %s\n", llm4all_last_error());
    llm4all_session_free(a);
    llm4all_session_free(b);
    return out;
}

bool has_shadow() {
    char *json = nullptr;
    if (llm4all_devices_json(&json) != LLM4ALL_OK) return false;
    const bool found = std::strstr(json, "\"backend\":\"shadow\"") && std::strstr(json, "\"id\":\"shadow:0\"") &&
                       std::strstr(json, "\"emulated\":true");
    llm4all_free(json);
    return found;
}

void expect_error(const char *device, int32_t layers, llm4all_status want, const char *words) {
    llm4all_status st;
    llm4all_model *m = load(device, layers, &st);
    const std::string msg = st == LLM4ALL_OK ? "" : llm4all_last_error();
    check(st == want && msg.find(words) != std::string::npos,
          std::string("device ") + device + ": want " + llm4all_status_name(want) + " mentioning '" + words +
              "', got " + llm4all_status_name(st) + ": " + msg);
    llm4all_model_free(m);
}

} // namespace

int main() {
    // Before the registry's first use: the shadow plugin's folder, then the usual ones.
    setenv("LLM4ALL_BACKEND_PATH", LLM4ALL_SHADOW_PLUGIN_DIR, 1);
    // The shadow device runs the generic CPU plugin's ops; the CPU side must be the same
    // build for bit-identical results.
    setenv("LLM4ALL_CPU_VARIANT", "generic", 1);
    g_path = testdata_file("models/stories260K.gguf");
    if (g_path.empty()) return 0;
    check(has_shadow(), "the shadow device is listed with its id and as emulated");

    llm4all_model *cpu = load("cpu", 0);
    g_vocab = llm4all_model_n_vocab(cpu);
    std::vector<float> want_trace;
    const std::vector<int32_t> want = greedy(cpu, 12, &want_trace);
    const std::vector<float> want_batch = batched(cpu);
    check(want.size() == 12 && !want_batch.empty(), "the CPU reference runs");

    // stories260K has 5 layers: none, one, some, all (with the output head), all by -1.
    for (int32_t layers : {0, 1, 3, 5, -1}) {
        llm4all_model *m = load("shadow", layers);
        check(m != nullptr, "load on shadow with n_gpu_layers " + std::to_string(layers));
        if (!m) continue;
        char *info = nullptr;
        llm4all_model_info_json(m, &info);
        const int32_t placed = layers < 0 ? 5 : layers;
        check(info && std::strstr(info, ("\"n_gpu_layers\":" + std::to_string(placed)).c_str()),
              "info names " + std::to_string(placed) + " layers on the device: " + (info ? info : ""));
        llm4all_free(info);
        std::vector<float> trace;
        const std::vector<int32_t> got = greedy(m, 12, &trace);
        check(got == want, "n_gpu_layers " + std::to_string(layers) + ": the CPU's greedy tokens");
        check(trace == want_trace, "n_gpu_layers " + std::to_string(layers) + ": the CPU's logits, bit for bit");
        check(batched(m) == want_batch, "n_gpu_layers " + std::to_string(layers) + ": batched sequences as on the CPU");
        llm4all_model_free(m);
    }
    // The memory estimate splits by placement: the device's share appears as its own entry.
    {
        auto estimate = [](const char *device, int32_t layers) {
            llm4all_model_options mo;
            llm4all_model_options_init(&mo);
            mo.device = device;
            mo.n_gpu_layers = layers;
            llm4all_memory_estimate e;
            llm4all_memory_estimate_init(&e);
            if (llm4all_gguf_estimate_memory(g_path.c_str(), &mo, nullptr, &e) != LLM4ALL_OK)
                std::printf("estimate: %s\n", llm4all_last_error());
            return e;
        };
        const llm4all_memory_estimate all_cpu = estimate("cpu", 0), split = estimate("shadow", 3);
        check(all_cpu.n_devices == 1 && split.n_devices == 2 && std::string(split.devices[1].name) == "shadow:0",
              "the estimate names the device of the offloaded layers");
        check(split.devices[1].weights > 0 && split.devices[1].kv_cache == all_cpu.kv_cache * 3 / 5 &&
                  split.devices[0].weights < all_cpu.devices[0].weights &&
                  split.devices[0].kv_cache == all_cpu.kv_cache * 2 / 5,
              "3 of 5 layers' cache and weights counted on the device, the rest on the CPU");
    }
    // "auto" never picks an emulated device.
    if (llm4all_model *m = load("auto", -1)) {
        char *info = nullptr;
        llm4all_model_info_json(m, &info);
        check(info && std::strstr(info, "\"n_gpu_layers\":0"), std::string("auto stays off the emulated device: ") +
                                                                   (info ? info : ""));
        llm4all_free(info);
        llm4all_model_free(m);
    }
    // A weight type the device refuses: an error when the device was asked for by name.
    setenv("LLM4ALL_SHADOW_NO_TYPE", "0", 1);   // F32: every stories260K matrix
    expect_error("shadow", -1, LLM4ALL_ERR_UNSUPPORTED, "F32 weights");
    unsetenv("LLM4ALL_SHADOW_NO_TYPE");
    expect_error("shadow", -2, LLM4ALL_ERR_INVALID_ARGUMENT, "n_gpu_layers must be -1");
    expect_error("shadow:1", -1, LLM4ALL_ERR_BACKEND, "there is no shadow device 1");
    expect_error("shadow:x", -1, LLM4ALL_ERR_INVALID_ARGUMENT, "must be a number");
    expect_error("warp-drive", -1, LLM4ALL_ERR_BACKEND, "unknown device \"warp-drive\"");
    expect_error("cuda", -1, LLM4ALL_ERR_BACKEND, "cuda");
    llm4all_model_free(cpu);
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
