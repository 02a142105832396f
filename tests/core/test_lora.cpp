// test_lora.cpp — the LoRA adapter loader through the C ABI (llm4all_model_options.lora)
// on stories260K: adapter GGUFs written here (core/src/gguf_writer) that do not fit
// the model, or are not LoRA adapters, must fail the load with INVALID_ARGUMENT and a
// message naming the reason; a zero update leaves the logits bit-identical, a real
// one changes them, and an options struct from before the LoRA fields loads no adapter.
// test-sources: core/src/gguf.cpp core/src/gguf_writer.cpp

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "gguf.h"
#include "gguf_writer.h"
#include "llm4all/backend.h"
#include "llm4all/llm4all.h"

#include "check.h"

using llm4all::GgufOutTensor;
using llm4all::GgufType;
using llm4all::GgufValue;
using llm4all::GgufWriter;

namespace {

using Meta = std::vector<std::pair<std::string, GgufValue>>;

GgufValue str(const std::string &s) {
    GgufValue v;
    v.type = GgufType::STRING;
    v.str = s;
    return v;
}

GgufValue f32(double x) {
    GgufValue v;
    v.type = GgufType::FLOAT32;
    v.f64 = x;
    return v;
}

struct Tensor {
    std::string name;
    int64_t ne0, ne1;
    int32_t type = LLM4ALL_TYPE_F32;
    float fill = 0.0f;   // F32 tensors: every element; other types: zero bytes
};

struct Adapter {
    std::string arch = "llama", type = "adapter", kind = "lora";
    float alpha = 8.0f;
    std::vector<Tensor> tensors;
};

// stories260K: n_embd 64, 8 heads of 8 (q 64), 4 kv heads (k, v 32), n_ff 172, 5 layers.
Adapter good(float b_fill = 0.0f) {
    Adapter a;
    a.tensors = {{"blk.0.attn_q.weight.lora_a", 64, 4, LLM4ALL_TYPE_F32, 0.01f},
                 {"blk.0.attn_q.weight.lora_b", 4, 64, LLM4ALL_TYPE_F32, b_fill},
                 {"blk.1.ffn_down.weight.lora_a", 172, 4, LLM4ALL_TYPE_F32, 0.01f},
                 {"blk.1.ffn_down.weight.lora_b", 4, 64, LLM4ALL_TYPE_F32, b_fill}};
    return a;
}

void write(const Adapter &a, const std::string &path) {
    Meta meta = {{"general.architecture", str(a.arch)}, {"general.type", str(a.type)},
                 {"adapter.type", str(a.kind)}, {"adapter.lora.alpha", f32(a.alpha)}};
    std::vector<GgufOutTensor> ts;
    for (const Tensor &t : a.tensors) {
        GgufOutTensor o;
        o.name = t.name;
        o.n_dims = 2;
        o.ne[0] = t.ne0;
        o.ne[1] = t.ne1;
        o.type = t.type;
        o.size = t.type == LLM4ALL_TYPE_F32 ? uint64_t(t.ne0 * t.ne1) * 4
                                            : uint64_t(t.ne0 / 32) * 18 * uint64_t(t.ne1);   // Q4_0 blocks
        ts.push_back(o);
    }
    GgufWriter w(path, 32);
    w.write_header(meta, ts);
    for (size_t i = 0; i < ts.size(); ++i) {
        std::vector<uint8_t> bytes(ts[i].size, 0);
        if (a.tensors[i].type == LLM4ALL_TYPE_F32)
            for (size_t j = 0; j < bytes.size() / 4; ++j) std::memcpy(&bytes[j * 4], &a.tensors[i].fill, 4);
        w.write_tensor(bytes.data(), bytes.size());
    }
    w.commit();
}

// Loads model with the given adapters; returns the status, and the message in *error.
llm4all_status load(const std::string &model, const std::vector<llm4all_lora_adapter> &lora, llm4all_model **out,
                    std::string *error, uint32_t size = sizeof(llm4all_model_options)) {
    llm4all_model_options o;
    llm4all_model_options_init(&o);
    o.lora = lora.empty() ? nullptr : lora.data();
    o.n_lora = int32_t(lora.size());
    o.size = size;
    llm4all_status st = llm4all_model_load(model.c_str(), &o, out);
    if (error) *error = st == LLM4ALL_OK ? "" : llm4all_last_error();
    return st;
}

std::vector<float> logits(llm4all_model *m) {
    llm4all_session_options so;
    llm4all_session_options_init(&so);
    so.n_ctx = 32;
    so.n_threads = 1;
    llm4all_session *s = nullptr;
    std::vector<float> out;
    if (llm4all_session_new(m, &so, &s) != LLM4ALL_OK) return out;
    const int32_t ids[] = {1, 403, 261, 32, 285, 259, 307};
    const float *l = nullptr;
    int32_t rows = 0;
    if (llm4all_session_decode(s, ids, 7, true) == LLM4ALL_OK && llm4all_session_logits(s, &l, &rows) == LLM4ALL_OK)
        out.assign(l, l + size_t(rows) * size_t(llm4all_model_n_vocab(m)));
    llm4all_session_free(s);
    return out;
}

} // namespace

