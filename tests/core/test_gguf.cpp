// test_gguf.cpp — the GGUF reader: facts of a real file (stories260K), typed
// getters and JSON output on a small valid file, and the malformed-file corpus
// through the C ABI: every bad file must give an error naming it, never a crash.
// Usage: test_gguf [--bad-dir DIR] [--no-model-load] [--verbose]
// test-sources: core/src/gguf.cpp
// test-fixtures: bad_gguf

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "error.h"
#include "gguf.h"
#include "json_check.h"
#include "llm4all/backend.h"
#include "llm4all/llm4all.h"

#include "check.h"

// model_load belongs to another part of the engine; referenced weakly so this
// test still links (and says it skipped) in a build that lacks it.
#pragma weak llm4all_model_load
#pragma weak llm4all_model_free

using llm4all::GgufFile;
using llm4all::GgufType;

namespace {

bool g_verbose = false;


bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

// Runs f, expecting an llm4all::Error with the status whose message contains every part.
void expect_error(const std::function<void()> &f, llm4all_status status, const std::vector<std::string> &parts,
                  const std::string &what) {
    try {
        f();
        check(false, what + ": no error thrown");
    } catch (const llm4all::Error &e) {
        bool ok = e.status() == status;
        for (const std::string &p : parts) ok = ok && contains(e.what(), p);
        check(ok, what + ": got status " + std::to_string(e.status()) + " '" + e.what() + "'");
    }
}

std::string describe(const std::string &path, uint64_t max_array, llm4all_status *status) {
    char *json = nullptr;
    *status = llm4all_gguf_describe(path.c_str(), max_array, &json);
    std::string out = json ? json : "";
    llm4all_free(json);
    return out;
}

void test_stories(const std::string &testdata) {
    const std::string path = testdata + "/models/stories260K.gguf";
    if (FILE *fp = std::fopen(path.c_str(), "rb")) {
        std::fclose(fp);
    } else {
        std::printf("SKIP stories260K checks: %s not found (set LLM4ALL_TESTDATA)\n", path.c_str());
        return;
    }
    for (bool mmap : {true, false}) {
        const std::string tag = mmap ? "stories260K (mmap): " : "stories260K (read): ";
        std::unique_ptr<GgufFile> f = GgufFile::open(path, mmap);
        check(f->version() == 3, tag + "version 3");
        check(f->alignment() == 32, tag + "alignment 32");
        check(f->metadata().size() == 19, tag + "19 metadata keys");
        check(f->get_string("general.architecture") == "llama", tag + "architecture llama");
        check(f->get_int("llama.block_count") == 5, tag + "5 layers");
        check(f->get_int("llama.embedding_length") == 64, tag + "n_embd 64");
        check(f->get_int("llama.attention.head_count_kv", 0) == 4, tag + "4 kv heads");
        check(f->get_int("tokenizer.ggml.padding_token_id") == 0xFFFFFFFFll, tag + "pad id as uint32");
        check(std::fabs(f->get_float("llama.attention.layer_norm_rms_epsilon", 0) - 1e-5) < 1e-9, tag + "rms eps");
        check(f->get_float("llama.rope.freq_base", 10000.0) == 10000.0, tag + "absent key gives fallback");
        check(f->tensors().size() == 48, tag + "48 tensors");
        check(f->get_string_array("tokenizer.ggml.tokens").size() == 512, tag + "512 tokens");
        check(f->get_float_array("tokenizer.ggml.scores").size() == 512, tag + "512 scores");
        check(f->get_int_array("tokenizer.ggml.token_type").size() == 512, tag + "512 token types");
        const llm4all::GgufTensorInfo *emb = f->find_tensor("token_embd.weight");
        check(emb && emb->ne[0] == 64 && emb->ne[1] == 512 && emb->type == LLM4ALL_TYPE_F32 &&
                  emb->size == 64 * 512 * 4 && emb->n_dims == 2,
              tag + "token_embd.weight is F32 [64, 512]");
        check(!f->find_tensor("no.such.tensor"), tag + "unknown tensor is null");
        expect_error([&] { f->get_int("llama.no_such_key"); }, LLM4ALL_ERR_BAD_GGUF,
                     {"llama.no_such_key", "stories260K.gguf"}, tag + "missing key");
        expect_error([&] { f->get_string("llama.block_count"); }, LLM4ALL_ERR_BAD_GGUF,
                     {"llama.block_count", "UINT32", "STRING"}, tag + "wrong type names both types");
        expect_error([&] { f->get_string_array("tokenizer.ggml.scores"); }, LLM4ALL_ERR_BAD_GGUF,
                     {"tokenizer.ggml.scores", "FLOAT32"}, tag + "wrong array element type");
        expect_error([&] { f->get_int("general.architecture"); }, LLM4ALL_ERR_BAD_GGUF,
                     {"general.architecture", "STRING"}, tag + "string is not an int");
    }

    // The C ABI description.
    llm4all_status st;
    std::string j = describe(path, 16, &st);
    check(st == LLM4ALL_OK, "describe stories260K: " + std::string(llm4all_last_error()));
    check(json_check::valid(j), "describe stories260K gives valid JSON");
    check(contains(j, "\"version\":3"), "JSON version");
    check(contains(j, "\"general.architecture\":\"llama\""), "JSON architecture");
    check(contains(j, "\"llama.block_count\":5"), "JSON block count");
    check(contains(j, "\"tokenizer.ggml.tokens\":{\"type\":\"STRING\",\"length\":512}"), "JSON abbreviates arrays");
    check(contains(j, "{\"name\":\"token_embd.weight\",\"type\":\"F32\",\"shape\":[64,512],\"offset\":0,"
                      "\"size\":131072}"),
          "JSON tensor entry");
    std::string full = describe(path, 0, &st);
    check(st == LLM4ALL_OK && json_check::valid(full) && contains(full, "\"tokenizer.ggml.tokens\":[\""),
          "describe with no array limit gives the full arrays as valid JSON");

    // Reading a tensor back (needs the CPU backend plugin).
    float *vals = nullptr;
    uint64_t n = 0;
    st = llm4all_gguf_read_tensor_f32(path.c_str(), "output_norm.weight", &vals, &n);
    if (st == LLM4ALL_ERR_BACKEND) {
        std::printf("SKIP read_tensor_f32: no CPU backend plugin (%s)\n", llm4all_last_error());
    } else {
        std::unique_ptr<GgufFile> f = GgufFile::open(path);
        const llm4all::GgufTensorInfo *t = f->find_tensor("output_norm.weight");
        check(st == LLM4ALL_OK && n == 64 && t && std::memcmp(vals, f->tensor_data(*t), 64 * 4) == 0,
              "read_tensor_f32 output_norm.weight equals the file's floats: " + std::string(llm4all_last_error()));
    }
    llm4all_free(vals);
    vals = nullptr;
    st = llm4all_gguf_read_tensor_f32(path.c_str(), "nope", &vals, &n);
    check(st == LLM4ALL_ERR_INVALID_ARGUMENT && contains(llm4all_last_error(), "nope") && !vals,
          "read_tensor_f32 of an unknown tensor names it");
}

void test_missing_file() {
    llm4all_status st;
    std::string j = describe("/nonexistent/dir/model.gguf", 0, &st);
    check(st == LLM4ALL_ERR_IO && contains(llm4all_last_error(), "/nonexistent/dir/model.gguf") &&
              contains(llm4all_last_error(), "No such file"),
          std::string("missing file gives IO naming path and reason: ") + llm4all_last_error());
    check(llm4all_gguf_describe(nullptr, 0, nullptr) == LLM4ALL_ERR_INVALID_ARGUMENT, "NULL path refused");
    j = describe("/", 0, &st);
    check(st == LLM4ALL_ERR_IO, std::string("a directory gives IO: ") + llm4all_last_error());
}

// The small valid file of the corpus holds every value type and a nested array.
void test_valid_base(const std::string &path) {
    std::unique_ptr<GgufFile> f = GgufFile::open(path);
    check(f->get_int("test.u8") == 200 && f->get_int("test.i8") == -100 && f->get_int("test.u16") == 60000 &&
              f->get_int("test.i16") == -30000 && f->get_int("test.u32") == 4000000000ll &&
              f->get_int("test.i32") == -2000000000 && f->get_int("test.i64") == INT64_MIN,
          "valid.gguf integer values");
    check(f->get_float("test.f32", 0) == 0.25 && f->get_float("test.f64", 0) == 3.141592653589793 &&
              f->get_float("test.u8", 0) == 200.0 && f->get_bool("test.bool", false),
          "valid.gguf float and bool values");
    expect_error([&] { f->get_int("test.u64"); }, LLM4ALL_ERR_BAD_GGUF, {"test.u64", "out of range"},
                 "uint64 above int64 max is refused by get_int");
    expect_error([&] { f->get_bool("test.u8", false); }, LLM4ALL_ERR_BAD_GGUF, {"test.u8", "UINT8", "BOOL"},
                 "get_bool on an integer");
    const llm4all::GgufValue *nested = f->find("test.nested");
    check(nested && nested->type == GgufType::ARRAY && nested->elem_type == GgufType::ARRAY &&
              nested->size() == 3 && nested->items[0].size() == 2 && nested->items[2].size() == 0,
          "nested array structure");
    {
        std::vector<int64_t> inner;   // packed elements of the inner array, decoded
        nested->items[0].each([&](size_t, const llm4all::GgufValue &v) { inner.push_back(v.i64); });
        check(inner == std::vector<int64_t>{1, 2}, "nested array elements");
    }
    std::vector<std::string> strs = f->get_string_array("test.strings");
    check(strs.size() == 3 && strs[2] == "ccc", "string array");
    std::string j = f->to_json(0);
    check(json_check::valid(j), "valid.gguf JSON is valid: " + j);
    check(contains(j, "\"test.text\":\"quote \\\" backslash \\\\ newline \\n tab \\t caf\xc3\xa9\""),
          "string escaping in JSON");
    check(contains(j, "\"test.nested\":[[1,2],[3],[]]"), "nested array JSON");
    check(contains(j, "\"test.f32\":0.25") && contains(j, "\"test.u64\":18446744073709551615") &&
              contains(j, "\"test.i64\":-9223372036854775808") && contains(j, "\"test.f64\":3.141592653589793"),
          "number formatting in JSON");
    check(contains(f->to_json(2), "\"test.strings\":{\"type\":\"STRING\",\"length\":3}"), "max_array abbreviation");

    // Q8_0 rows dequantized through the CPU backend: fill byte 0x3C gives scale
    // fp16 0x3C3C = 1.05859375 and quants 60.
    float *vals = nullptr;
    uint64_t n = 0;
    llm4all_status st = llm4all_gguf_read_tensor_f32(path.c_str(), "b.weight", &vals, &n);
    if (st == LLM4ALL_ERR_BACKEND) {
        std::printf("SKIP Q8_0 read: no CPU backend plugin\n");
    } else {
        bool ok = st == LLM4ALL_OK && n == 64;
        for (uint64_t i = 0; ok && i < n; ++i) ok = vals[i] == 1.05859375f * 60.0f;
        check(ok, "read_tensor_f32 of a Q8_0 tensor: " + std::string(llm4all_last_error()));
    }
    llm4all_free(vals);
}

std::vector<std::string> list_gguf(const std::string &dir) {
    std::vector<std::string> names;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d)) {
            std::string name = e->d_name;
            if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) names.push_back(name);
        }
        closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
}

