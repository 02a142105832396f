// test_vocab_fuzz.cpp — the tokenizer never crashes or hangs on hostile input: random
// bytes, invalid UTF-8, random code points mixed with special-token text, every single
// byte 0x00-0xFF, and 1 MB strings of one character, for SPM, BPE and WordPiece
// vocabularies. Invalid UTF-8 must be a BAD_UTF8 error; valid text must tokenize,
// detokenize and give pieces for every id. LLM4ALL_FUZZ_ITERS sets inputs per vocabulary,
// LLM4ALL_FUZZ_BIG_KB the size of the long strings.
// test-fixtures: hf_vocab
// test-sources: core/src/vocab.cpp core/src/vocab_special.cpp core/src/spm.cpp core/src/bpe.cpp core/src/pretokenize.cpp core/src/unicode.cpp core/src/unicode_tables.cpp core/src/wordpiece.cpp core/src/gguf.cpp core/src/error.cpp
#include "error.h"
#include "gguf.h"
#include "llm4all/llm4all.h"
#include "unicode.h"
#include "vocab.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace llm4all {
void set_log_callback(llm4all_log_fn fn, void *user);   // error.cpp (compiled into this test)
}

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

#ifndef LLM4ALL_TESTDATA_DEFAULT
#define LLM4ALL_TESTDATA_DEFAULT "../shared/testdata"
#endif

static int g_fail = 0;

static void check(bool ok, const std::string &what) {
    if (!ok) {
        ++g_fail;
        if (g_fail <= 20) std::printf("FAIL: %s\n", what.c_str());
    }
}

static std::string hex(const std::string &s) {
    std::string out;
    char b[4];
    for (size_t i = 0; i < s.size() && i < 48; ++i) {
        std::snprintf(b, sizeof b, "%02x", static_cast<unsigned char>(s[i]));
        out += b;
    }
    return out + (s.size() > 48 ? "..." : "");
}

// One input through every entry point. Returns false if it was (rightly) rejected.
static bool exercise(const llm4all::Vocab &v, const std::string &text, const std::string &name) {
    const bool valid = llm4all::utf8_find_invalid(text) == std::string_view::npos;
    for (int mode = 0; mode < 2; ++mode) {
        try {
            std::vector<int32_t> ids = v.tokenize(text, mode == 1, mode == 1);
            check(valid, name + ": invalid UTF-8 accepted: " + hex(text));
            bool in_range = true;
            for (int32_t id : ids) in_range &= id >= 0 && id < v.n_tokens();
            check(in_range, name + ": token id out of range for " + hex(text));
            if (!in_range) return true;
            // (Text may give no tokens: llama.cpp drops bytes a BPE vocabulary cannot spell.)
            (void)v.detokenize(ids, mode == 1);
        } catch (const llm4all::Error &e) {
            check(!valid && e.status() == LLM4ALL_ERR_BAD_UTF8,
                  name + ": unexpected error '" + e.what() + "' for " + hex(text));
            return false;
        }
    }
    return true;
}

static std::string random_utf8(std::mt19937 &rng, const std::vector<std::string> &specials) {
    std::string s;
    const int n = static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) {
        uint32_t r = rng() % 100;
        if (r < 40) {
            s += static_cast<char>(rng() % 128);                       // ASCII, controls included
        } else if (r < 55) {
            s += " \t\n\r"[rng() % 4];
        } else if (r < 65 && !specials.empty()) {
            const std::string &sp = specials[rng() % specials.size()];
            s += rng() % 4 ? sp : sp.substr(0, rng() % (sp.size() + 1));   // whole or cut special text
        } else {
            static const uint32_t blocks[] = {0x80, 0x300, 0x400, 0x900, 0x1100, 0x2000, 0x3000, 0x4E00,
                                              0xAC00, 0xFF00, 0x1F300, 0x20000, 0xE0000};
            uint32_t cp = blocks[rng() % 13] + rng() % 0x300;
            if (rng() % 8 == 0) cp = rng() % 0x110000;
            if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
            llm4all::utf8_append(s, cp);
        }
    }
    return s;
}

