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

} // namespace

ArchRegistrar::ArchRegistrar(const Arch *arch) { arch_table()[arch->name] = arch; }

const Arch *find_arch(const std::string &name) {
    auto it = arch_table().find(name);
    return it == arch_table().end() ? nullptr : it->second;
}

Model::Model(const std::string &path, const std::string &device, bool use_mmap) {
    file_ = GgufFile::open(path, use_mmap);
    const GgufFile &f = *file_;
    const std::string arch_name = f.get_string("general.architecture");
    arch_ = find_arch(arch_name);
    if (!arch_) {
        std::string known;
        for (auto &kv : arch_table()) known += (known.empty() ? "" : ", ") + kv.first;
        fail(LLM4ALL_ERR_UNSUPPORTED, path + ": architecture '" + arch_name + "' is not supported (supported: " + known + ")");
    }
    // Hyper-parameters shared by the architectures, checked against the header's
    // tensors before anything is sized from them (hparams.cpp); arch loaders add the rest.
    hp_ = read_hparams(f);
    vocab_ = std::make_unique<Vocab>(f);
    if (vocab_->n_tokens() != hp_.n_vocab)
        fail(LLM4ALL_ERR_INTERNAL, path + ": the vocabulary has " + std::to_string(vocab_->n_tokens()) +
                                       " tokens, tokenizer.ggml.tokens " + std::to_string(hp_.n_vocab));

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
