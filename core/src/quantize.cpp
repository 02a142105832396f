// quantize.cpp — whole-file quantization (placeholder until the writer lands).
#include "quantize.h"

#include "error.h"

namespace llm4all {

void quantize_file(const std::string &, const std::string &, const llm4all_quantize_options &) {
    fail(LLM4ALL_ERR_UNSUPPORTED, "quantizing files is not implemented yet");
}

} // namespace llm4all