void test_corpus(const std::string &dir, bool model_load) {
    std::vector<std::string> names = list_gguf(dir);
    check(names.size() >= 40, "corpus in " + dir + " has at least 40 files (has " + std::to_string(names.size()) + ")");
    if (model_load && !&llm4all_model_load) {
        std::printf("SKIP model_load on the corpus: llm4all_model_load is not linked in this build\n");
        model_load = false;
    }
    for (const std::string &name : names) {
        const std::string path = dir + "/" + name;
        llm4all_status st;
        std::string j = describe(path, 0, &st);
        std::string err = llm4all_last_error();
        if (name.rfind("valid", 0) == 0) {
            check(st == LLM4ALL_OK && json_check::valid(j), name + " describes OK: " + err);
            if (name == "valid.gguf") test_valid_base(path);
            continue;
        }
        if (g_verbose) std::printf("%-48s %s\n", name.c_str(), err.c_str());
        check(st == LLM4ALL_ERR_BAD_GGUF && j.empty() && contains(err, name),
              name + ": describe gives BAD_GGUF naming the file (status " + std::to_string(st) + ", '" + err + "')");
        // The read-everything path must agree with the mmap path.
        try {
            GgufFile::open(path, false);
            check(false, name + ": open without mmap accepted it");
        } catch (const llm4all::Error &e) {
            check(e.status() == LLM4ALL_ERR_BAD_GGUF && std::string(e.what()) == err,
                  name + ": open without mmap gives the same error: " + e.what());
        }
        float *vals = nullptr;
        uint64_t n = 0;
        st = llm4all_gguf_read_tensor_f32(path.c_str(), "a.weight", &vals, &n);
        check(st < 0 && !vals && contains(llm4all_last_error(), name), name + ": read_tensor_f32 fails naming it");
        if (model_load) {
            llm4all_model *m = nullptr;
            st = llm4all_model_load(path.c_str(), nullptr, &m);
            err = llm4all_last_error();
            check(st < 0 && !m && !err.empty() && contains(err, name),
                  name + ": model_load fails naming the file (status " + std::to_string(st) + ", '" + err + "')");
            if (m) llm4all_model_free(m);
        }
    }
}

