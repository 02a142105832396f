// model.cpp — loading a GGUF model: common hyper-parameters, the backend, the
// architecture's weights, and a JSON description for `llm4all info`.
#include "model.h"

#include <algorithm>
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

    device_request_ = device.empty() ? "auto" : device;
    devices_ = pick_devices(device_request_);
    arch_->load(*this);
    // A table read a row per token (memory.cpp counts only those rows): keep its rows from
    // being mapped 2 MiB at a time.
    if (embd_read_sparsely()) f.advise_sparse_reads(w_.tok_embd->data, tensor_bytes(*w_.tok_embd));
}

bool Model::embd_read_sparsely() const {
    return w_.tok_embd && (!arch_->forward || w_.output != w_.tok_embd);
}

Model::~Model() {
    for (auto &b : device_buffers_) devices_[size_t(b.first)].be().device_free(devices_[size_t(b.first)].index, b.second);
}

std::string Model::layer_problem(int32_t l, const DeviceRef &d) const {
    const llm4all_backend_iface &be = d.be();
    for (llm4all_op op : {LLM4ALL_OP_RMS_NORM, LLM4ALL_OP_ROPE, LLM4ALL_OP_ADD, LLM4ALL_OP_SCALE, LLM4ALL_OP_SWIGLU,
                          LLM4ALL_OP_GEGLU, LLM4ALL_OP_ATTENTION, LLM4ALL_OP_ATTENTION_EXT})
        if (!be.device_supports(d.index, op, LLM4ALL_TYPE_F32))
            return d.id() + " lacks op " + std::to_string(int(op)) + " on F32";
    LayerWeights L = w_.layers[size_t(l)];
    std::string problem;
    for_each_weight(L, [&](const llm4all_tensor *t) {
        if (!t || !problem.empty()) return;
        const bool matrix = t->ne[1] > 1;
        if (!be.device_supports(d.index, matrix ? LLM4ALL_OP_MUL_MAT : LLM4ALL_OP_ADD, t->type)) {
            const TypeInfo *ti = type_info(t->type);
            problem = d.id() + " cannot multiply by " + (ti ? ti->name : "type " + std::to_string(t->type)) +
                      " weights (layer " + std::to_string(l) + ")";
        }
    });
    return problem;
}

std::vector<const llm4all_tensor *> Model::upload(int32_t d, const std::vector<const llm4all_tensor *> &tensors) {
    const DeviceRef &dev = devices_[size_t(d)];
    constexpr size_t k_align = 256;   // the largest storage-offset alignment GPUs ask for
    std::vector<size_t> offsets;
    size_t total = 0;
    for (const llm4all_tensor *t : tensors) {
        offsets.push_back(total);
        total += (tensor_bytes(*t) + k_align - 1) / k_align * k_align;
    }
    void *base = dev.be().device_alloc(dev.index, total);
    if (!base)
        fail(LLM4ALL_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(total >> 20) + " MiB on " + dev.label() +
                                            " (" + std::to_string(dev.info.memory_free >> 20) + " MiB free of " +
                                            std::to_string(dev.info.memory_total >> 20) +
                                            "): offload fewer layers (n_gpu_layers) or use a smaller model");
    device_buffers_.emplace_back(d, base);
    std::vector<const llm4all_tensor *> out;
    for (size_t i = 0; i < tensors.size(); ++i) {
        llm4all_tensor t = *tensors[i];
        t.data = static_cast<char *>(base) + offsets[i];
        if (dev.be().device_upload(dev.index, t.data, tensors[i]->data, tensor_bytes(t)) != 0)
            fail(LLM4ALL_ERR_BACKEND, "cannot upload weights to " + dev.label());
        views_.push_back(t);
        out.push_back(&views_.back());
    }
    return out;
}

std::vector<const llm4all_tensor *> Model::layer_tensors(int32_t l) const {
    std::vector<const llm4all_tensor *> ts;
    LayerWeights L = w_.layers[size_t(l)];
    for_each_weight(L, [&](const llm4all_tensor *t) {
        if (!t || std::find(ts.begin(), ts.end(), t) != ts.end()) return;
        ts.push_back(t);
        if (const std::vector<LoraPair> *pairs = lora(t))
            for (const LoraPair &p : *pairs) ts.push_back(p.a), ts.push_back(p.b);
    });
    return ts;
}

std::vector<const llm4all_tensor *> Model::head_tensors() const {
    std::vector<const llm4all_tensor *> ts = {w_.output_norm, w_.output};
    if (const std::vector<LoraPair> *pairs = lora(w_.output))
        for (const LoraPair &p : *pairs) ts.push_back(p.a), ts.push_back(p.b);
    return ts;
}

