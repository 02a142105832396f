// test_hparams.cpp — loading validates the model, not only the file: copies of the
// real stories260K model, rewritten with one nonsense hyper-parameter or tensor each
// (core/src/gguf_writer), must be refused by llm4all_model_load and by the header
// check behind `llm4all info` (llm4all_gguf_check_model) with BAD_GGUF and a
// message naming the key and its value; the untouched copy must load.
// test-sources: core/src/gguf.cpp core/src/gguf_writer.cpp

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "error.h"
#include "gguf.h"
#include "gguf_writer.h"
#include "llm4all/llm4all.h"

#include "check.h"

using llm4all::GgufFile;
using llm4all::GgufOutTensor;
using llm4all::GgufType;
using llm4all::GgufValue;
using llm4all::GgufWriter;

namespace {

using Meta = std::vector<std::pair<std::string, GgufValue>>;

struct Edit {
    std::string name;
    std::function<void(Meta &, std::vector<GgufOutTensor> &)> apply;
    std::vector<std::string> message_parts;   // all must appear in the error
};

GgufValue u32(uint64_t v) {
    GgufValue x;
    x.type = GgufType::UINT32;
    x.u64 = v;
    x.i64 = int64_t(v);
    return x;
}

void set_key(Meta &m, const std::string &key, const GgufValue &v) {
    for (auto &kv : m)
        if (kv.first == key) { kv.second = v; return; }
    m.emplace_back(key, v);
}

void drop_key(Meta &m, const std::string &key) {
    for (size_t i = 0; i < m.size(); ++i)
        if (m[i].first == key) { m.erase(m.begin() + long(i)); return; }
}

GgufOutTensor *find(std::vector<GgufOutTensor> &ts, const std::string &name) {
    for (auto &t : ts)
        if (t.name == name) return &t;
    return nullptr;
}

// Writes the source file's metadata and tensors, edited, to path. Tensor data is
// copied for every tensor whose size is unchanged and zero-filled otherwise.
void write_edited(const GgufFile &src, const Edit &e, const std::string &path) {
    Meta meta = src.metadata();
    drop_key(meta, "general.alignment");
    std::vector<GgufOutTensor> ts;
    for (const auto &t : src.tensors()) {
        GgufOutTensor o;
        o.name = t.name;
        o.n_dims = t.n_dims;
        for (int i = 0; i < 4; ++i) o.ne[i] = t.ne[i];
        o.type = t.type;
        o.size = t.size;
        ts.push_back(o);
    }
    e.apply(meta, ts);
    for (auto &o : ts)   // F32 only in stories260K: the size follows the shape
        o.size = uint64_t(o.ne[0] * o.ne[1] * o.ne[2] * o.ne[3]) * 4;
    GgufWriter w(path, 32);
    w.write_header(meta, ts);
    for (auto &o : ts) {
        const llm4all::GgufTensorInfo *t = src.find_tensor(o.name);
        if (t && t->size == o.size) {
            w.write_tensor(src.tensor_data(*t), o.size);
        } else {
            std::vector<uint8_t> zero(o.size);
            w.write_tensor(zero.data(), o.size);
        }
    }
    w.commit();
}

bool has_all(const std::string &s, const std::vector<std::string> &parts) {
    for (const auto &p : parts)
        if (s.find(p) == std::string::npos) return false;
    return true;
}

} // namespace

