// model.cpp — loading a GGUF model: common hyper-parameters, the backend, the
// architecture's weights, and a JSON description for `llm4all info`.
#include "model.h"

#include <cmath>
#include <map>
#include <mutex>

#include "error.h"
#include "types.h"

namespace llm4all {

namespace {
std::map<std::string, const Arch *> &arch_table() {
    static std::map<std::string, const Arch *> table;
    return table;
}

std::string shape_str(const int64_t *ne, int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
    return s + "]";
}

int32_t positive_int(const GgufFile &f, const std::string &key, int64_t fallback, bool required) {
    int64_t v = required ? f.get_int(key) : f.get_int(key, fallback);
    if (v <= 0 || v > (int64_t(1) << 30))
        fail(LLM4ALL_ERR_BAD_GGUF, f.path() + ": key '" + key + "' has an impossible value " + std::to_string(v));
    return static_cast<int32_t>(v);
}
} // namespace

ArchRegistrar::ArchRegistrar(const Arch *arch) { arch_table()[arch->name] = arch; }

const Arch *find_arch(const std::string &name) {
    auto it = arch_table().find(name);
    return it == arch_table().end() ? nullptr : it->second;
}

Model::Model(const std::string &path, const std::string &device, bool use_mmap) {
    file_ = GgufFile::open(path, use_mmap);
    const GgufFile &f = *file_;
    hp_.arch = f.get_string("general.architecture");
    arch_ = find_arch(hp_.arch);
    if (!arch_) {
        std::string known;
        for (auto &kv : arch_table()) known += (known.empty() ? "" : ", ") + kv.first;
        fail(LLM4ALL_ERR_UNSUPPORTED, path + ": architecture '" + hp_.arch + "' is not supported (supported: " + known + ")");
    }
    vocab_ = std::make_unique<Vocab>(f);

    // Hyper-parameters shared by the decoder architectures; arch loaders add the rest.
    const std::string a = hp_.arch + ".";
    hp_.n_embd = positive_int(f, a + "embedding_length", 0, true);
    hp_.n_layer = positive_int(f, a + "block_count", 0, true);
    hp_.n_head = positive_int(f, a + "attention.head_count", 0, true);
    hp_.n_head_kv = positive_int(f, a + "attention.head_count_kv", hp_.n_head, false);
    hp_.n_ff = positive_int(f, a + "feed_forward_length", 0, true);
    hp_.n_ctx_train = positive_int(f, a + "context_length", 2048, false);
    if (hp_.n_embd % hp_.n_head != 0 && !f.find(a + "attention.key_length"))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": embedding_length " + std::to_string(hp_.n_embd) +
                                       " is not a multiple of head_count " + std::to_string(hp_.n_head));
    hp_.head_dim = positive_int(f, a + "attention.key_length", hp_.n_embd / hp_.n_head, false);
    if (hp_.n_head % hp_.n_head_kv != 0)
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": head_count " + std::to_string(hp_.n_head) +
                                       " is not a multiple of head_count_kv " + std::to_string(hp_.n_head_kv));
    hp_.n_rot = positive_int(f, a + "rope.dimension_count", hp_.head_dim, false);
    if (hp_.n_rot > hp_.head_dim || hp_.n_rot % 2)
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": rope.dimension_count " + std::to_string(hp_.n_rot) + " does not fit head size " +
                                       std::to_string(hp_.head_dim));
    hp_.rms_eps = static_cast<float>(f.get_float(a + "attention.layer_norm_rms_epsilon", 1e-5));
    hp_.rope_base = static_cast<float>(f.get_float(a + "rope.freq_base", 10000.0));
    // Linear RoPE scaling stretches positions by 1/factor.
    const std::string scaling = f.get_string(a + "rope.scaling.type", "none");
    double factor = f.get_float(a + "rope.scaling.factor", 0.0);
    if (scaling == "linear" && factor > 0) hp_.rope_scale = static_cast<float>(1.0 / factor);
    if (!(hp_.rms_eps > 0) || !(hp_.rope_base > 0) || !std::isfinite(hp_.rope_base))
        fail(LLM4ALL_ERR_BAD_GGUF, path + ": rms epsilon or rope.freq_base is not a positive number");
    hp_.n_vocab = vocab_->n_tokens();

    backend_ = &pick_backend(device.empty() ? "auto" : device);
    arch_->load(*this);
}

Model::~Model() = default;

