// tokenizer_target.h — the body shared by the tokenizer fuzz targets (one per
// vocabulary type, each over real vocabularies from shared/testdata/vocab). The
// first input byte chooses the vocabulary and the modes (add_special, parse_special,
// render_special); the rest is the text, and also read as token ids to detokenize.
// Checked beyond "no crash": every id produced lies inside the vocabulary.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "gguf.h"
#include "vocab.h"

namespace fuzz {

inline std::vector<std::unique_ptr<llm4all::Vocab>> load_vocabs(std::initializer_list<const char *> names) {
    std::vector<std::unique_ptr<llm4all::Vocab>> out;
    for (const char *name : names) {
        const std::string path = testdata() + "/vocab/" + name;
        try {
            auto f = llm4all::GgufFile::open(path, true);
            out.push_back(std::make_unique<llm4all::Vocab>(*f));
        } catch (const std::exception &e) {
            std::fprintf(stderr, "tokenizer fuzz target: cannot load %s: %s\n", path.c_str(), e.what());
            std::abort();
        }
    }
    return out;
}

inline int tokenizer_one_input(const std::vector<std::unique_ptr<llm4all::Vocab>> &vocabs, const uint8_t *data,
                               size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    const llm4all::Vocab &v = *vocabs[(mode >> 3) % vocabs.size()];
    const bool add_special = mode & 1, parse_special = mode & 2, render_special = mode & 4;
    const std::string_view text(reinterpret_cast<const char *>(data + 1), size - 1);
    const int32_t n = v.n_tokens();
    expect_clean([&] {
        std::vector<int32_t> ids = v.tokenize(text, add_special, parse_special);
        for (int32_t id : ids)
            if (id < 0 || id >= n) {
                std::fprintf(stderr, "token id %d outside the vocabulary of %d\n", id, n);
                std::abort();
            }
        (void)v.detokenize(ids, render_special);
        for (int32_t id : ids) (void)v.token_to_piece(id, render_special);
    });
    // The same bytes as token ids, some out of range on purpose.
    std::vector<int32_t> ids((size - 1) / 4);
    if (!ids.empty()) std::memcpy(ids.data(), data + 1, ids.size() * 4);
    for (int32_t &id : ids) id = id % (n + 8);
    expect_clean([&] { (void)v.detokenize(ids, render_special); });
    return 0;
}

} // namespace fuzz
