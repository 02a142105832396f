// quantize.h — rewrites a GGUF file with its weights quantized to a llama.cpp
// mix ("Q4_K_M", ...): per-tensor type rules, threads, progress, atomic output.
#pragma once

#include <cstdint>
#include <string>

#include "llm4all/llm4all.h"

namespace llm4all {

// Throws Error with a message naming the file/tensor at fault; never leaves a
// partial out_path behind.
void quantize_file(const std::string &in_path, const std::string &out_path,
                   const llm4all_quantize_options &options);

} // namespace llm4all
