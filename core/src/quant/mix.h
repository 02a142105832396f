// mix.h — which type each tensor of a model gets when a file is quantized to
// a llama.cpp mix ("Q4_K_M", ...): the mix table, which tensors are quantized
// at all, and llama.cpp's per-tensor upgrades, so our files match its own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"

namespace llm4all::quant {

struct Mix {
    const char *name;     // llama.cpp's name, e.g. "Q4_K_M"
    int32_t base_type;    // the type most tensors get (llm4all_type)
    uint32_t file_type;   // general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_*)
};

// Case-insensitive lookup; nullptr when unknown.
const Mix *find_mix(const std::string &name);
// "Q4_0, Q4_1, ..." for error messages.
std::string mix_names();

// What decides a tensor's type besides the mix.
struct MixOptions {
    bool pure = false;                  // base type everywhere, no upgrades
    int32_t output_type = -1;           // forced type for output.weight (-1: by the rules)
    int32_t token_embedding_type = -1;  // forced type for token_embd.weight (-1: by the rules)
};

// Plans the output type of every tensor of a file. The rules depend on the
// order tensors are visited (some count attn_v / ffn_down tensors as they go),
// so plan() visits them in llama.cpp's order, which is also the order the
// output file stores them in.
class TypePlan {
public:
    // Throws Error(UNSUPPORTED) for files whose rules we do not reproduce
    // (mixture-of-experts models).
    TypePlan(const GgufFile &file, const Mix &mix, const MixOptions &options);

    struct Entry {
        const GgufTensorInfo *tensor;
        bool quantizable;   // a weight the mix applies to (else copied as is)
        int32_t type;       // output type (the source type when not quantizable)
    };
    // In output order.
    const std::vector<Entry> &entries() const { return entries_; }

private:
    std::vector<Entry> entries_;
};

// Dimensions without the trailing ones of size 1 (at least 1): a [n, 1] tensor
// is a vector. llama.cpp decides what to quantize on this count and writes it
// as the tensor's n_dims.
int significant_dims(const GgufTensorInfo &t);

// True when llama.cpp would quantize this tensor at all: matrices named
// *.weight, except norms, position/token-type embeddings and a few small
// tables it keeps exact.
bool is_quantizable_tensor(const GgufTensorInfo &t);

} // namespace llm4all::quant
