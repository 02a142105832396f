// fuzz_gguf_meta.cpp — the metadata-only paths a user reaches through `llm4all info`
// and the C ABI without loading weights: llm4all_gguf_describe (header to JSON, whole
// and abbreviated arrays) and llm4all_gguf_check_model (hyper-parameters and
// tokenizer from the header), on arbitrary bytes. They must return a status, never
// crash, and a described file's JSON must be one NUL-free string.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz_common.h"
#include "llm4all/llm4all.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz::MemFile file(data, size);
    char *json = nullptr;
    if (llm4all_gguf_describe(file.path().c_str(), 16, &json) == LLM4ALL_OK) {
        if (!json || std::strlen(json) < 2 || json[0] != '{') std::abort();
    } else if (json) {
        std::abort();   // an error must leave no output behind
    }
    llm4all_free(json);
    (void)llm4all_gguf_check_model(file.path().c_str());
    return 0;
}
