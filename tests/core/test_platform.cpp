// test_platform.cpp — the OS layer (core/src/platform/platform.h) on this system: memory
// figures, aligned memory, reading and mapping a GGUF file, creating and replacing files,
// shared libraries, and the core's plugin discovery choosing the best CPU variant that
// CPUID says this machine runs. Built and run on Linux and, cross-compiled, under Wine
// (tools/windows_check.sh), where each call goes through windows.cpp.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "llm4all/backend.h"
#include "llm4all/llm4all.h"
#include "platform/platform.h"

#include "../../backends/cpu/cpu_features.h"
#include "check.h"

namespace pf = llm4all::platform;

namespace {

std::string read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string base_name(const std::string &path) {
    const size_t slash = path.find_last_of(pf::k_dir_separators);
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string dir_name(const std::string &path) {
    const size_t slash = path.find_last_of(pf::k_dir_separators);
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

void memory_checks() {
    const uint64_t total = pf::physical_memory(), free = pf::free_physical_memory();
    std::string source;
    const uint64_t avail = pf::available_memory(&source);
    std::printf("memory: physical %llu MiB, free %llu MiB, available %llu MiB (%s), page %zu\n",
                (unsigned long long)(total >> 20), (unsigned long long)(free >> 20),
                (unsigned long long)(avail >> 20), source.c_str(), pf::page_size());
    check(total >= (64ull << 20), "physical memory is known and at least 64 MiB");
    check(free > 0 && free <= total, "free memory is known and at most the physical memory");
    check(avail > 0 && !source.empty(), "available memory is known and says where it comes from");
    const size_t page = pf::page_size();
    check(page >= 4096 && (page & (page - 1)) == 0, "page size is a power of two of at least 4 KiB");
#if defined(__linux__)
    // The kernel's own figure, read independently.
    std::ifstream in("/proc/meminfo");
    std::string key;
    unsigned long long kib = 0;
    while (in >> key >> kib && key != "MemTotal:") in.ignore(1 << 10, '\n');
    check(key == "MemTotal:" && total == kib * 1024ull, "physical memory equals /proc/meminfo's MemTotal");
#endif
    for (size_t align : {size_t(64), size_t(4096)}) {
        void *p = pf::alloc_aligned(align, 1000);
        check(p && reinterpret_cast<uintptr_t>(p) % align == 0, "alloc_aligned(" + std::to_string(align) + ") is aligned");
        if (p) std::memset(p, 0x5a, 1000);
        pf::free_aligned(p);
    }
    void *z = pf::alloc_aligned(64, 0);
    check(z != nullptr, "alloc_aligned of 0 bytes gives a pointer to free");
    pf::free_aligned(z);
}

void file_checks(const std::string &model, const std::string &tmp) {
    const std::string want = read_file(model);
    pf::InputFile f;
    check(f.open(model), "open " + model + ": " + f.reason());
    check(f.size() == want.size(), "size is the file's size");
    const uint8_t *m = f.map();
    check(m != nullptr, "map: " + f.reason());
    if (m) {
        check(std::memcmp(m, "GGUF", 4) == 0, "the mapped file starts with the GGUF magic");
        check(std::memcmp(m, want.data(), want.size()) == 0, "the mapping holds the file's bytes");
    }
    std::vector<uint8_t> buf(size_t(f.size()));
    check(f.read_all(buf.data()) && std::memcmp(buf.data(), want.data(), want.size()) == 0,
          "read_all reads the file's bytes");
    if (m) pf::unmap_file(m, f.size());

    pf::InputFile missing;
    check(!missing.open(tmp + "/no-such-file.gguf") && missing.reason().rfind("cannot open: ", 0) == 0,
          "a missing file: \"cannot open: ...\" (" + missing.reason() + ")");
    pf::InputFile dir;
    check(!dir.open(tmp) && dir.reason() == "not a regular file", "a directory: not a regular file (" + dir.reason() + ")");

    std::vector<std::string> names;
    check(pf::list_directory(dir_name(model), &names), "list the model's folder");
    bool found = false;
    for (const std::string &n : names) found |= n == base_name(model);
    check(found, "the listing holds " + base_name(model));
    std::vector<std::string> none;
    check(!pf::list_directory(tmp + "/no-such-dir", &none), "listing a missing folder fails");

    // The writer's dance: an exclusive new file, flushed, then renamed over an existing one.
    const std::string a = tmp + "/llm4all_platform_" + std::to_string(pf::process_id()) + ".a";
    const std::string b = tmp + "/llm4all_platform_" + std::to_string(pf::process_id()) + ".b";
    pf::remove_file(a);
    pf::remove_file(b);
    for (const auto &[path, text] : {std::make_pair(a, std::string("new")), std::make_pair(b, std::string("old"))}) {
        std::FILE *w = pf::create_new_file(path);
        check(w != nullptr, "create " + path + ": " + std::strerror(errno));
        if (!w) return;
        std::fwrite(text.data(), 1, text.size(), w);
        check(std::fflush(w) == 0 && pf::sync_file(w), "flush " + path + " to the disk");
        std::fclose(w);
    }
    errno = 0;
    std::FILE *again = pf::create_new_file(a);
    check(!again && errno == EEXIST, "creating an existing file fails with EEXIST");
    if (again) std::fclose(again);
    check(pf::same_file(a, a) && !pf::same_file(a, b), "same_file tells one file from another");
    check(!pf::same_file(a, tmp + "/no-such-file"), "same_file of a missing file is false");
    check(pf::replace_file(a, b), std::string("rename over an existing file: ") + std::strerror(errno));
    check(read_file(b) == "new" && !std::ifstream(a).good(), "the destination holds the new bytes, the source is gone");
    check(pf::remove_file(b) && !std::ifstream(b).good(), "remove the file");

    std::tm tm{};
    check(pf::local_time(std::time_t(86400) * 400, &tm) && tm.tm_year == 71, "local time of day 400 is in 1971");
}

void library_checks() {
    const std::string core = pf::library_path_of(reinterpret_cast<const void *>(&llm4all_version));
    const std::string want = LLM4ALL_CORE_FILE;   // CMake's name of the core library file
    std::printf("core library: %s\n", core.c_str());
    check(base_name(core) == want, "library_path_of finds the core library (" + want + ")");
    const std::string self = pf::library_path_of(reinterpret_cast<const void *>(&library_checks));
    check(base_name(self).find("test_platform") == 0, "library_path_of an executable's function names the executable");

    std::string error;
    check(pf::library_open(dir_name(core) + "/no-such-plugin" LLM4ALL_PLUGIN_SUFFIX, &error) == nullptr && !error.empty(),
          "opening a missing library fails with a reason (" + error + ")");
    const std::string generic = dir_name(core) + "/" LLM4ALL_PLUGIN_PREFIX "llm4all-cpu-generic" LLM4ALL_PLUGIN_SUFFIX;
    void *h = pf::library_open(generic, &error);
    check(h != nullptr, "open " + generic + ": " + error);
    if (!h) return;
    auto score = reinterpret_cast<llm4all_backend_score_fn>(pf::library_symbol(h, "llm4all_backend_score"));
    check(score && score() == 1, "the generic CPU plugin exports its score, 1");
    check(pf::library_symbol(h, "llm4all_backend_init") && pf::library_symbol(h, "llm4all_backend_refusal"),
          "the plugin exports init and refusal");
    check(pf::library_symbol(h, "no_such_symbol") == nullptr, "a missing symbol is null");
    pf::library_close(h);
}

// The CPU variant the core should pick here, from CPUID (cpu_features.h), independently
// of the plugin's own score function.
std::string expected_variant() {
#if defined(__x86_64__) || defined(_M_X64)
    using llm4all::cpu::cpuid_has;
    const bool avx2 = cpuid_has("avx") && cpuid_has("avx2") && cpuid_has("fma") && cpuid_has("f16c") && cpuid_has("bmi2");
    const bool avx512 = avx2 && cpuid_has("avx512f") && cpuid_has("avx512bw") && cpuid_has("avx512dq") &&
                        cpuid_has("avx512vl");
    if (avx512 && cpuid_has("avx512vnni")) return "avx512-vnni";
    if (avx512) return "avx512";
    if (avx2) return "avx2";
#endif
    return "generic";
}

void discovery_checks() {
    char *json = nullptr;
    check(llm4all_devices_json(&json) == LLM4ALL_OK && json, std::string("devices: ") + llm4all_last_error());
    if (!json) return;
    const std::string s = json;
    llm4all_free(json);
    const std::string want = expected_variant();
    // Each plugin is one object: {"plugin":"<path>","score":..,"backend":"cpu","variant":"..","selected":..,...}
    std::string selected;
    int n_cpu = 0;
    const std::string key = "{\"plugin\":\"";
    for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + 1)) {
        const size_t next = s.find(key, at + 1);
        const std::string obj = s.substr(at, next == std::string::npos ? std::string::npos : next - at);
        if (obj.find("\"backend\":\"cpu\"") == std::string::npos) continue;
        ++n_cpu;
        const size_t v = obj.find("\"variant\":\"") + 11;
        const std::string variant = obj.substr(v, obj.find('"', v) - v);
        if (obj.find("\"selected\":true") != std::string::npos) selected = variant;
        const std::string file = LLM4ALL_PLUGIN_PREFIX "llm4all-cpu-" + variant + LLM4ALL_PLUGIN_SUFFIX;
        const std::string path = obj.substr(key.size(), obj.find('"', key.size()) - key.size());
        check(path.size() > file.size() && path.compare(path.size() - file.size(), file.size(), file) == 0,
              "plugin cpu-" + variant + " is the file " + file + " (" + path + ")");
    }
    std::printf("CPU plugins found: %d, selected: cpu-%s, CPUID says: cpu-%s\n", n_cpu, selected.c_str(), want.c_str());
    check(n_cpu >= 1, "the CPU plugins beside the core are found");
    check(selected == want, "the selected CPU variant is the best this CPU runs (cpu-" + want + ")");
}

void cpuid_checks() {
#if (defined(__x86_64__) || defined(__i386__)) && !defined(_WIN32)
    // Windows reads CPUID itself (score.cpp); it must agree with the compiler's own check.
    __builtin_cpu_init();
#define SAME(name) check(llm4all::cpu::cpuid_has(name) == (__builtin_cpu_supports(name) != 0), \
                         std::string("cpuid_has(\"") + name + "\") agrees with __builtin_cpu_supports")
    SAME("sse3"); SAME("ssse3"); SAME("sse4.1"); SAME("sse4.2"); SAME("popcnt"); SAME("avx"); SAME("avx2");
    SAME("fma"); SAME("f16c"); SAME("bmi"); SAME("bmi2"); SAME("avx512f"); SAME("avx512bw"); SAME("avx512dq");
    SAME("avx512vl"); SAME("avx512vnni");
#undef SAME
    check(!llm4all::cpu::cpuid_has("no-such-feature"), "an unknown feature name is absent");
#endif
}

} // namespace

int main() {
    memory_checks();
    const char *tmpdir = std::getenv("TMPDIR");
    const std::string model = testdata_file("models/stories260K.gguf");
    if (!model.empty()) file_checks(model, tmpdir && *tmpdir ? tmpdir : "/tmp");
    library_checks();
    discovery_checks();
    cpuid_checks();
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
