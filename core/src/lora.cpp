// lora.cpp — LoRA adapters in llama.cpp's GGUF format (general.type "adapter",
// adapter.type "lora", adapter.lora.alpha, "<weight>.lora_a" [n_in, r] and
// "<weight>.lora_b" [r, n_out] per adapted weight): checked against the loaded
// model and bound to the weight views the forwards multiply by (arch/common.h).
#include <cmath>
#include <map>
#include <utility>

#include "error.h"
#include "model.h"
#include "types.h"

namespace llm4all {

namespace {

bool ends_with(const std::string &s, const std::string &tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string shape_of(const llm4all_tensor &t) {
    return "[" + std::to_string(t.ne[0]) + ", " + std::to_string(t.ne[1]) + "]";
}

} // namespace

void Model::add_lora(const std::string &path, float scale) {
    std::unique_ptr<GgufFile> file = GgufFile::open(path, true);
    const GgufFile &f = *file;
    auto refuse = [&](const std::string &why) { fail(LLM4ALL_ERR_INVALID_ARGUMENT, "LoRA adapter " + path + ": " + why); };

    const std::string type = f.get_string("general.type", "");
    if (type != "adapter") refuse("not an adapter file (general.type is '" + type + "', expected 'adapter')");
    const std::string kind = f.get_string("adapter.type", "");
    if (kind != "lora") refuse("adapter.type is '" + kind + "'; only 'lora' adapters are supported");
    const std::string arch = f.get_string("general.architecture", "");
    if (arch != hp_.arch)
        refuse("made for architecture '" + arch + "', but the model " + file_->path() + " is '" + hp_.arch + "'");
    // alpha 0 (or absent) means the user's scale alone, as in llama.cpp.
    const float alpha = static_cast<float>(f.get_float("adapter.lora.alpha", 0.0));
    if (!(std::isfinite(scale)) || !(std::isfinite(alpha))) refuse("scale or alpha is not a finite number");

    // Pair up the tensors by the weight they adapt.
    std::map<std::string, std::pair<const GgufTensorInfo *, const GgufTensorInfo *>> pairs;
    for (const GgufTensorInfo &t : f.tensors()) {
        if (ends_with(t.name, ".lora_a"))
            pairs[t.name.substr(0, t.name.size() - 7)].first = &t;
        else if (ends_with(t.name, ".lora_b"))
            pairs[t.name.substr(0, t.name.size() - 7)].second = &t;
        else
            refuse("tensor '" + t.name + "' is neither a .lora_a nor a .lora_b tensor");
    }
    if (pairs.empty()) refuse("holds no .lora_a/.lora_b tensors");

    const llm4all_backend_iface &be = *backend().iface;
    if (be.size <= offsetof(llm4all_backend_iface, scale) || !be.scale)
        refuse(std::string("backend ") + be.name + "-" + be.variant + " lacks the scale op adapters need");
    auto check_tensor = [&](const GgufTensorInfo &info) {
        if (info.n_dims != 2) refuse("tensor '" + info.name + "' is not a matrix");
        if (info.type != LLM4ALL_TYPE_F32 && info.type != LLM4ALL_TYPE_F16 && info.type != LLM4ALL_TYPE_Q8_0)
            refuse("tensor '" + info.name + "' has type " + (type_info(info.type) ? type_info(info.type)->name : "?") +
                   "; adapters may be F32, F16 or Q8_0");
        if (!be.supports(LLM4ALL_OP_MUL_MAT, info.type))
            refuse("tensor '" + info.name + "': backend " + be.name + "-" + be.variant + " cannot multiply by its type");
    };
    auto bind = [&](const GgufTensorInfo &info) {
        llm4all_tensor t{};
        t.data = const_cast<uint8_t *>(f.tensor_data(info));
        t.type = info.type;
        t.n_dims = 2;
        for (int i = 0; i < 4; ++i) t.ne[i] = info.ne[i];
        views_.push_back(t);
        return &views_.back();
    };

    // Check every pair before binding any, so a refused file leaves the model as it was.
    struct Bound {
        const llm4all_tensor *w;
        const GgufTensorInfo *a, *b;
    };
    std::vector<Bound> todo;
    for (const auto &kv : pairs) {
        const std::string &name = kv.first;
        const GgufTensorInfo *a = kv.second.first, *b = kv.second.second;
        if (!a || !b) refuse("weight '" + name + "' has only one of its .lora_a/.lora_b tensors");
        check_tensor(*a);
        check_tensor(*b);
        if (name == "token_embd.weight" || name == "position_embd.weight" || name == "token_types.weight")
            refuse("adapts the embedding table '" + name + "', which this engine does not adapt");
        auto it = named_.find(name);
        if (it == named_.end()) refuse("weight '" + name + "' is not in the model " + file_->path() + " (another base model?)");
        const llm4all_tensor &w = *it->second;
        if (w.n_dims != 2) refuse("weight '" + name + "' is not a matrix");
        if (a->ne[0] != w.ne[0] || b->ne[1] != w.ne[1])
            refuse("weight '" + name + "' has shape " + shape_of(w) + " but the adapter's lora_a is [" +
                   std::to_string(a->ne[0]) + ", " + std::to_string(a->ne[1]) + "] and lora_b [" + std::to_string(b->ne[0]) +
                   ", " + std::to_string(b->ne[1]) + "] (another base model?)");
        if (a->ne[1] != b->ne[0] || a->ne[1] <= 0)
            refuse("weight '" + name + "': lora_a has rank " + std::to_string(a->ne[1]) + " but lora_b " +
                   std::to_string(b->ne[0]) + " (lora_a must be stored transposed, [n_in, r])");
        todo.push_back({it->second, a, b});
    }

    for (const Bound &t : todo) {
        const llm4all_tensor *a = bind(*t.a), *b = bind(*t.b);
        const float rank = static_cast<float>(a->ne[1]);
        const float s = alpha != 0.0f ? scale * alpha / rank : scale;
        lora_[t.w].push_back({a, b, s});
        // A fused weight's row views get the matching rows of b.
        for (const RowView &rv : row_views_) {
            if (rv.parent != t.w) continue;
            llm4all_tensor bv = *b;
            bv.data = static_cast<char *>(b->data) + row_bytes(*type_info(b->type), b->ne[0]) * size_t(rv.first);
            bv.ne[1] = rv.count;
            views_.push_back(bv);
            lora_[rv.view].push_back({a, &views_.back(), s});
        }
    }
    lora_files_.push_back(std::move(file));
}

} // namespace llm4all
