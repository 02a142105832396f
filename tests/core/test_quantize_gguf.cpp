// test_quantize_gguf.cpp — llm4all_quantize on real and malformed files, also
// under AddressSanitizer (run.sh's ASan subset matches "gguf"): stories260K (F32)
// to several mixes keeps every key and tensor, values stay close to the
// originals; every malformed input, a cancel and IN == OUT fail with a clear
// error and leave no file behind. Identity with llama.cpp's own quantizer is
// tests/python/test_quantize.py's job.
// test-sources: core/src/gguf.cpp
// test-fixtures: bad_gguf

#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "gguf.h"
#include "llm4all/llm4all.h"

using llm4all::GgufFile;

namespace {

bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

std::vector<std::string> list_dir(const std::string &dir) {
    std::vector<std::string> out;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d))
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
        closedir(d);
    }
    return out;
}

llm4all_status quantize(const std::string &in, const std::string &out, const char *type,
                        llm4all_on_progress cb = nullptr) {
    llm4all_quantize_options o;
    llm4all_quantize_options_init(&o);
    o.type = type;
    o.n_threads = 2;
    o.on_progress = cb;
    return llm4all_quantize(in.c_str(), out.c_str(), &o);
}

std::vector<float> read_f32(const std::string &path, const std::string &name) {
    float *v = nullptr;
    uint64_t n = 0;
    if (llm4all_gguf_read_tensor_f32(path.c_str(), name.c_str(), &v, &n) != LLM4ALL_OK) return {};
    std::vector<float> out(v, v + n);
    llm4all_free(v);
    return out;
}

// Every key kept (file_type/quantization_version set), every tensor kept with
// its shape, quantized weights within a loose bound of the F32 originals.
void test_stories(const std::string &stories, const std::string &dir) {
    const std::unique_ptr<GgufFile> in = GgufFile::open(stories, true);
    for (const char *type : {"Q8_0", "Q4_K_M", "Q6_K", "IQ4_NL"}) {
        const std::string out = dir + "/stories." + type + ".gguf";
        const llm4all_status st = quantize(stories, out, type);
        check(st == LLM4ALL_OK, std::string("quantize stories260K to ") + type + ": " + llm4all_last_error());
        if (st != LLM4ALL_OK) continue;
        const std::unique_ptr<GgufFile> q = GgufFile::open(out, true);
        for (const auto &kv : in->metadata())
            if (kv.first != "general.file_type")
                check(q->find(kv.first) != nullptr, std::string(type) + " keeps key " + kv.first);
        check(q->get_int("general.quantization_version") == 2, std::string(type) + " quantization_version 2");
        check(q->tensors().size() == in->tensors().size(), std::string(type) + " keeps every tensor");
        int quantized = 0;
        for (const llm4all::GgufTensorInfo &t : in->tensors()) {
            const llm4all::GgufTensorInfo *u = q->find_tensor(t.name);
            check(u && std::memcmp(u->ne, t.ne, sizeof(t.ne)) == 0, std::string(type) + " keeps shape of " + t.name);
            if (!u || u->type == t.type) continue;
            ++quantized;
            const std::vector<float> a = read_f32(stories, t.name), b = read_f32(out, t.name);
            double err = 0, norm = 0;
            for (size_t i = 0; i < a.size() && a.size() == b.size(); ++i) {
                err += (a[i] - b[i]) * (a[i] - b[i]);
                norm += a[i] * a[i];
            }
            // 4-bit types on 64-wide rows: relative RMS error about 0.1; a wrong layout gives ~1.
            check(a.size() == b.size() && std::sqrt(err / norm) < 0.25,
                  std::string(type) + " " + t.name + " relative error " + std::to_string(std::sqrt(err / norm)));
        }
        check(quantized > 0, std::string(type) + " quantized some tensors");
        std::remove(out.c_str());
    }
}

bool stop_now(uint64_t, uint64_t, const char *, void *) { return false; }

void test_failures(const std::string &stories, const std::string &bad_dir, const std::string &dir) {
    const std::string out = dir + "/out.gguf";
    check(quantize(stories, out, "Q4_K_X") == LLM4ALL_ERR_INVALID_ARGUMENT &&
              contains(llm4all_last_error(), "Q4_K_M"),
          std::string("unknown type lists the types: ") + llm4all_last_error());
    check(quantize(stories, out, "Q8_0", &stop_now) == LLM4ALL_ERR_CANCELLED, "cancel gives LLM4ALL_ERR_CANCELLED");
    check(quantize(stories, stories, "Q8_0") == LLM4ALL_ERR_INVALID_ARGUMENT &&
              contains(llm4all_last_error(), "is the input file"),
          std::string("IN == OUT refused: ") + llm4all_last_error());
    check(quantize(dir + "/absent.gguf", out, "Q8_0") == LLM4ALL_ERR_IO, "missing input is an IO error");
    check(quantize(stories, dir + "/no/such/dir/out.gguf", "Q8_0") == LLM4ALL_ERR_IO &&
              contains(llm4all_last_error(), "no/such/dir/out.gguf"),
          std::string("unwritable output named: ") + llm4all_last_error());
    if (bad_dir.empty()) {
        std::printf("SKIP malformed corpus: set LLM4ALL_BAD_GGUF_DIR\n");
        return;
    }
    int n = 0;
    for (const std::string &name : list_dir(bad_dir)) {
        if (name.compare(0, 5, "valid") == 0) continue;
        const llm4all_status st = quantize(bad_dir + "/" + name, out, "Q8_0");
        check(st == LLM4ALL_ERR_BAD_GGUF && contains(llm4all_last_error(), name),
              name + " is refused naming the file: " + llm4all_last_error());
        ++n;
    }
    check(n > 50, "the corpus has malformed files");
    check(list_dir(dir).empty(), "no file left behind by the failures");
}

} // namespace

int main() {
    llm4all_set_log_callback(nullptr, nullptr);
    const char *td = std::getenv("LLM4ALL_TESTDATA");
    const char *bad = std::getenv("LLM4ALL_BAD_GGUF_DIR");
    const char *tmp = std::getenv("TMPDIR");
    std::string dir_template = std::string(tmp ? tmp : "/tmp") + "/llm4all_quantize_XXXXXX";
    if (!mkdtemp(&dir_template[0])) {
        std::printf("cannot create a temporary directory\n");
        return 1;
    }
    const std::string dir = dir_template;
    const std::string stories = td ? std::string(td) + "/models/stories260K.gguf" : "";
    try {
        if (!td || access(stories.c_str(), R_OK) != 0) {
            std::printf("SKIP: stories260K.gguf not found (set LLM4ALL_TESTDATA)\n");
        } else {
            test_stories(stories, dir);
            test_failures(stories, bad ? bad : "", dir);
        }
    } catch (const std::exception &e) {
        check(false, std::string("unexpected exception: ") + e.what());
    }
    rmdir(dir.c_str());
    std::printf("test_quantize_gguf: %d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
