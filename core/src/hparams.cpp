// hparams.cpp — reads the shared hyper-parameters from a GGUF header and refuses
// values no real model has: a range per key, heads that divide, and agreement
// with the tensors (their shapes and the number of blk.N layers the file holds),
// so a damaged or hostile header fails here with the key's name instead of
// sizing caches, threads or loops from nonsense later.
#include "hparams.h"

#include <cmath>

#include "error.h"

namespace llm4all {

namespace {

// Plausible ranges, generous beyond every released model (largest today: 16384
// embedding, 126 layers, 128 heads, 256 head size, 262144 tokens, 10M context).
constexpr int64_t k_max_embd = int64_t(1) << 17;
constexpr int64_t k_max_layer = 1024;
constexpr int64_t k_max_head = 4096;
constexpr int64_t k_max_head_dim = 4096;
constexpr int64_t k_max_ff = int64_t(1) << 20;
constexpr int64_t k_max_ctx = int64_t(1) << 26;
constexpr int64_t k_max_vocab = int64_t(1) << 24;

std::string shape_str(const GgufTensorInfo &t) {
    std::string s = "[";
    for (uint32_t i = 0; i < t.n_dims; ++i) s += (i ? ", " : "") + std::to_string(t.ne[i]);
    return s + "]";
}

// An integer key within [lo, hi]; absent = fallback (or an error when required).
int32_t ranged(const GgufFile &f, const std::string &key, int64_t lo, int64_t hi, int64_t fallback, bool required) {
    const GgufValue *v = f.find(key);
    if (!v) {
        if (required) fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": required key '" + key + "' is missing");
        return static_cast<int32_t>(fallback);
    }
    const int64_t x = f.get_int(key);   // throws, naming the key, when it is not an integer
    // An unsigned value above INT64_MAX reads back negative here: out of range too.
    if (x < lo || x > hi || (v->type == GgufType::UINT64 && v->u64 > uint64_t(INT64_MAX)))
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": key '" + key + "' = " +
                                       (v->type == GgufType::UINT64 ? std::to_string(v->u64) : std::to_string(x)) +
                                       " is out of range (" + std::to_string(lo) + ".." + std::to_string(hi) + ")");
    return static_cast<int32_t>(x);
}

// Fails unless tensor `name` (when present) is a matrix [cols, rows]; what says
// which keys the expected sizes come from.
void expect_matrix(const GgufFile &f, const std::string &name, int64_t cols, int64_t rows, const std::string &what) {
    const GgufTensorInfo *t = f.find_tensor(name);
    if (!t) return;
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": tensor '" + name + "' has shape " + shape_str(*t) + " but " + what +
                                       " give [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
}

// Number of layers the tensors describe: one past the largest N of any "blk.N." name.
int64_t layers_in_tensors(const GgufFile &f) {
    int64_t n = 0;
    for (const GgufTensorInfo &t : f.tensors()) {
        if (t.name.compare(0, 4, "blk.") != 0) continue;
        int64_t l = 0;
        size_t i = 4;
        for (; i < t.name.size() && i < 12 && t.name[i] >= '0' && t.name[i] <= '9'; ++i) l = l * 10 + (t.name[i] - '0');
        if (i > 4 && i < t.name.size() && t.name[i] == '.') n = std::max(n, l + 1);
    }
    return n;
}

void check_tensors(const GgufFile &f, const Hparams &hp) {
    const std::string a = hp.arch + ".";
    const std::string E = "'" + a + "embedding_length' " + std::to_string(hp.n_embd);
    const std::string V = "the vocabulary size " + std::to_string(hp.n_vocab) + " (tokenizer.ggml.tokens)";
    if (!f.find_tensor("token_embd.weight"))
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": required tensor 'token_embd.weight' is missing");
    expect_matrix(f, "token_embd.weight", hp.n_embd, hp.n_vocab, E + " and " + V);
    expect_matrix(f, "output.weight", hp.n_embd, hp.n_vocab, E + " and " + V);

    const int64_t n_file = layers_in_tensors(f);
    if (n_file != hp.n_layer)
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": key '" + a + "block_count' = " + std::to_string(hp.n_layer) +
                                       " but the file holds tensors for " + std::to_string(n_file) + " layers (blk.N)");
    // Every layer has the same shapes; the first and the last stand for all (the
    // architecture's loader checks each one when it binds the weights).
    const int64_t q = int64_t(hp.n_head) * hp.head_dim, kv = int64_t(hp.n_head_kv) * hp.head_dim;
    const std::string heads = "'" + a + "attention.head_count' " + std::to_string(hp.n_head) + " x head size " +
                              std::to_string(hp.head_dim) + " and " + E;
    const std::string kv_heads = "'" + a + "attention.head_count_kv' " + std::to_string(hp.n_head_kv) +
                                 " x head size " + std::to_string(hp.head_dim) + " and " + E;
    const std::string ff = "'" + a + "feed_forward_length' " + std::to_string(hp.n_ff) + " and " + E;
    for (int64_t l : {int64_t(0), int64_t(hp.n_layer) - 1}) {
        const std::string p = "blk." + std::to_string(l) + ".";
        expect_matrix(f, p + "attn_q.weight", hp.n_embd, q, heads);
        expect_matrix(f, p + "attn_k.weight", hp.n_embd, kv, kv_heads);
        expect_matrix(f, p + "attn_qkv.weight", hp.n_embd, q + 2 * kv, heads + ", " + kv_heads);
        expect_matrix(f, p + "attn_output.weight", q, hp.n_embd, heads);
        expect_matrix(f, p + "ffn_down.weight", hp.n_ff, hp.n_embd, ff);
        // ffn_up is [n_embd, 2 * n_ff] in the fused gate+up layout (phi3).
        if (const GgufTensorInfo *t = f.find_tensor(p + "ffn_up.weight"))
            if (t->ne[1] != 2 * int64_t(hp.n_ff) || f.find_tensor(p + "ffn_gate.weight"))
                expect_matrix(f, p + "ffn_up.weight", hp.n_embd, hp.n_ff, ff);
    }
}

} // namespace

