// model.h — a loaded model: hyper-parameters, weights (views into the mapped
// GGUF file or device buffers), vocabulary, and the architecture that runs it.
// Immutable after load; several sessions may share one model.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "gguf.h"
#include "hparams.h"
#include "devices.h"
#include "registry.h"
#include "vocab.h"

namespace llm4all {

class Batch;
class Encoder;
struct EncodeBatch;
struct Arch;

// Per-layer weights of a llama-family decoder; absent tensors are nullptr.
struct LayerWeights {
    const llm4all_tensor *attn_norm = nullptr;  // [n_embd]
    const llm4all_tensor *wq = nullptr;         // [n_embd, n_head*head_dim]
    const llm4all_tensor *wk = nullptr;         // [n_embd, n_head_kv*head_dim]
    const llm4all_tensor *wv = nullptr;         // [n_embd, n_head_kv*head_dim]
    const llm4all_tensor *wo = nullptr;         // [n_head*head_dim, n_embd]
    const llm4all_tensor *bq = nullptr, *bk = nullptr, *bv = nullptr;  // qwen2 biases
    const llm4all_tensor *ffn_norm = nullptr;   // [n_embd]
    const llm4all_tensor *ffn_gate = nullptr;   // [n_embd, n_ff]
    const llm4all_tensor *ffn_up = nullptr;     // [n_embd, n_ff]
    const llm4all_tensor *ffn_down = nullptr;   // [n_ff, n_embd]
    // Gemma 3: per-head RMSNorm of q and k, and norms after attention and FFN.
    const llm4all_tensor *attn_q_norm = nullptr, *attn_k_norm = nullptr;  // [head_dim]
    const llm4all_tensor *attn_post_norm = nullptr, *ffn_post_norm = nullptr;  // [n_embd]
    // BERT: biases of the output and FFN projections and of the two LayerNorms
    // (post-norm: attn_norm follows attention, ffn_norm the FFN).
    const llm4all_tensor *bo = nullptr, *b_up = nullptr, *b_down = nullptr;  // [n_embd], [n_ff], [n_embd]
    const llm4all_tensor *attn_norm_b = nullptr, *ffn_norm_b = nullptr;       // [n_embd]
};

// Every weight field of a layer, for code that treats them alike (placement on a device).
template <class F> void for_each_weight(LayerWeights &L, F &&f) {
    for (const llm4all_tensor **t : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv, &L.ffn_norm,
                                     &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.attn_q_norm, &L.attn_k_norm,
                                     &L.attn_post_norm, &L.ffn_post_norm, &L.bo, &L.b_up, &L.b_down, &L.attn_norm_b,
                                     &L.ffn_norm_b})
        f(*t);
}

// One LoRA adapter's low-rank update of one weight matrix w [n_in, n_out]:
// w x + scale * b (a x), with scale = the user's scale * alpha / r (lora.cpp).
struct LoraPair {
    const llm4all_tensor *a = nullptr;   // [n_in, r]
    const llm4all_tensor *b = nullptr;   // [r, n_out]
    float scale = 1.0f;
};

struct Weights {
    const llm4all_tensor *tok_embd = nullptr;     // [n_embd, n_vocab]
    const llm4all_tensor *output_norm = nullptr;  // [n_embd]
    const llm4all_tensor *output = nullptr;       // [n_embd, n_vocab] (tok_embd when tied)
    std::vector<LayerWeights> layers;
    // [n_rot/2] F32 divisors of the RoPE frequencies (Llama 3.1+ rope scaling), or none;
    // LongRoPE's pair, chosen by the session's context (Hparams::n_ctx_orig).
    const llm4all_tensor *rope_freqs = nullptr;
    const llm4all_tensor *rope_long = nullptr, *rope_short = nullptr;
    // BERT embeddings: absolute positions, token type 0, LayerNorm after the sum.
    const llm4all_tensor *pos_embd = nullptr, *type_embd = nullptr;       // [n_embd, n_ctx_train], [n_embd, n_types]
    const llm4all_tensor *embd_norm = nullptr, *embd_norm_b = nullptr;    // [n_embd]
    // sentence-transformers Dense projections applied after pooling, in order
    // (EmbeddingGemma: [768, 3072] then [3072, 768]); no bias, no activation.
    std::vector<const llm4all_tensor *> dense;
};

class Model {
public:
    // Throws Error on any problem (file, format, architecture, backend).
    Model(const std::string &path, const std::string &device, bool use_mmap);
    ~Model();

