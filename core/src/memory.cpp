// memory.cpp — the memory estimate of a model and session from its header and sizes,
// the memory available to this process, and the check before a load (memory.h).
// The figures follow what the loader and a session really allocate and touch, so that
// the estimate matches a run's peak resident memory (tests/python/test_memory_estimate.py).
#include "memory.h"
#include "types.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "error.h"
#include "kv_cache.h"
#include "platform/platform.h"

namespace llm4all {

namespace {

constexpr uint64_t k_page = 4096;
// What reading one row of a sparsely read embedding table makes resident: its pages and
// what the kernel maps with them (Model advises no read-ahead and no fault-around; measured
// 15-21 KiB a row with embgemma and minilm on a cold file).
constexpr uint64_t k_sparse_row = 20 * 1024;
// What a run adds beyond the parts counted below: allocator slack and the thread pool's
// stacks as far as they are touched (a run's peak RSS less the process before loading and
// less every counted part: 1-2 MiB for an embedding run, 4-10 MiB for a decoder's, ~0 for
// a tiny model). The libraries' own code and data are not counted: whoever asks for an
// estimate has them loaded already (this library computes it), so they are in that
// process's baseline, not in what loading adds.
constexpr uint64_t k_runtime_fixed = 4ull << 20;
// The parsed vocabulary beyond the header's own arrays: per token its text, score, type,
// lookup slot and detokenizer piece; per BPE merge its key and hash node (fitted to the
// RssAnon growth of loading 49k-, 152k- and 262k-token vocabularies).
constexpr uint64_t k_per_token = 68;
constexpr uint64_t k_per_merge = 176;
// Embedding rows a run reads from a table that no matmul reads whole, each costing
// k_sparse_row: a decoder's conversation holds few distinct tokens (1 per 32 positions of
// its context here), an encoder's full window about one in three (measured on wiki text).
constexpr uint64_t k_decoder_positions_per_row = 32;
constexpr uint64_t k_encoder_tokens_per_row = 3;

uint64_t f32_bytes(uint64_t n) { return n * sizeof(float); }

// Heap bytes of a parsed header value: its string beyond the small-string buffer and
// nested arrays; arrays of scalars and strings stay in the file's pages (gguf.h).
uint64_t value_bytes(const GgufValue &v) {
    uint64_t b = v.str.size() > 15 ? v.str.size() + 17 : 0;   // + malloc header
    for (const GgufValue &x : v.items) b += sizeof(GgufValue) + value_bytes(x);
    return b;
}

// The header's parsed metadata and the vocabulary's own tables.
uint64_t vocab_bytes(const Model &model) {
    const GgufFile &f = model.file();
    uint64_t bytes = 0;
    for (const auto &kv : f.metadata()) bytes += value_bytes(kv.second);
    uint64_t n_merges = 0;
    if (const GgufValue *m = f.find("tokenizer.ggml.merges")) n_merges = m->size();
    return bytes + uint64_t(model.hparams().n_vocab) * k_per_token + n_merges * k_per_merge;
}

uint64_t tensor_bytes(const Model &model, const llm4all_tensor *t) {
    if (!t) return 0;
    for (const GgufTensorInfo &info : model.file().tensors())
        if (model.file().tensor_data(info) == t->data) return info.size;
    return 0;
}

// The file's pages a run touches: the whole file (header, every tensor) except an
// embedding table that no matmul reads (untied output head, encoders), of which only the
// rows of the tokens run are read. n_tokens: the context (decoders) or window (encoders).
uint64_t weight_bytes(const Model &model, int64_t n_tokens) {
    const Weights &w = model.weights();
    const bool encoder = !model.arch().forward;
    uint64_t bytes = model.file().file_size();
    if (model.embd_read_sparsely()) {
        const uint64_t embd = tensor_bytes(model, w.tok_embd);
        const uint64_t rows = uint64_t(std::max<int64_t>(n_tokens, 1)) /
                              (encoder ? k_encoder_tokens_per_row : k_decoder_positions_per_row) + 1;
        bytes -= embd;
        bytes += std::min(embd, rows * k_sparse_row);
    }
    return bytes;
}

// Activations of one forward pass over n tokens (the scratch slots of arch/common.h's
// Activations, or BERT's), the backend's prepared (quantized) activations, the output
// head for one row and the logits copies the session, batch and sampler keep.
uint64_t compute_bytes(const Hparams &hp, int64_t n, bool encoder) {
    const uint64_t E = hp.n_embd, F = hp.n_ff, hd = hp.head_dim;
    const uint64_t Q = uint64_t(hp.n_head) * hd, KV = uint64_t(hp.n_head_kv) * hd;
    const uint64_t per_token = hp.arch == "bert" ? 6 * E + F : 3 * E + 2 * Q + 2 * KV + 2 * F;
    uint64_t bytes = f32_bytes(per_token * uint64_t(n));
    // mul_mat's Q8 activations (about a byte per value) plus their tile-packed copy.
    bytes += 2 * uint64_t(n) * std::max(E, F) * 9 / 8;
    if (encoder) {
        bytes += f32_bytes(E * uint64_t(n));   // the final hidden states, downloaded to the host
    } else {
        // Head output [n_vocab, 1], the batch's and the session's logits, the sampler's
        // candidates (id + logit) and probabilities.
        bytes += f32_bytes(uint64_t(hp.n_vocab) * 6);
    }
    return bytes;
}

// Bytes from a decimal number with an optional K/M/G/T suffix (powers of 1024); 0 if bad.
uint64_t parse_bytes(const char *s) {
    char *end = nullptr;
    const double v = std::strtod(s, &end);
    if (end == s || !(v > 0)) return 0;
    while (*end == ' ') ++end;
    double scale = 1;
    switch (*end) {
    case 'k': case 'K': scale = 1024.0; break;
    case 'm': case 'M': scale = 1024.0 * 1024; break;
    case 'g': case 'G': scale = 1024.0 * 1024 * 1024; break;
    case 't': case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
    case '\0': break;
    default: return 0;
    }
    return static_cast<uint64_t>(v * scale);
}

} // namespace

SessionShape resolve_session_shape(const Hparams &hp, int32_t n_ctx, int32_t n_batch, int32_t kv_type) {
    SessionShape s;
    if (hp.n_embd_out > 0) {
        // An encoder runs windows of n_ctx tokens (at most its training context) in one pass.
        s.n_ctx = n_ctx > 0 ? std::min(n_ctx, hp.n_ctx_train) : hp.n_ctx_train;
        s.n_batch = s.n_ctx;
    } else {
        s.n_ctx = n_ctx > 0 ? n_ctx : std::min(hp.n_ctx_train, 4096);
        s.n_batch = std::min(n_batch > 0 ? n_batch : 512, s.n_ctx);
    }
    s.kv_type = kv_type;
    return s;
}

std::vector<MemoryUse> estimate_memory(const Model &model, const SessionShape &shape) {
    const Hparams &hp = model.hparams();
    const bool encoder = !model.arch().forward;
    MemoryUse cpu;
    cpu.device = model.backend().iface->name;
    cpu.weights = weight_bytes(model, shape.n_ctx);
    cpu.runtime = k_runtime_fixed + vocab_bytes(model);
    if (shape.session) {
        if (encoder) {
            cpu.compute = compute_bytes(hp, shape.n_ctx, true);
        } else {
            cpu.kv_cache = KvCache::bytes_needed(hp, shape.n_ctx, shape.n_batch, shape.kv_type);
            cpu.compute = compute_bytes(hp, shape.n_batch, false);
        }
    }
    // Layers placed on another device (Model::plan) take their weights and cache there; the
    // device also keeps a full set of activation buffers, and the CPU no longer reads the
    // placed weights' pages (their upload touches them once, as page cache it may drop).
    MemoryUse dev;
    for (int32_t l = 0; l < hp.n_layer && !encoder; ++l) {
        if (model.layer_device(l) == 0) continue;
        for (const llm4all_tensor *t : model.layer_tensors(l)) dev.weights += tensor_bytes(*t);
        if (shape.session) dev.kv_cache += KvCache::layer_bytes(hp, l, shape.n_ctx, shape.n_batch, shape.kv_type);
    }
    if (model.output_device() != 0)
        for (const llm4all_tensor *t : model.head_tensors()) dev.weights += tensor_bytes(*t);
    if (dev.weights == 0) return {cpu};
    dev.device = model.devices().back().id();
    // The head's weights stay on the CPU too when they are the (tied) embedding table.
    const uint64_t tied = model.output_device() != 0 && model.weights().output == model.weights().tok_embd
                              ? tensor_bytes(*model.weights().output) : 0;
    cpu.weights -= std::min(cpu.weights, dev.weights - tied);
    cpu.kv_cache -= std::min(cpu.kv_cache, dev.kv_cache);
    if (shape.session) dev.compute = compute_bytes(hp, shape.n_batch, false);
    return {cpu, dev};
}

uint64_t available_memory(std::string *source) {
    std::string dummy;
    std::string &src = source ? *source : dummy;
    if (const char *env = std::getenv("LLM4ALL_MEMORY_LIMIT")) {
        if (*env) {
            const uint64_t v = parse_bytes(env);
            if (!v)
                fail(LLM4ALL_ERR_INVALID_ARGUMENT, std::string("LLM4ALL_MEMORY_LIMIT=") + env +
                                                       " is not a size (bytes, or a number with K, M, G or T)");
            src = "LLM4ALL_MEMORY_LIMIT";
            return v;
        }
    }
    // The system's figure (platform.h): MemAvailable and cgroup limits on Linux, free +
    // inactive + purgeable pages on macOS, the available physical memory on Windows.
    return platform::available_memory(&src);
}

namespace {
void check_memory(const Model &model, const MemoryUse &need, const SessionShape &shape) {
    std::string source;
    const uint64_t avail = available_memory(&source);
    if (!avail) {
        log_message(LLM4ALL_LOG_DEBUG, "memory check skipped: this system does not say how much memory is available");
        return;
    }
    if (need.total() <= avail) return;
    auto mib = [](uint64_t b) { return std::to_string((b + (1 << 19)) >> 20) + " MiB"; };
    std::string parts = "weights " + mib(need.weights);
    if (shape.session && need.kv_cache) parts += ", KV cache " + mib(need.kv_cache) + " at n_ctx " + std::to_string(shape.n_ctx);
    if (shape.session) parts += ", compute " + mib(need.compute);
    if (need.runtime) parts += ", runtime " + mib(need.runtime);
    std::string fix = shape.session && need.kv_cache ? "use a smaller context (n_ctx, --n-ctx), " : "";
    fix += "a smaller quantization of the model (fewer bits per weight, e.g. Q4_K_M or Q3_K_M), or fewer GPU "
           "layers (n_gpu_layers) where a GPU holds part of it";
    fail(LLM4ALL_ERR_OUT_OF_MEMORY,
         model.file().path() + " needs about " + mib(need.total()) + " of memory (" + parts + ") but only " + mib(avail) +
             " is available (" + source + "). To fit, " + fix +
             "; to load it anyway, skip this check (skip_memory_check, --skip-memory-check).");
}

} // namespace

void check_model_memory(const Model &model) {
    SessionShape shape;
    shape.session = false;
    MemoryUse need = estimate_memory(model, shape).front();
    check_memory(model, need, shape);
}

void check_session_memory(const Model &model, int32_t n_ctx, int32_t n_batch, int32_t kv_type) {
    const SessionShape shape = resolve_session_shape(model.hparams(), n_ctx, n_batch, kv_type);
    MemoryUse need = estimate_memory(model, shape).front();
    need.runtime = 0;   // resident since the model loaded
    check_memory(model, need, shape);
}

} // namespace llm4all
