// fuzz_gguf.cpp — the whole GGUF reader on arbitrary bytes: open (mapped and read
// into memory), every typed getter the loaders use, the JSON description, each
// tensor's data view, the model header check (hparams) and a tokenizer built from
// the file's metadata. Anything but a clean llm4all::Error is a finding.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz_common.h"
#include "gguf.h"
#include "hparams.h"
#include "vocab.h"

using namespace llm4all;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz::MemFile file(data, size);
    // The last byte picks the read path (mapped or copied) so one corpus covers both.
    const bool mmap = size == 0 || (data[size - 1] & 1) == 0;
    std::unique_ptr<GgufFile> f;
    fuzz::expect_clean([&] { f = GgufFile::open(file.path(), mmap); });
    if (!f) return 0;
    fuzz::expect_clean([&] { (void)f->to_json(0); });
    fuzz::expect_clean([&] { (void)f->to_json(4); });
    for (const GgufTensorInfo &t : f->tensors()) {
        const uint8_t *p = f->tensor_data(t);
        // Touch the first and last byte the reader vouched for.
        if (t.size) {
            volatile uint8_t x = p[0];
            x = p[t.size - 1];
            (void)x;
        }
    }
    for (const auto &kv : f->metadata()) {
        fuzz::expect_clean([&] { (void)f->get_string(kv.first); });
        fuzz::expect_clean([&] { (void)f->get_int(kv.first); });
        fuzz::expect_clean([&] { (void)f->get_float(kv.first, 0.0); });
        fuzz::expect_clean([&] { (void)f->get_bool(kv.first, false); });
        fuzz::expect_clean([&] { (void)f->get_string_array(kv.first); });
        fuzz::expect_clean([&] { (void)f->get_float_array(kv.first); });
        fuzz::expect_clean([&] { (void)f->get_int_array(kv.first); });
    }
    fuzz::expect_clean([&] { (void)read_hparams(*f); });
    fuzz::expect_clean([&] {
        Vocab v(*f);
        // A vocabulary that loaded must tokenize and detokenize without trouble.
        std::vector<int32_t> ids = v.tokenize("Hello world <s> </s> 123 \xe4\xbd\xa0\xe5\xa5\xbd", true, true);
        (void)v.detokenize(ids, true);
        for (int32_t id = 0; id < v.n_tokens() && id < 64; ++id) (void)v.token_to_piece(id, true);
    });
    return 0;
}