    const GgufFile &file() const { return *file_; }
    const Vocab &vocab() const { return *vocab_; }
    const Hparams &hparams() const { return hp_; }
    const Weights &weights() const { return w_; }
    // The token embedding table is read a row per token, never whole by a matmul (an
    // encoder's, or a decoder's with an untied output head).
    bool embd_read_sparsely() const;
    const Arch &arch() const { return *arch_; }
    // The CPU's plugin: embeddings, host-side work, and every layer not placed elsewhere.
    const BackendPlugin &backend() const { return *devices_[0].plugin; }
    // The model's devices: [0] the CPU, then the device the load asked for, if any.
    const std::vector<DeviceRef> &devices() const { return devices_; }
    // Index into devices() of the device that runs layer l, and of the output head.
    int32_t layer_device(int32_t l) const { return layer_dev_.empty() ? 0 : layer_dev_[size_t(l)]; }
    int32_t output_device() const { return output_dev_; }
    // Places the last n_gpu_layers layers (-1 = all that fit) and, with the last layer,
    // the output head on devices()[1], uploading their weights (and adapters). Called
    // once, after the adapters are added; without a second device it does nothing.
    // Layers the device cannot run stay on the CPU: logged when the device was chosen
    // by "auto", an error naming the tensor type when it was asked for by name.
    void place(int32_t n_gpu_layers);
    // The decision of place() without the upload (for memory estimates).
    void plan(int32_t n_gpu_layers);
    // A layer's distinct weight tensors with their adapters' (what placing it moves);
    // the output head's likewise.
    std::vector<const llm4all_tensor *> layer_tensors(int32_t l) const;
    std::vector<const llm4all_tensor *> head_tensors() const;
    std::string info_json() const;

    // Architecture loaders: a tensor by name, checked for shape and type support.
    // Returns nullptr for an absent optional tensor; throws for a missing required one.
    const llm4all_tensor *tensor(const std::string &name, std::vector<int64_t> shape, bool required = true);
    // Rows [first, first + count) of a matrix as a tensor of its own (for fused
    // weights such as phi3's attn_qkv); rows are contiguous, so no data moves.
    const llm4all_tensor *rows(const llm4all_tensor *t, int64_t first, int64_t count);
    Weights &mutable_weights() { return w_; }
    Hparams &mutable_hparams() { return hp_; }

    // LoRA (lora.cpp): loads a llama.cpp-format adapter file and applies it to
    // every product with the weights it names, at user scale `scale`. Throws
    // Error naming the file and the reason when it does not fit this model.
    // Called while loading, before any session exists.
    void add_lora(const std::string &path, float scale);
    // The adapters on weight w, or nullptr (no adapter: the forwards' fast path).
    const std::vector<LoraPair> *lora(const llm4all_tensor *w) const {
        if (lora_.empty()) return nullptr;
        auto it = lora_.find(w);
        return it == lora_.end() ? nullptr : &it->second;
    }

private:
    std::unique_ptr<GgufFile> file_;
    std::unique_ptr<Vocab> vocab_;
    Hparams hp_;
    Weights w_;
    const Arch *arch_ = nullptr;
    std::string device_request_;
    std::vector<DeviceRef> devices_;
    std::vector<int8_t> layer_dev_;     // per layer, index into devices_ (empty: all on the CPU)
    int32_t output_dev_ = 0;
    // Device memory holding placed weights: (device index, address), freed with the model.
    std::vector<std::pair<int32_t, void *>> device_buffers_;
    // Why a layer cannot run on device d ("" when it can).
    std::string layer_problem(int32_t l, const DeviceRef &d) const;
    // Uploads tensors into one allocation on device d and returns their device copies.
    std::vector<const llm4all_tensor *> upload(int32_t d, const std::vector<const llm4all_tensor *> &tensors);
    std::deque<llm4all_tensor> views_;   // stable addresses for the weight views
    // What an adapter needs to find its weights: the tensors bound by name, and
    // the row views cut from each (phi3's fused attn_qkv / ffn_up).
    struct RowView {
        const llm4all_tensor *parent, *view;
        int64_t first, count;
    };
    std::unordered_map<std::string, const llm4all_tensor *> named_;
    std::vector<RowView> row_views_;
    std::vector<std::unique_ptr<GgufFile>> lora_files_;   // mapped adapter files
    std::unordered_map<const llm4all_tensor *, std::vector<LoraPair>> lora_;
};

// An architecture = hyper-parameters + tensor list + forward pass. Each one
// lives in core/src/arch/<name>.cpp and registers itself with ArchRegistrar.
struct Arch {
    const char *name;
    // Reads hparams (beyond the common ones Model fills) and binds the weights.
    void (*load)(Model &model);
    // Runs the batch's tokens (batch.h: one or more sequences, each at its own
    // positions with its own cache) through the network, appending their K/V to
    // each segment's cache. Writes logits [n_vocab, batch.n_out()] (host memory):
    // each segment's last n_out positions, segment after segment.
    void (*forward)(Batch &batch, float *logits);
    // Encoders only (nullptr for decoders, whose forward is then nullptr):
    // runs the batch's sequences with attention inside each sequence and writes
    // the final hidden state of every token, [n_embd, batch.n_tokens()], to
    // host memory (encode.h).
    void (*encode)(Encoder &encoder, const EncodeBatch &batch, float *hidden) = nullptr;
};

const Arch *find_arch(const std::string &name);

struct ArchRegistrar {
    explicit ArchRegistrar(const Arch *arch);
};

} // namespace llm4all
