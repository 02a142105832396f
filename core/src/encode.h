// encode.h — running embedding models (encoders): the compute state of a pass
// (backend context, threads, scratch), a batch of whole sequences stacked into
// one activation matrix, and the embedding pipeline on top (tokenize with a
// prefix, split long texts into windows, pool, project, normalise, average).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model.h"
#include "scratch.h"

namespace llm4all {

// Backend context and reusable scratch for encoder passes over one model.
class Encoder {
public:
    Encoder(const Model &model, int32_t n_threads);   // n_threads 0 = every core
    ~Encoder();
    Encoder(const Encoder &) = delete;
    Encoder &operator=(const Encoder &) = delete;

    const Model &model() const { return model_; }
    const llm4all_backend_iface &be() const { return *model_.backend().iface; }
    llm4all_backend_ctx *ctx() const { return ctx_; }
    // A tensor over scratch slot `slot` (grown on demand, contents not kept).
    llm4all_tensor scratch(int32_t slot, int64_t ne0, int64_t ne1, int64_t ne2 = 1);
    // Throws Error(BACKEND) naming op when rc != 0.
    void check(int32_t rc, const char *op) const;

private:
    const Model &model_;
    llm4all_backend_ctx *ctx_ = nullptr;
    ScratchSlots scratch_;
};

// Whole sequences, one after another; positions restart at 0 in each.
struct EncodeBatch {
    struct Seq {
        int32_t row;   // first row in the activations
        int32_t n;     // tokens
    };
    std::vector<int32_t> tokens, pos;
    std::vector<Seq> seqs;
    int32_t n_tokens() const { return static_cast<int32_t>(tokens.size()); }
    void clear() { tokens.clear(), pos.clear(), seqs.clear(); }
    void add(const int32_t *t, int32_t n);
};

enum class LongText { Mean = 0, Truncate = 1, Error = 2 };

struct EmbedParams {
    int32_t n_threads = 0;
    bool normalize = true;
    int32_t dimensionality = 0;    // 0 = full
    std::string prefix;            // put before every text
    int32_t pooling = -1;          // -1 = the model's
    LongText long_text = LongText::Mean;
    int32_t n_ctx = 0;             // tokens per window, 0 = the model's training context
    // Before each pass: token counts of this pass and every later one; false cancels.
    std::function<bool(const int32_t *, size_t)> on_batch;
};

// Tokenizes texts (prefix + text, with the model's special tokens) and embeds them.
// Returns n_texts * dim floats; *n_tokens_out (may be null) counts the tokens run.
std::vector<float> embed_texts(const Model &model, const std::vector<std::string_view> &texts,
                               const EmbedParams &p, int32_t *dim_out, uint64_t *n_tokens_out);
// Sequences already tokenized (special tokens as given).
std::vector<float> embed_token_seqs(const Model &model, const std::vector<std::vector<int32_t>> &seqs,
                                    const EmbedParams &p, int32_t *dim_out, uint64_t *n_tokens_out);

} // namespace llm4all
