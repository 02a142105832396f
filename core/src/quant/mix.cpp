// mix.cpp — the per-tensor type rules of llama.cpp's quantizer (its
// llama_tensor_get_type) for the mixes we offer, rewritten as a small table of
// upgrades per tensor role. Only the branches reachable without an importance
// matrix, for dense (non-MoE) models, are reproduced.
#include "quant/mix.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "error.h"
#include "types.h"

namespace llm4all::quant {

namespace {

// general.file_type values are llama.cpp's LLAMA_FTYPE_MOSTLY_* numbers.
const Mix kMixes[] = {
    {"Q4_0", LLM4ALL_TYPE_Q4_0, 2},     {"Q4_1", LLM4ALL_TYPE_Q4_1, 3},
    {"Q5_0", LLM4ALL_TYPE_Q5_0, 8},     {"Q5_1", LLM4ALL_TYPE_Q5_1, 9},
    {"Q8_0", LLM4ALL_TYPE_Q8_0, 7},     {"Q2_K", LLM4ALL_TYPE_Q2_K, 10},
    {"Q3_K_S", LLM4ALL_TYPE_Q3_K, 11},  {"Q3_K_M", LLM4ALL_TYPE_Q3_K, 12},
    {"Q3_K_L", LLM4ALL_TYPE_Q3_K, 13},  {"Q4_K_S", LLM4ALL_TYPE_Q4_K, 14},
    {"Q4_K_M", LLM4ALL_TYPE_Q4_K, 15},  {"Q5_K_S", LLM4ALL_TYPE_Q5_K, 16},
    {"Q5_K_M", LLM4ALL_TYPE_Q5_K, 17},  {"Q6_K", LLM4ALL_TYPE_Q6_K, 18},
    {"IQ4_NL", LLM4ALL_TYPE_IQ4_NL, 25}, {"IQ4_XS", LLM4ALL_TYPE_IQ4_XS, 30},
};

// Short aliases keep the rule code below readable.
constexpr int32_t Q4_0 = LLM4ALL_TYPE_Q4_0, Q5_0 = LLM4ALL_TYPE_Q5_0, Q5_1 = LLM4ALL_TYPE_Q5_1,
                  Q8_0 = LLM4ALL_TYPE_Q8_0, Q2_K = LLM4ALL_TYPE_Q2_K, Q3_K = LLM4ALL_TYPE_Q3_K,
                  Q4_K = LLM4ALL_TYPE_Q4_K, Q5_K = LLM4ALL_TYPE_Q5_K, Q6_K = LLM4ALL_TYPE_Q6_K,
                  IQ4_NL = LLM4ALL_TYPE_IQ4_NL, IQ4_XS = LLM4ALL_TYPE_IQ4_XS, F16 = LLM4ALL_TYPE_F16;

bool contains(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }

bool ends_with(const std::string &s, const std::string &tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// The role of a tensor as far as the mix rules care; matched by name parts so
// every architecture's naming of the same role is covered.
enum class Role { Output, TokenEmbd, AttnV, AttnK, AttnQ, AttnOutput, FfnUp, FfnGate, FfnDown, Other };

Role role_of(const std::string &name) {
    if (name == "output.weight") return Role::Output;
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Role::TokenEmbd;
    // Fused q/k/v and MLA's kv_b hold value projections too, and get their rules.
    if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") || contains(name, "attn_v.weight"))
        return Role::AttnV;
    if (contains(name, "attn_k.weight")) return Role::AttnK;
    if (contains(name, "attn_q.weight")) return Role::AttnQ;
    if (contains(name, "attn_output.weight")) return Role::AttnOutput;
    if (contains(name, "ffn_up")) return Role::FfnUp;
    if (contains(name, "ffn_gate")) return Role::FfnGate;
    if (contains(name, "ffn_down")) return Role::FfnDown;
    return Role::Other;
}

// The layer number of "blk.N.*" names, -1 for the others.
int layer_of(const std::string &name) {
    if (name.compare(0, 4, "blk.") != 0) return -1;
    const char *p = name.c_str() + 4;
    char *end = nullptr;
    const long v = std::strtol(p, &end, 10);
    return end == p ? -1 : static_cast<int>(v);
}

int64_t block_size(int32_t type) {
    const TypeInfo *ti = type_info(type);
    return ti ? ti->block_size : 1;
}

// The first element of an integer key that may also be a per-layer array.
int64_t first_int(const GgufFile &f, const std::string &key, int64_t fallback) {
    const GgufValue *v = f.find(key);
    if (!v) return fallback;
    if (v->type == GgufType::ARRAY) {
        std::vector<int32_t> a = f.get_int_array(key);
        return a.empty() ? fallback : a[0];
    }
    return f.get_int(key);
}

// Layers that keep more bits in the _M mixes: the first and last eighth, and
// every third layer in between.
bool more_bits_layer(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// Model facts the rules read, and the counters they advance as tensors are visited.
struct RuleState {
    const Mix *mix;
    int n_layer = 0;
    int64_t n_gqa = 1;
    bool is_70b = false;
    bool tied_embeddings = true;   // no output.weight: token_embd doubles as the output head
    int n_attn_v = 0, i_attn_v = 0, i_ffn_down = 0;
    bool mix_is(const char *name) const { return std::string(mix->name) == name; }
};

// llama.cpp's upgrades of the base type for one tensor (before the shape fallback).
int32_t upgraded_type(RuleState &st, const MixOptions &opt, Role role, const GgufTensorInfo &t) {
    int32_t type = st.mix->base_type;
    if (role == Role::Output || (role == Role::TokenEmbd && st.tied_embeddings)) {
        if (opt.output_type >= 0) return opt.output_type;
        if (t.ne[0] % block_size(type) != 0) return Q8_0;
        return type == Q8_0 ? Q8_0 : Q6_K;
    }
    switch (role) {
    case Role::AttnV: {
        const int i = st.i_attn_v++;
        if (st.mix_is("Q2_K")) type = st.n_gqa >= 4 ? Q4_K : Q3_K;
        else if (st.mix_is("Q3_K_M")) type = i < 2 ? Q5_K : Q4_K;
        else if (st.mix_is("Q3_K_L")) type = Q5_K;
        else if ((st.mix_is("IQ4_NL") || st.mix_is("IQ4_XS")) && st.n_gqa >= 4) type = Q5_K;
        else if ((st.mix_is("Q4_K_M") || st.mix_is("Q5_K_M")) && more_bits_layer(i, st.n_attn_v)) type = Q6_K;
        else if (st.mix_is("Q4_K_S") && i < 4) type = Q5_K;
        // 70B models share each value head between 8 query heads: attn_v is small, so more bits are cheap.
        if (st.is_70b && (type == Q3_K || type == Q4_K)) type = Q5_K;
        return type;
    }
    case Role::FfnDown: {
        // The counter stands in for the layer number (tensors are visited in layer order).
        const int i = st.i_ffn_down++, n = st.n_layer;
        if (st.mix_is("Q2_K")) return Q3_K;
        if (st.mix_is("Q3_K_M")) return i < n / 16 ? Q5_K : Q4_K;
        if (st.mix_is("Q3_K_L")) return Q5_K;
        if (st.mix_is("Q4_K_M")) return more_bits_layer(i, n) ? Q6_K : type;
        if ((st.mix_is("IQ4_NL") || st.mix_is("IQ4_XS")) && i < n / 8) return Q5_K;
        if (st.mix_is("Q5_K_M") && more_bits_layer(i, n)) return Q6_K;
        if (st.mix_is("Q4_K_S") && i < n / 8) return Q5_K;
        return type;
    }
    case Role::AttnOutput:
        if (st.mix_is("Q2_K")) return Q3_K;
        if (st.mix_is("Q3_K_M")) return Q4_K;
        if (st.mix_is("Q3_K_L")) return Q5_K;
        return type;
    default:
        return type;
    }
}

// Rows must be whole blocks: a type whose block does not divide the row length
// falls back to a 32-value type of similar size, and to F16 when even 32 does not divide it.
int32_t fit_row_length(int32_t type, int64_t n_per_row) {
    if (n_per_row % block_size(type) == 0) return type;
    int32_t fallback = type;
    switch (type) {
    case IQ4_XS: fallback = IQ4_NL; break;
    case Q2_K: case Q3_K: fallback = Q4_0; break;
    case Q4_K: fallback = Q5_0; break;
    case Q5_K: fallback = Q5_1; break;
    case Q6_K: fallback = Q8_0; break;
    default: break;
    }
    return n_per_row % block_size(fallback) == 0 ? fallback : F16;
}

} // namespace

int significant_dims(const GgufTensorInfo &t) {
    for (int i = 3; i > 0; --i)
        if (t.ne[i] > 1) return i + 1;
    return 1;
}

const Mix *find_mix(const std::string &name) {
    std::string up = name;
    std::transform(up.begin(), up.end(), up.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    for (const Mix &m : kMixes)
        if (up == m.name) return &m;
    return nullptr;
}

std::string mix_names() {
    std::string out;
    for (const Mix &m : kMixes) out += (out.empty() ? "" : ", ") + std::string(m.name);
    return out;
}

bool is_quantizable_tensor(const GgufTensorInfo &t) {
    const std::string &n = t.name;
    if (significant_dims(t) < 2 || !ends_with(n, "weight")) return false;
    if (n == "position_embd.weight" || n == "token_types.weight") return false;
    // Norms, MoE routers and small tables that llama.cpp keeps in their source type.
    // (Its per-name lists for RWKV, DeepSeek, GLM and vision towers are left out:
    // architectures we do not run.)
    static const char *const kept[] = {"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel",
                                       "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
                                       "attn_rel_b.weight", ".position_embd", ".rel_pos",
                                       ".patch_embd", ".patch_merger"};
    for (const char *k : kept)
        if (contains(n, k)) return false;
    return true;
}

TypePlan::TypePlan(const GgufFile &file, const Mix &mix, const MixOptions &options) {
    const std::string arch = file.get_string("general.architecture", "");
    if (first_int(file, arch + ".expert_count", 0) > 1)
        fail(LLM4ALL_ERR_UNSUPPORTED, file.path() + ": quantizing mixture-of-experts models is not supported");

    RuleState st;
    st.mix = &mix;
    st.n_layer = static_cast<int>(first_int(file, arch + ".block_count", 0));
    const int64_t n_head = first_int(file, arch + ".attention.head_count", 0);
    const int64_t n_head_kv = first_int(file, arch + ".attention.head_count_kv", n_head);
    st.n_gqa = n_head_kv == 0 ? 0 : n_head / n_head_kv;
    st.is_70b = st.n_layer == 80 && ((arch == "llama" && n_head != n_head_kv) || arch == "qwen2");

    // Output order: tensors outside layers first, then layer by layer, by name within each.
    std::vector<const GgufTensorInfo *> order;
    for (const GgufTensorInfo &t : file.tensors()) order.push_back(&t);
    std::stable_sort(order.begin(), order.end(), [](const GgufTensorInfo *a, const GgufTensorInfo *b) {
        const int la = layer_of(a->name), lb = layer_of(b->name);
        return la != lb ? la < lb : a->name < b->name;
    });
    for (const GgufTensorInfo *t : order) {
        const Role r = role_of(t->name);
        if (r == Role::AttnV) ++st.n_attn_v;
        if (r == Role::Output) st.tied_embeddings = false;
    }

    for (const GgufTensorInfo *t : order) {
        Entry e{t, is_quantizable_tensor(*t), t->type};
        if (e.quantizable) {
            const Role r = role_of(t->name);
            if (r == Role::TokenEmbd && options.token_embedding_type >= 0)
                e.type = options.token_embedding_type;
            else if (r == Role::Output && options.output_type >= 0)
                e.type = options.output_type;
            else
                e.type = fit_row_length(options.pure ? mix.base_type : upgraded_type(st, options, r, *t), t->ne[0]);
        }
        entries_.push_back(e);
    }
}

} // namespace llm4all::quant