int main() {
    const std::string model = testdata_file("models/stories260K.gguf");
    if (model.empty()) return 0;
    char dir_tmpl[] = "/tmp/llm4all-test-lora-XXXXXX";
    const std::string dir = mkdtemp(dir_tmpl);

    // Refusals: each file differs from a good adapter in one way.
    struct Case {
        const char *name;
        std::function<void(Adapter &)> edit;
        const char *message;
    };
    const std::vector<Case> cases = {
        {"other architecture", [](Adapter &a) { a.arch = "qwen2"; }, "made for architecture 'qwen2'"},
        {"not an adapter", [](Adapter &a) { a.type = "model"; }, "not an adapter file"},
        {"not lora", [](Adapter &a) { a.kind = "control_vector"; }, "only 'lora' adapters"},
        {"n_in differs", [](Adapter &a) { a.tensors[0].ne0 = 32; }, "has shape [64, 64] but the adapter's lora_a is [32, 4]"},
        {"n_out differs", [](Adapter &a) { a.tensors[3].ne1 = 32; }, "blk.1.ffn_down.weight' has shape [172, 64]"},
        {"ranks differ", [](Adapter &a) { a.tensors[1].ne0 = 8; }, "lora_a has rank 4 but lora_b 8"},
        {"weight missing", [](Adapter &a) { a.tensors[0].name = "blk.7.attn_q.weight.lora_a";
                                            a.tensors[1].name = "blk.7.attn_q.weight.lora_b"; },
         "weight 'blk.7.attn_q.weight' is not in the model"},
        {"half a pair", [](Adapter &a) { a.tensors.pop_back(); }, "has only one of its .lora_a/.lora_b"},
        {"embedding", [](Adapter &a) { a.tensors[0].name = "token_embd.weight.lora_a";
                                       a.tensors[1].name = "token_embd.weight.lora_b"; },
         "embedding table 'token_embd.weight'"},
        {"quantized type", [](Adapter &a) { a.tensors[0].type = LLM4ALL_TYPE_Q4_0; }, "adapters may be F32, F16 or Q8_0"},
        {"stray tensor", [](Adapter &a) { a.tensors[0].name = "blk.0.attn_q.weight"; }, "neither a .lora_a nor a .lora_b"},
        {"no tensors", [](Adapter &a) { a.tensors.clear(); }, "holds no .lora_a/.lora_b tensors"},
    };
    for (const Case &c : cases) {
        Adapter a = good(0.02f);
        c.edit(a);
        const std::string path = dir + "/bad.gguf";
        write(a, path);
        llm4all_model *m = nullptr;
        std::string err;
        const llm4all_status st = load(model, {{path.c_str(), 1.0f}}, &m, &err);
        check(st == LLM4ALL_ERR_INVALID_ARGUMENT && !m, std::string(c.name) + ": refused with INVALID_ARGUMENT");
        check(err.find(c.message) != std::string::npos && err.find(path) != std::string::npos,
              std::string(c.name) + ": message names the file and says '" + c.message + "', got: " + err);
        llm4all_model_free(m);
    }

    // A missing file, and bad arguments.
    {
        llm4all_model *m = nullptr;
        std::string err;
        check(load(model, {{"/nonexistent/adapter.gguf", 1.0f}}, &m, &err) == LLM4ALL_ERR_IO && !m,
              "missing adapter file: IO error, got " + err);
        llm4all_model_options o;
        llm4all_model_options_init(&o);
        o.n_lora = 1;
        check(llm4all_model_load(model.c_str(), &o, &m) == LLM4ALL_ERR_INVALID_ARGUMENT && !m,
              "n_lora 1 with lora NULL is refused");
        llm4all_lora_adapter none{nullptr, 1.0f};
        o.lora = &none;
        check(llm4all_model_load(model.c_str(), &o, &m) == LLM4ALL_ERR_INVALID_ARGUMENT && !m,
              "an adapter with a NULL path is refused");
    }

    // Effects: a zero update is bit-identical to no adapter; a real one changes the logits;
    // an options struct that ends before the LoRA fields (an older caller) loads none.
    {
        const std::string zero = dir + "/zero.gguf", real = dir + "/real.gguf";
        write(good(0.0f), zero);
        write(good(0.02f), real);
        llm4all_model *base = nullptr, *mz = nullptr, *mr = nullptr, *old = nullptr;
        check(load(model, {}, &base, nullptr) == LLM4ALL_OK, "base loads");
        check(load(model, {{zero.c_str(), 1.0f}}, &mz, nullptr) == LLM4ALL_OK, "zero adapter loads");
        check(load(model, {{real.c_str(), 1.0f}, {zero.c_str(), 2.0f}}, &mr, nullptr) == LLM4ALL_OK,
              "two adapters load");
        check(load(model, {{real.c_str(), 1.0f}}, &old, nullptr, uint32_t(offsetof(llm4all_model_options, lora))) ==
                  LLM4ALL_OK,
              "an older, shorter options struct loads");
        const std::vector<float> lb = logits(base), lz = logits(mz), lr = logits(mr), lo = logits(old);
        check(!lb.empty() && lb == lz, "a zero update leaves the logits bit-identical");
        check(lb == lo, "the shorter options struct applied no adapter");
        double diff = 0;
        for (size_t i = 0; i < lb.size() && i < lr.size(); ++i) diff = std::max(diff, double(std::abs(lb[i] - lr[i])));
        check(lr.size() == lb.size() && diff > 1e-3, "a real adapter changes the logits (max diff " + std::to_string(diff) + ")");
        for (llm4all_model *m : {base, mz, mr, old}) llm4all_model_free(m);
        std::remove(zero.c_str());
        std::remove(real.c_str());
    }
    std::remove((dir + "/bad.gguf").c_str());
    rmdir(dir.c_str());
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