// A tensor type that GGUF defines but this engine cannot read is UNSUPPORTED,
// not BAD_GGUF: valid.gguf with b.weight's type id set to IQ2_XXS (16).
void test_unsupported_type(const std::string &dir) {
    std::vector<char> good, bad;
    auto slurp = [](const std::string &p, std::vector<char> &out) {
        FILE *f = std::fopen(p.c_str(), "rb");
        if (!f) return false;
        int c;
        while ((c = std::fgetc(f)) != EOF) out.push_back(static_cast<char>(c));
        std::fclose(f);
        return true;
    };
    if (!slurp(dir + "/valid.gguf", good) || !slurp(dir + "/bad_tensor_type.gguf", bad) || good.size() != bad.size()) {
        check(false, "valid.gguf and bad_tensor_type.gguf present and the same size");
        return;
    }
    size_t at = 0;
    while (at < good.size() && good[at] == bad[at]) ++at;   // the type field (99 vs 8)
    good[at] = 16;
    const char *tmpdir = std::getenv("TMPDIR");
    std::string path = std::string(tmpdir ? tmpdir : "/tmp") + "/llm4all_test_iq2.gguf";
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f) {
        check(false, "cannot write " + path);
        return;
    }
    std::fwrite(good.data(), 1, good.size(), f);
    std::fclose(f);
    llm4all_status st;
    describe(path, 0, &st);
    check(st == LLM4ALL_ERR_UNSUPPORTED && contains(llm4all_last_error(), "IQ2_XXS") &&
              contains(llm4all_last_error(), "b.weight"),
          std::string("IQ2_XXS tensor is UNSUPPORTED: ") + llm4all_last_error());
    std::remove(path.c_str());
}

} // namespace

int main(int argc, char **argv) {
    std::string bad_dir;
    bool model_load = true;
    if (const char *e = std::getenv("LLM4ALL_BAD_GGUF_DIR")) bad_dir = e;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--bad-dir" && i + 1 < argc) bad_dir = argv[++i];
        else if (a == "--no-model-load") model_load = false;
        else if (a == "--verbose") g_verbose = true;
        else {
            std::fprintf(stderr, "usage: %s [--bad-dir DIR] [--no-model-load] [--verbose]\n", argv[0]);
            return 2;
        }
    }
    llm4all_set_log_callback(nullptr, nullptr);
    const char *td = std::getenv("LLM4ALL_TESTDATA");
    try {
        if (td) test_stories(td);
        else std::printf("SKIP stories260K checks: LLM4ALL_TESTDATA is not set\n");
        test_missing_file();
        if (!bad_dir.empty()) {
            test_corpus(bad_dir, model_load);
            test_unsupported_type(bad_dir);
        } else std::printf("SKIP malformed corpus: set LLM4ALL_BAD_GGUF_DIR or pass --bad-dir\n");
    } catch (const std::exception &e) {
        check(false, std::string("unexpected exception: ") + e.what());
    }
    std::printf("test_gguf: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