void Model::plan(int32_t n_gpu_layers) {
    if (devices_.size() < 2) return;
    const DeviceRef &gpu = devices_[1];
    const bool asked = device_request_ != "auto";
    if (!arch_->forward) {
        if (asked)
            fail(LLM4ALL_ERR_UNSUPPORTED, file_->path() + ": embedding models (" + hp_.arch +
                                              ") run on the CPU only; load it with device \"cpu\" or \"auto\"");
        return;
    }
    const int32_t n_layer = hp_.n_layer;
    layer_dev_.assign(size_t(n_layer), 0);
    const int32_t want = n_gpu_layers < 0 ? n_layer : std::min(n_gpu_layers, n_layer);
    if (want == 0) return;
    // "All that fit" leaves a tenth of the device's free memory for the KV cache and
    // the work buffers of the sessions; layers go from the last one down, the output
    // head with the last layer, as llama.cpp places them.
    const std::vector<const llm4all_tensor *> head = head_tensors();
    uint64_t budget = gpu.info.memory_free ? gpu.info.memory_free - gpu.info.memory_free / 10 : UINT64_MAX;
    auto bytes_of = [](const std::vector<const llm4all_tensor *> &ts) {
        uint64_t b = 0;
        for (const llm4all_tensor *t : ts) b += tensor_bytes(*t);
        return b;
    };
    std::string head_problem;
    for (const llm4all_tensor *t : {w_.output_norm, w_.output})
        if (!gpu.be().device_supports(gpu.index, t->ne[1] > 1 ? LLM4ALL_OP_MUL_MAT : LLM4ALL_OP_RMS_NORM, t->type))
            head_problem = gpu.id() + " cannot multiply by the output head's " + type_info(t->type)->name + " weights";
    if (head_problem.empty() && bytes_of(head) <= budget) {
        output_dev_ = 1;
        budget -= bytes_of(head);
    } else if (!head_problem.empty()) {
        if (asked) fail(LLM4ALL_ERR_UNSUPPORTED, file_->path() + ": " + head_problem);
        log_message(LLM4ALL_LOG_INFO, "the output head stays on the CPU: " + head_problem);
    }
    int32_t placed = 0;
    for (int32_t l = n_layer - 1; l >= 0 && placed < want; --l) {
        const std::string problem = layer_problem(l, gpu);
        if (!problem.empty()) {
            if (asked) fail(LLM4ALL_ERR_UNSUPPORTED, file_->path() + ": " + problem);
            log_message(LLM4ALL_LOG_INFO, "layer " + std::to_string(l) + " stays on the CPU: " + problem);
            continue;
        }
        const uint64_t need = bytes_of(layer_tensors(l));
        if (need > budget) {
            if (n_gpu_layers >= 0 || placed == 0)
                fail(LLM4ALL_ERR_OUT_OF_MEMORY,
                     file_->path() + ": not enough memory on " + gpu.label() + " for " +
                         (n_gpu_layers >= 0 ? std::to_string(want) + " layers" : std::string("any layer")) + ": layer " +
                         std::to_string(l) + " needs " + std::to_string(need >> 20) + " MiB, " +
                         std::to_string(budget >> 20) + " MiB are left of " + std::to_string(gpu.info.memory_free >> 20) +
                         " MiB free (a tenth kept for the cache); use fewer GPU layers or device cpu");
            break;
        }
        budget -= need;
        layer_dev_[size_t(l)] = 1;
        ++placed;
    }
    if (output_dev_ == 1 && layer_dev_.back() != 1) output_dev_ = 0;   // the head follows the last layer
    log_message(LLM4ALL_LOG_INFO, std::to_string(placed) + " of " + std::to_string(n_layer) + " layers" +
                                      (output_dev_ == 1 ? " and the output head" : "") + " on " + gpu.label());
}

void Model::place(int32_t n_gpu_layers) {
    plan(n_gpu_layers);
    if (layer_dev_.empty()) return;
    const int32_t n_layer = hp_.n_layer;
    // Upload what was placed, and point the weights (and the adapters' keys) at the copies.
    std::unordered_map<const llm4all_tensor *, const llm4all_tensor *> moved;
    auto move = [&](std::vector<const llm4all_tensor *> ts) {
        const std::vector<const llm4all_tensor *> copies = upload(1, ts);
        for (size_t i = 0; i < ts.size(); ++i) moved[ts[i]] = copies[i];
    };
    for (int32_t l = 0; l < n_layer; ++l)
        if (layer_dev_[size_t(l)] == 1) move(layer_tensors(l));
    // A tied head is also the CPU's embedding table: the device gets its own copy.
    if (output_dev_ == 1) move(head_tensors());
    auto remap = [&](const llm4all_tensor *&t) {
        auto it = t ? moved.find(t) : moved.end();
        if (it != moved.end()) t = it->second;
    };
    for (int32_t l = 0; l < n_layer; ++l)
        if (layer_dev_[size_t(l)] == 1) for_each_weight(w_.layers[size_t(l)], remap);
    if (output_dev_ == 1) remap(w_.output_norm), remap(w_.output);
    std::unordered_map<const llm4all_tensor *, std::vector<LoraPair>> lora;
    for (auto &kv : lora_) {
        const llm4all_tensor *key = kv.first;
        std::vector<LoraPair> pairs = kv.second;
        // Adapters of weights left on the CPU keep their host tensors.
        if (moved.count(key)) {
            remap(key);
            for (LoraPair &p : pairs) remap(p.a), remap(p.b);
        }
        lora.emplace(key, std::move(pairs));
    }
    lora_.swap(lora);
}

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
    const llm4all_backend_iface &be = *backend().iface;
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
    const llm4all_backend_iface &cpu = *backend().iface;
    j += ",\"backend\":\"" + json_escape(std::string(cpu.name) + "-" + cpu.variant) + "\"";
    int32_t offloaded = 0;
    for (int32_t l = 0; l < hp_.n_layer; ++l) offloaded += layer_device(l) != 0;
    j += ",\"device\":\"" + json_escape(devices_.back().label()) + "\"";
    j += ",\"n_gpu_layers\":" + num(offloaded) + ",\"output_on_gpu\":" + (output_dev_ ? "true" : "false");
    j += "}";
    return j;
}

} // namespace llm4all