static void fuzz(const fs::path &path, const std::string &name, int iters, size_t big_size) {
    std::unique_ptr<llm4all::GgufFile> file;
    std::unique_ptr<llm4all::Vocab> vocab;
    try {
        file = llm4all::GgufFile::open(path.string());
        vocab = std::make_unique<llm4all::Vocab>(*file);
    } catch (const llm4all::Error &e) {
        check(false, name + ": cannot load: " + e.what());
        return;
    }
    const llm4all::Vocab &v = *vocab;
    const auto t0 = Clock::now();
    std::vector<std::string> specials;
    for (int32_t id = 0; id < v.n_tokens(); ++id) {
        if (v.is_control(id) && specials.size() < 64) specials.push_back(v.token_text(id));
        (void)v.token_to_piece(id, id % 2 == 0);   // every piece, both ways
    }
    std::mt19937 rng(12345);
    int n_inputs = 0, n_rejected = 0;
    // Every single byte, and every byte after a valid prefix.
    for (int b = 0; b < 256; ++b) {
        std::string one(1, static_cast<char>(b));
        n_rejected += !exercise(v, one, name);
        n_rejected += !exercise(v, "a " + one + " z", name);
        n_inputs += 2;
    }
    for (int i = 0; i < iters; ++i) {
        std::string s;
        if (i % 3 == 0) {   // raw random bytes (mostly invalid UTF-8)
            s.resize(rng() % 32);
            for (char &c : s) c = static_cast<char>(rng());
        } else {
            s = random_utf8(rng, specials);
            if (i % 3 == 2 && !s.empty()) s[rng() % s.size()] = static_cast<char>(0x80 + rng() % 0x80);   // one bad byte
        }
        n_rejected += !exercise(v, s, name);
        ++n_inputs;
    }
    // Random ids, pieces and detokenization (valid ids only; bad ids must be errors).
    for (int i = 0; i < 200; ++i) {
        std::vector<int32_t> ids(rng() % 16);
        for (int32_t &id : ids) id = static_cast<int32_t>(rng() % v.n_tokens());
        (void)v.detokenize(ids, i % 2 == 0);
    }
    try {
        (void)v.detokenize({0, v.n_tokens()}, false);
        check(false, name + ": out-of-range id accepted by detokenize");
    } catch (const llm4all::Error &e) {
        check(e.status() == LLM4ALL_ERR_INVALID_ARGUMENT, name + ": wrong error for a bad id");
    }
    const double t_fuzz = std::chrono::duration<double>(Clock::now() - t0).count();

    // 1 MB of one character: linear-ish time, no stack overflow, no quadratic blow-up.
    const char *const singles[] = {"a", " ", "\n", "1", "\xF0\x9F\xA6\x99", "\xE4\xB8\xAD", "!"};
    double worst = 0;
    for (const char *c : singles) {
        std::string big;
        const size_t unit = std::string(c).size();
        big.reserve(1 << 20);
        while (big.size() + unit <= big_size) big += c;
        const auto t1 = Clock::now();
        std::vector<int32_t> ids = v.tokenize(big, false, false);
        const double dt = std::chrono::duration<double>(Clock::now() - t1).count();
        worst = std::max(worst, dt);
        // (WordPiece drops white space entirely, so only it may give nothing.)
        check(!ids.empty() || v.model_name() == "bert", name + ": 1 MB of '" + c + "' gave no tokens");
        check(dt < 30.0, name + ": 1 MB of '" + std::string(c) + "' took " + std::to_string(dt) + " s");
    }
    std::printf("%-14s %6d inputs (%5d rejected as invalid UTF-8) in %.2f s; %zu KB single-character strings: worst %.2f s\n",
                name.c_str(), n_inputs, n_rejected, t_fuzz, big_size >> 10, worst);
}

int main() {
    const char *env = std::getenv("LLM4ALL_TESTDATA");
    fs::path data = env && *env ? fs::path(env) : fs::path(LLM4ALL_TESTDATA_DEFAULT);
    if (!fs::is_directory(data / "vocab")) {
        std::printf("SKIP: no test data at %s (set LLM4ALL_TESTDATA)\n", data.string().c_str());
        return 0;
    }
    const char *it = std::getenv("LLM4ALL_FUZZ_ITERS");
    const int iters = it && *it ? std::max(1, std::atoi(it)) : 10000;
    // The double-BOS warning fires for many random inputs; keep the output readable.
    // (The engine sources are compiled into this test, so its own log sink is set here.)
    llm4all::set_log_callback([](int32_t, const char *, void *) {}, nullptr);
    // 1 MB single-character strings for one vocabulary per type (a few seconds each in
    // BPE), 64 KB for the others: the pre-tokenizers differ, the merging code does not.
    // Under AddressSanitizer (about 7x slower) the big strings shrink to 256 KB so that the
    // sanitizer run stays short; LLM4ALL_FUZZ_BIG_KB sets the size for longer local runs.
#if defined(__SANITIZE_ADDRESS__)
    size_t MB = 256u << 10;
#else
    size_t MB = 1u << 20;
#endif
    const size_t small = 64u << 10;
    if (const char *kb = std::getenv("LLM4ALL_FUZZ_BIG_KB"); kb && *kb) MB = static_cast<size_t>(std::max(1, std::atoi(kb))) << 10;
    const struct { const char *name; fs::path path; size_t big; } vocabs[] = {
        {"spm/llama", data / "vocab" / "ggml-vocab-llama-spm.gguf", MB},
        {"spm/stories", data / "models" / "stories260K.gguf", small},
        {"bpe/gpt-2", data / "vocab" / "ggml-vocab-gpt-2.gguf", MB},
        {"bpe/deepseek", data / "vocab" / "ggml-vocab-deepseek-llm.gguf", small},
        {"bpe/falcon", data / "vocab" / "ggml-vocab-falcon.gguf", small},
        {"wpm/bert-bge", data / "vocab" / "ggml-vocab-bert-bge.gguf", MB},
    };
    for (const auto &v : vocabs) {
        if (!fs::exists(v.path)) {
            std::printf("SKIP %s: %s not found\n", v.name, v.path.string().c_str());
            continue;
        }
        fuzz(v.path, v.name, iters, v.big);
    }
    // Vocabularies built from tokenizer.json (llama-bpe, qwen2 pre-tokenizers) when present.
    const char *hf = std::getenv("LLM4ALL_HF_VOCAB_DIR");
    if (hf && *hf) {
        for (const char *n : {"llama-bpe", "qwen2"}) {
            fs::path p = fs::path(hf) / (std::string(n) + ".gguf");
            if (fs::exists(p)) fuzz(p, std::string("bpe/") + n, iters, small);
        }
    }
    std::printf("%s\n", g_fail ? "FAILED" : "all inputs handled");
    return g_fail == 0 ? 0 : 1;
}
