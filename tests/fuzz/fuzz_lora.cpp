// fuzz_lora.cpp — the LoRA adapter loader on arbitrary bytes: each input is an
// adapter GGUF applied to stories260K through the C ABI (llm4all_model_options.lora,
// the first byte picking the user's scale), and an adapter that loads is then run
// (two decode steps through every adapted product). Its backend plugin comes from
// LLM4ALL_BACKEND_PATH (run.sh points it at a release build). Every call must return
// a status, never crash; a load that succeeds must give finite-or-not logits, not UB.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_common.h"
#include "llm4all/llm4all.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const std::string base = fuzz::testdata() + "/models/stories260K.gguf";
    if (size == 0) return 0;
    static const float k_scales[4] = {1.0f, 0.5f, -2.0f, 0.0f};
    fuzz::MemFile file(data + 1, size - 1);
    llm4all_lora_adapter adapter = {file.path().c_str(), k_scales[data[0] & 3]};
    llm4all_model_options mo;
    llm4all_model_options_init(&mo);
    mo.device = "cpu";
    mo.lora = &adapter;
    mo.n_lora = 1;
    mo.skip_memory_check = true;
    llm4all_model *model = nullptr;
    if (llm4all_model_load(base.c_str(), &mo, &model) != LLM4ALL_OK) {
        if (model) std::abort();   // a failed load hands nothing back
        return 0;
    }
    llm4all_session_options so;
    llm4all_session_options_init(&so);
    so.n_ctx = 32;
    so.n_threads = 1;
    llm4all_session *session = nullptr;
    if (llm4all_session_new(model, &so, &session) == LLM4ALL_OK) {
        const int32_t tokens[3] = {1, 403, 407};
        (void)llm4all_session_decode(session, tokens, 3, true);
        llm4all_session_free(session);
    }
    llm4all_model_free(model);
    return 0;
}