const llm4all_tensor *Model::tensor(const std::string &name, std::vector<int64_t> shape, bool required) {
    const GgufTensorInfo *info = file_->find_tensor(name);
    if (!info) {
        if (!required) return nullptr;
        fail(LLM4ALL_ERR_BAD_GGUF, file_->path() + ": tensor '" + name + "' is missing");
    }
    int64_t want[4] = {1, 1, 1, 1};
    for (size_t i = 0; i < shape.size() && i < 4; ++i) want[i] = shape[i];
    for (int i = 0; i < 4; ++i)
        if (info->ne[i] != want[i])
            fail(LLM4ALL_ERR_BAD_GGUF, file_->path() + ": tensor '" + name + "' has shape " + shape_str(info->ne, 4) +
                                           ", expected " + shape_str(want, 4));
    const llm4all_backend_iface &be = *backend_->iface;
    // Norms, biases and embeddings are read row by row; matrices go through mul_mat.
    llm4all_op op = shape.size() >= 2 ? LLM4ALL_OP_MUL_MAT : LLM4ALL_OP_ADD;
    if (!be.supports(op, info->type) && !(op == LLM4ALL_OP_MUL_MAT && be.supports(LLM4ALL_OP_GET_ROWS, info->type)))
        fail(LLM4ALL_ERR_UNSUPPORTED, file_->path() + ": tensor '" + name + "' has type " +
                                          (type_info(info->type) ? type_info(info->type)->name : "?") +
                                          ", which backend " + be.name + "-" + be.variant + " does not support yet");
    if (shape.size() < 2 && info->type != LLM4ALL_TYPE_F32)
        fail(LLM4ALL_ERR_UNSUPPORTED, file_->path() + ": vector tensor '" + name + "' must be F32");
    llm4all_tensor t{};
    t.data = const_cast<uint8_t *>(file_->tensor_data(*info));
    t.type = info->type;
    t.n_dims = static_cast<int32_t>(info->n_dims);
    for (int i = 0; i < 4; ++i) t.ne[i] = info->ne[i];
    views_.push_back(t);
    named_[name] = &views_.back();
    return &views_.back();
}

const llm4all_tensor *Model::rows(const llm4all_tensor *t, int64_t first, int64_t count) {
    const TypeInfo *ti = type_info(t->type);
    if (!ti || first < 0 || count <= 0 || first + count > t->ne[1] || t->ne[2] != 1 || t->ne[3] != 1)
        fail(LLM4ALL_ERR_INTERNAL, "row view [" + std::to_string(first) + ", +" + std::to_string(count) +
                                       ") does not fit a matrix of " + std::to_string(t->ne[1]) + " rows");
    llm4all_tensor v = *t;
    v.data = static_cast<char *>(t->data) + row_bytes(*ti, t->ne[0]) * static_cast<size_t>(first);
    v.ne[1] = count;
    views_.push_back(v);
    row_views_.push_back({t, &views_.back(), first, count});
    return &views_.back();
}

std::string Model::info_json() const {
    const GgufFile &f = *file_;
    std::map<std::string, int> type_counts;
    int64_t n_params = 0;
    for (const GgufTensorInfo &t : f.tensors()) {
        const TypeInfo *ti = type_info(t.type);
        type_counts[ti ? ti->name : "?"]++;
        n_params += t.n_elements();
    }
    std::string types = "{";
    for (auto &kv : type_counts) types += (types.size() > 1 ? "," : "") + ("\"" + kv.first + "\":" + std::to_string(kv.second));
    types += "}";
    const Vocab &v = *vocab_;
    auto num = [](int64_t x) { return std::to_string(x); };
    std::string j = "{";
    j += "\"path\":\"" + json_escape(f.path()) + "\"";
    j += ",\"name\":\"" + json_escape(f.get_string("general.name", "")) + "\"";
    j += ",\"architecture\":\"" + json_escape(hp_.arch) + "\"";
    j += ",\"n_params\":" + num(n_params);
    j += ",\"file_size\":" + num(static_cast<int64_t>(f.file_size()));
    j += ",\"tensor_types\":" + types;
    j += ",\"file_type\":" + num(f.get_int("general.file_type", -1));
    j += ",\"n_ctx_train\":" + num(hp_.n_ctx_train);
    j += ",\"n_embd\":" + num(hp_.n_embd) + ",\"n_layer\":" + num(hp_.n_layer);
    j += ",\"n_head\":" + num(hp_.n_head) + ",\"n_head_kv\":" + num(hp_.n_head_kv);
    j += ",\"head_dim\":" + num(hp_.head_dim) + ",\"n_ff\":" + num(hp_.n_ff);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", hp_.rope_base);
    j += ",\"rope_freq_base\":" + std::string(buf);
    j += ",\"n_vocab\":" + num(hp_.n_vocab);
    j += ",\"tokenizer\":\"" + json_escape(v.model_name()) + "\",\"tokenizer_pre\":\"" + json_escape(v.pre_name()) + "\"";
    j += ",\"bos\":" + num(v.bos()) + ",\"eos\":" + num(v.eos());
    j += ",\"add_bos\":" + std::string(v.add_bos() ? "true" : "false");
    j += ",\"embedding_dim\":" + num(hp_.n_embd_out) + ",\"pooling\":" + num(hp_.pooling);
    j += ",\"chat_template\":" + std::string(f.find("tokenizer.chat_template") ? "true" : "false");
    j += ",\"backend\":\"" + json_escape(std::string(backend_->iface->name) + "-" + backend_->iface->variant) + "\"";
    j += "}";
    return j;
}

} // namespace llm4all
