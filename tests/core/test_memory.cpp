// test_memory.cpp — the memory estimate and check through the C ABI: the estimate's
// parts add up and follow n_ctx and the KV type as the cache sizes them, an older
// (shorter) estimate struct gets the fields it has, bad arguments are refused, and under
// LLM4ALL_MEMORY_LIMIT a load that does not fit is OUT_OF_MEMORY with the numbers, while
// skip_memory_check loads it.

#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "llm4all/llm4all.h"

#include "check.h"

namespace {

llm4all_memory_estimate estimate(const std::string &path, int32_t n_ctx, int32_t kv_type, llm4all_status *st) {
    llm4all_session_options so;
    llm4all_session_options_init(&so);
    so.n_ctx = n_ctx;
    so.kv_type = kv_type;
    llm4all_memory_estimate e;
    llm4all_memory_estimate_init(&e);
    *st = llm4all_gguf_estimate_memory(path.c_str(), nullptr, &so, &e);
    return e;
}

bool contains(const char *s, const char *part) { return std::strstr(s, part) != nullptr; }

} // namespace

int main() {
    const std::string path = testdata_file("models/stories260K.gguf");
    if (path.empty()) return 0;
    unsetenv("LLM4ALL_MEMORY_LIMIT");
    llm4all_status st;
    const llm4all_memory_estimate a = estimate(path, 256, LLM4ALL_KV_F16, &st);
    check(st == LLM4ALL_OK, std::string("estimate: ") + llm4all_last_error());
    check(a.n_ctx == 256 && a.n_batch == 256, "n_ctx 256 gives n_batch 256 (never above the context)");
    check(a.total == a.weights + a.kv_cache + a.compute + a.runtime, "the parts add up to the total");
    check(a.n_devices == 1 && std::strcmp(a.devices[0].name, "cpu") == 0 && a.devices[0].total == a.total,
          "one CPU device holding everything");
    check(a.available > 0 && a.available_source[0] != '\0', "available memory is known on this system");

    // The KV cache is linear in n_ctx (no sliding window here) and doubles with F32.
    const llm4all_memory_estimate b = estimate(path, 512, LLM4ALL_KV_F16, &st);
    const llm4all_memory_estimate c = estimate(path, 256, LLM4ALL_KV_F32, &st);
    check(b.kv_cache == 2 * a.kv_cache && c.kv_cache == 2 * a.kv_cache && c.weights == a.weights,
          "KV cache: x2 for twice the context and for F32 elements");

    // An older caller's struct, cut before the devices, gets the totals and keeps its size.
    llm4all_memory_estimate old;
    std::memset(&old, 0xAB, sizeof old);
    old.size = offsetof(llm4all_memory_estimate, devices);
    llm4all_session_options so;
    llm4all_session_options_init(&so);
    so.n_ctx = 256;
    st = llm4all_gguf_estimate_memory(path.c_str(), nullptr, &so, &old);
    check(st == LLM4ALL_OK && old.size == offsetof(llm4all_memory_estimate, devices) && old.total == a.total &&
              old.devices[0].total == 0xABABABABABABABABull,
          "a shorter struct is filled up to its size and no further");
    old.size = 3;
    check(llm4all_gguf_estimate_memory(path.c_str(), nullptr, &so, &old) == LLM4ALL_ERR_INVALID_ARGUMENT,
          "a wrong size is refused");
    check(llm4all_gguf_estimate_memory(nullptr, nullptr, nullptr, &old) == LLM4ALL_ERR_INVALID_ARGUMENT,
          "NULL path is refused");
    llm4all_memory_estimate e;
    llm4all_memory_estimate_init(&e);
    check(llm4all_gguf_estimate_memory("/nonexistent.gguf", nullptr, nullptr, &e) == LLM4ALL_ERR_IO,
          "a missing file is an IO error");

    // The check: LLM4ALL_MEMORY_LIMIT replaces the available figure.
    setenv("LLM4ALL_MEMORY_LIMIT", "1K", 1);
    e = estimate(path, 256, LLM4ALL_KV_F16, &st);
    check(st == LLM4ALL_OK && e.available == 1024 && std::strcmp(e.available_source, "LLM4ALL_MEMORY_LIMIT") == 0,
          "LLM4ALL_MEMORY_LIMIT=1K is 1024 bytes");
    llm4all_model *m = nullptr;
    st = llm4all_model_load(path.c_str(), nullptr, &m);
    check(st == LLM4ALL_ERR_OUT_OF_MEMORY && !m && contains(llm4all_last_error(), "needs about") &&
              contains(llm4all_last_error(), "LLM4ALL_MEMORY_LIMIT") && contains(llm4all_last_error(), "skip_memory_check"),
          std::string("load under 1 KiB is refused with the numbers: ") + llm4all_last_error());
    llm4all_model_options mo;
    llm4all_model_options_init(&mo);
    check(!mo.skip_memory_check, "the check is on by default");
    mo.skip_memory_check = true;
    st = llm4all_model_load(path.c_str(), &mo, &m);
    check(st == LLM4ALL_OK && m, "skip_memory_check loads it");
    llm4all_session *s = nullptr;
    st = llm4all_session_new(m, &so, &s);
    check(st == LLM4ALL_OK && s, "and its sessions are not checked either");
    llm4all_session_free(s);
    llm4all_model_free(m);

    // A limit between the model's need and a large context's: the model loads, the session
    // with the large context is refused (naming n_ctx), a small one is created.
    const llm4all_memory_estimate big = estimate(path, 1 << 16, LLM4ALL_KV_F16, &st);
    const uint64_t limit = a.weights + a.runtime + a.kv_cache + a.compute;
    check(big.weights + big.kv_cache + big.compute > limit, "the large context needs more than the limit");
    setenv("LLM4ALL_MEMORY_LIMIT", std::to_string(limit).c_str(), 1);
    m = nullptr;
    st = llm4all_model_load(path.c_str(), nullptr, &m);
    check(st == LLM4ALL_OK && m, std::string("the model fits: ") + llm4all_last_error());
    if (m) {
        so.n_ctx = 1 << 16;
        st = llm4all_session_new(m, &so, &s);
        check(st == LLM4ALL_ERR_OUT_OF_MEMORY && !s && contains(llm4all_last_error(), "at n_ctx 65536") &&
                  contains(llm4all_last_error(), "smaller context"),
              std::string("the large context is refused: ") + llm4all_last_error());
        so.n_ctx = 256;
        st = llm4all_session_new(m, &so, &s);
        check(st == LLM4ALL_OK && s, std::string("the small context fits: ") + llm4all_last_error());
        llm4all_session_free(s);
        llm4all_model_free(m);
    }
    setenv("LLM4ALL_MEMORY_LIMIT", "plenty", 1);
    e = estimate(path, 256, LLM4ALL_KV_F16, &st);
    check(st == LLM4ALL_ERR_INVALID_ARGUMENT && contains(llm4all_last_error(), "LLM4ALL_MEMORY_LIMIT=plenty"),
          "a limit that is not a size is refused");
    unsetenv("LLM4ALL_MEMORY_LIMIT");

    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