int main() {
    const std::string model = testdata_file("models/stories260K.gguf");
    if (model.empty()) return 0;
    std::unique_ptr<GgufFile> src = GgufFile::open(model, true);
    char dir_tmpl[] = "/tmp/llm4all_hparams_XXXXXX";
    const std::string dir = mkdtemp(dir_tmpl);

    auto key = [](const std::string &k, uint64_t v) {
        return [k, v](Meta &m, std::vector<GgufOutTensor> &) { set_key(m, k, u32(v)); };
    };
    auto shape = [](const std::string &name, int64_t ne0, int64_t ne1) {
        return [name, ne0, ne1](Meta &, std::vector<GgufOutTensor> &ts) {
            GgufOutTensor *t = find(ts, name);
            t->ne[0] = ne0;
            t->ne[1] = ne1;
        };
    };
    auto rename = [](const std::string &from, const std::string &to) {
        return [from, to](Meta &, std::vector<GgufOutTensor> &ts) { find(ts, from)->name = to; };
    };
    const std::vector<Edit> edits = {
        {"block_count_0", key("llama.block_count", 0), {"'llama.block_count' = 0", "out of range"}},
        {"block_count_9999", key("llama.block_count", 9999), {"'llama.block_count' = 9999"}},
        {"block_count_6", key("llama.block_count", 6), {"'llama.block_count' = 6", "5 layers"}},
        {"block_count_4", key("llama.block_count", 4), {"'llama.block_count' = 4", "5 layers"}},
        {"head_count_0", key("llama.attention.head_count", 0), {"'llama.attention.head_count' = 0"}},
        {"head_count_huge", key("llama.attention.head_count", 4000000000u), {"'llama.attention.head_count' = 4000000000"}},
        {"head_count_kv_0", key("llama.attention.head_count_kv", 0), {"'llama.attention.head_count_kv' = 0"}},
        {"head_count_kv_not_divisor", key("llama.attention.head_count_kv", 3),
         {"'llama.attention.head_count' = 8", "'llama.attention.head_count_kv' = 3"}},
        {"head_count_kv_above_heads", key("llama.attention.head_count_kv", 16), {"'llama.attention.head_count_kv' = 16"}},
        // 4 heads of 64/4 = 16: attn_k should then be [64, 64], the file has [64, 32].
        {"head_count_vs_attn_k", key("llama.attention.head_count", 4), {"blk.0.attn_k.weight", "head_count_kv' 4"}},
        {"key_length_vs_attn_q", key("llama.attention.key_length", 16), {"blk.0.attn_q.weight", "head size 16"}},
        {"embedding_length_0", key("llama.embedding_length", 0), {"'llama.embedding_length' = 0"}},
        {"embedding_length_huge", key("llama.embedding_length", 0xFFFFFFFFu), {"'llama.embedding_length' = 4294967295"}},
        {"embedding_length_vs_tensors", key("llama.embedding_length", 128), {"token_embd.weight", "embedding_length' 128"}},
        {"feed_forward_length_0", key("llama.feed_forward_length", 0), {"'llama.feed_forward_length' = 0"}},
        {"feed_forward_length_vs_ffn", key("llama.feed_forward_length", 100), {"ffn_down.weight", "feed_forward_length' 100"}},
        {"context_length_0", key("llama.context_length", 0), {"'llama.context_length' = 0"}},
        {"context_length_absurd", key("llama.context_length", 0xFFFFFFFFu), {"'llama.context_length' = 4294967295"}},
        {"rope_dims_odd", key("llama.rope.dimension_count", 7), {"'llama.rope.dimension_count' = 7"}},
        {"rope_dims_above_head", key("llama.rope.dimension_count", 16), {"'llama.rope.dimension_count' = 16"}},
        {"missing_block_count", [](Meta &m, std::vector<GgufOutTensor> &) { drop_key(m, "llama.block_count"); },
         {"'llama.block_count' is missing"}},
        {"vocab_vs_output", shape("output.weight", 64, 511), {"output.weight", "vocabulary size 512"}},
        {"vocab_vs_token_embd", shape("token_embd.weight", 64, 600), {"token_embd.weight", "vocabulary size 512"}},
        {"missing_token_embd", rename("token_embd.weight", "token_embx.weight"), {"'token_embd.weight' is missing"}},
        {"attn_q_shape", shape("blk.4.attn_q.weight", 64, 60), {"blk.4.attn_q.weight", "[64, 60]"}},
    };

    int n_checked = 0;
    for (const Edit &e : edits) {
        const std::string path = dir + "/" + e.name + ".gguf";
        write_edited(*src, e, path);
        llm4all_status st = llm4all_gguf_check_model(path.c_str());
        std::string msg = st ? llm4all_last_error() : "";
        check(st == LLM4ALL_ERR_BAD_GGUF && has_all(msg, e.message_parts),
              e.name + ": gguf_check_model gave " + std::to_string(st) + " '" + msg + "'");
        llm4all_model *m = nullptr;
        st = llm4all_model_load(path.c_str(), nullptr, &m);
        msg = st ? llm4all_last_error() : "";
        check(st == LLM4ALL_ERR_BAD_GGUF && has_all(msg, e.message_parts) && msg.find(path) != std::string::npos && !m,
              e.name + ": model_load gave " + std::to_string(st) + " '" + msg + "'");
        llm4all_model_free(m);
        std::remove(path.c_str());
        ++n_checked;
    }

    // The writer round trip itself is faithful: an unedited copy loads and checks.
    const std::string same = dir + "/unchanged.gguf";
    write_edited(*src, Edit{"unchanged", [](Meta &, std::vector<GgufOutTensor> &) {}, {}}, same);
    check(llm4all_gguf_check_model(same.c_str()) == LLM4ALL_OK, std::string("unchanged copy: ") + llm4all_last_error());
    llm4all_model *m = nullptr;
    check(llm4all_model_load(same.c_str(), nullptr, &m) == LLM4ALL_OK && m,
          std::string("unchanged copy loads: ") + llm4all_last_error());
    llm4all_model_free(m);
    std::remove(same.c_str());
    // An architecture the library does not know is UNSUPPORTED, not BAD_GGUF.
    const std::string other = dir + "/unknown_arch.gguf";
    write_edited(*src, Edit{"unknown", [](Meta &mm, std::vector<GgufOutTensor> &) {
        GgufValue s; s.type = GgufType::STRING; s.str = "nonesuch"; set_key(mm, "general.architecture", s); }, {}}, other);
    check(llm4all_gguf_check_model(other.c_str()) == LLM4ALL_ERR_UNSUPPORTED, "unknown architecture is UNSUPPORTED");
    std::remove(other.c_str());
    rmdir(dir.c_str());

    std::printf("%d edited models checked; %d passed, %d failed\n", n_checked, g_pass, g_fail);
    return g_fail ? 1 : 0;
}
