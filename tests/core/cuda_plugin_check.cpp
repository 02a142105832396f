// cuda_plugin_check.cpp — built and run only when the CUDA plugin is built
// (backends/cuda/CMakeLists.txt): the plugin file exists, loads on any machine,
// exports a full table of this API version, and the core lists it: with its
// devices where an NVIDIA GPU and driver are present, else refused with the reason
// ("no NVIDIA driver (libcuda.so.1)" or "no CUDA device ...").
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "llm4all/backend.h"
#include "llm4all/llm4all.h"

#include "check.h"

int main(int argc, char **argv) {
    const std::string dir = argc > 1 ? argv[1] : ".";
    const std::string path = dir + "/libllm4all-cuda.so";
    check(access(path.c_str(), R_OK) == 0, "the plugin file exists: " + path);
    void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    check(h != nullptr, std::string("the plugin loads without a GPU: ") + (h ? "" : dlerror()));
    if (!h) return 1;
    auto score = reinterpret_cast<llm4all_backend_score_fn>(dlsym(h, "llm4all_backend_score"));
    auto init = reinterpret_cast<llm4all_backend_init_fn>(dlsym(h, "llm4all_backend_init"));
    auto refusal = reinterpret_cast<llm4all_backend_refusal_fn>(dlsym(h, "llm4all_backend_refusal"));
    check(score && init && refusal, "it exports score, init and refusal");
    if (!score || !init || !refusal) return 1;

    const int32_t s = score();
    const std::string why = refusal();
    const bool driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL) != nullptr;
    std::printf("score %d, refusal \"%s\" (libcuda.so.1 %s here)\n", s, why.c_str(), driver ? "present" : "absent");
    if (!driver)
        check(s == 0 && why == "no NVIDIA driver (libcuda.so.1)", "without the driver: score 0 and says so");
    else if (s == 0)
        check(why.rfind("no CUDA device", 0) == 0, "a driver without a device: score 0, \"no CUDA device ...\"");
    else
        check(why.empty(), "with a device: no refusal");

    const llm4all_backend_iface *be = init(nullptr);
    check(be && be->api_version == LLM4ALL_BACKEND_API_VERSION && be->size == sizeof(llm4all_backend_iface) &&
              std::string(be->name) == "cuda" && be->last_error && be->device_supports && be->rope_ext &&
              be->mul_mat_multi && be->attention_span,
          "a full table of this API version named cuda");
    if (be && s == 0) {
        check(be->device_count() == 0 && be->ctx_new(0, 1) == nullptr && be->device_alloc(0, 16) == nullptr,
              "no devices, contexts or memory when refused");
        check(be->supports(LLM4ALL_OP_MUL_MAT, LLM4ALL_TYPE_Q4_K) && be->supports(LLM4ALL_OP_MUL_MAT, LLM4ALL_TYPE_IQ4_XS) &&
                  !be->supports(LLM4ALL_OP_MUL_MAT, LLM4ALL_TYPE_Q8_K),
              "supports() names every weight type of the CPU backend and no other");
    }

    char *json = nullptr;
    check(llm4all_devices_json(&json) == LLM4ALL_OK && json, "llm4all_devices_json");
    const std::string j = json ? json : "";
    llm4all_free(json);
    const size_t at = j.find("\"backend\":\"cuda\"");
    check(at != std::string::npos, "the core lists the cuda plugin");
    if (at != std::string::npos) {
        const std::string entry = j.substr(at, j.find('}', at) - at);
        std::printf("registry: %s\n", entry.c_str());
        if (s == 0)
            check(entry.find("\"problem\"") != std::string::npos && j.find(why, at) != std::string::npos,
                  "its entry gives the refusal as the problem");
        else
            check(j.find("\"kind\":\"cuda\"", at) != std::string::npos, "its entry lists a cuda device");
    }
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