Hparams read_hparams(const GgufFile &f) {
    Hparams hp;
    hp.arch = f.get_string("general.architecture");
    const std::string a = hp.arch + ".";
    const std::string &path = f.path();

    hp.n_embd = ranged(f, a + "embedding_length", 1, k_max_embd, 0, true);
    hp.n_layer = ranged(f, a + "block_count", 1, k_max_layer, 0, true);
    hp.n_head = ranged(f, a + "attention.head_count", 1, std::min<int64_t>(k_max_head, hp.n_embd), 0, true);
    hp.n_head_kv = ranged(f, a + "attention.head_count_kv", 1, hp.n_head, hp.n_head, false);
    if (hp.n_head % hp.n_head_kv != 0)
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": key '" + a + "attention.head_count' = " + std::to_string(hp.n_head) +
                                       " is not a multiple of '" + a + "attention.head_count_kv' = " +
                                       std::to_string(hp.n_head_kv));
    hp.n_ff = ranged(f, a + "feed_forward_length", 1, k_max_ff, 0, true);
    hp.n_ctx_train = ranged(f, a + "context_length", 1, k_max_ctx, 2048, false);
    if (hp.n_embd % hp.n_head != 0 && !f.find(a + "attention.key_length"))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": key '" + a + "embedding_length' = " + std::to_string(hp.n_embd) +
                                       " is not a multiple of '" + a + "attention.head_count' = " +
                                       std::to_string(hp.n_head) + " (and no attention.key_length says the head size)");
    hp.head_dim = ranged(f, a + "attention.key_length", 1, k_max_head_dim, hp.n_embd / hp.n_head, false);
    if (int64_t(hp.n_head) * hp.head_dim > k_max_embd * 4)
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": key '" + a + "attention.head_count' = " + std::to_string(hp.n_head) +
                                       " x key_length " + std::to_string(hp.head_dim) + " is too large");
    hp.n_rot = ranged(f, a + "rope.dimension_count", 1, hp.head_dim, hp.head_dim, false);
    if (hp.n_rot % 2)
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": key '" + a + "rope.dimension_count' = " + std::to_string(hp.n_rot) +
                                       " is odd (RoPE rotates pairs)");
    hp.rms_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5));
    hp.rope_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
    // Linear RoPE scaling stretches positions by 1/factor.
    const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
    const double factor = f.get_float(a + "rope.scaling.factor", 0.0);
    if (scaling == "linear" && factor > 0 && std::isfinite(factor)) hp.rope_scale = static_cast<float>(1.0 / factor);
    if (!(hp.rms_eps > 0) || !std::isfinite(hp.rms_eps) || !(hp.rope_base > 0) || !std::isfinite(hp.rope_base))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": key '" + a + "attention.layer_norm_rms_epsilon' or '" + a +
                                       "rope.freq_base' is not a positive finite number");

    const GgufValue *tokens = f.find("tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GgufType::ARRAY)
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": required key 'tokenizer.ggml.tokens' is missing or not an array");
    if (tokens->size() == 0 || tokens->size() > uint64_t(k_max_vocab))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": key 'tokenizer.ggml.tokens' has " + std::to_string(tokens->size()) +
                                       " tokens (1.." + std::to_string(k_max_vocab) + " allowed)");
    hp.n_vocab = static_cast<int32_t>(tokens->size());
    check_tensors(f, hp);
    return hp;
}

} // namespace llm4all
