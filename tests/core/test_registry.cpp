// test_registry.cpp — the plugin registry finds the CPU plugins through
// LLM4ALL_BACKEND_PATH, ranks them by score, matches device strings, honours
// LLM4ALL_CPU_VARIANT and explains itself when nothing fits. The registry is
// built once per process, so each environment is tried in a forked child.
// test-sources: core/src/registry.cpp core/src/error.cpp
#include <dirent.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "error.h"
#include "registry.h"

#include "check.h"

using namespace llm4all;

namespace {

bool has(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

// The message pick_backend(device) fails with, or "" when it succeeds.
std::string pick_error(const std::string &device, llm4all_status *status = nullptr) {
    try {
        pick_backend(device);
        return "";
    } catch (const Error &e) {
        if (status) *status = e.status();
        return e.what();
    }
}

const BackendPlugin *find_cpu(const std::string &variant) {
    for (const BackendPlugin &p : backend_plugins())
        if (p.backend == "cpu" && p.variant == variant) return &p;
    return nullptr;
}

const BackendPlugin *selected_cpu() {
    const BackendPlugin *sel = nullptr;
    int n = 0;
    for (const BackendPlugin &p : backend_plugins())
        if (p.backend == "cpu" && p.selected) sel = &p, ++n;
    check(n <= 1, "at most one CPU variant is selected");
    return sel;
}

// Runs body in a child process with env (name=value; empty value = unset) and
// counts its checks into ours.
void in_child(const std::string &what, const std::vector<std::pair<std::string, std::string>> &env,
              const std::function<void()> &body) {
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        g_pass = g_fail = 0;
        for (const auto &[k, v] : env) v.empty() ? unsetenv(k.c_str()) : setenv(k.c_str(), v.c_str(), 1);
        body();
        std::printf("  %s: %d passed, %d failed\n", what.c_str(), g_pass, g_fail);
        std::fflush(stdout);
        _exit(g_fail ? 1 : 0);
    }
    int status = 0;
    check(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          what + " (child process)");
}

// The plain case: every plugin is either usable (score > 0) or says why not, and the
// selected CPU variant is the best usable one.
void check_ranking(const std::string &dir, const std::string &forced) {
    const auto &plugins = backend_plugins();
    int generic = 0;
    for (const BackendPlugin &p : plugins) {
        std::printf("%s: %s-%s score %d%s %s\n", p.path.c_str(), p.backend.c_str(), p.variant.c_str(), p.score,
                    p.selected ? " [selected]" : "", p.iface ? "loaded" : p.problem.c_str());
        if (p.iface && p.variant == "generic") ++generic;
        check(p.iface ? p.score > 0 : p.score == 0 && !p.problem.empty(),
              p.path + " is either usable (score > 0) or has score 0 and says why not");
        check(!p.iface || (p.backend == p.iface->name && p.variant == p.iface->variant),
              p.path + ": names from the file agree with the plugin's own");
    }
    check(forced.empty() || forced == "generic" ? generic == 1 : generic == 0,
          "the generic CPU plugin is found and usable (unless another variant is forced)");
#if defined(__x86_64__)
    for (const char *v : {"generic", "avx2", "avx512", "avx512-vnni"})
        check(find_cpu(v) != nullptr, std::string("x86-64 builds the cpu-") + v + " plugin");
#endif

    const BackendPlugin &best = pick_backend("cpu");
    check(best.selected && selected_cpu() == &best, "the selected CPU variant is the one cpu picks");
    for (const BackendPlugin &p : plugins)
        if (p.iface && p.backend == "cpu") check(p.score <= best.score, "cpu picks the highest score");
    if (!forced.empty()) check(best.variant == forced, "cpu picks the forced variant " + forced);
    check(&pick_backend("auto") != nullptr, "auto picks something");
    if (forced.empty() || forced == "generic")
        check(pick_backend("cpu-generic").variant == "generic", "exact variant name");

    llm4all_status status = LLM4ALL_OK;
    const std::string msg = pick_error("no-such-device", &status);
    check(status == LLM4ALL_ERR_BACKEND, "unknown device gives LLM4ALL_ERR_BACKEND");
    check(has(msg, "searched") && has(msg, dir) && has(msg, "libllm4all-cpu-generic.so"),
          "the error lists plugins and search directories: " + msg);
    check(&backend_plugins() == &plugins, "plugins are loaded once");
}

} // namespace

int main(int argc, char **argv) {
    // This executable carries its own copy of the registry, so "beside the core
    // library" means beside this test; the plugins are found through the path.
    std::string dir;
    if (argc > 1) {
        dir = argv[1];
    } else {
        Dl_info info{};
        if (dladdr(reinterpret_cast<void *>(&llm4all_abi_version), &info) && info.dli_fname) {
            dir = info.dli_fname;
            dir = dir.substr(0, dir.rfind('/'));
        }
    }
    std::string path = "/nonexistent-dir:" + dir;
    if (const char *extra = std::getenv("LLM4ALL_BACKEND_PATH")) path = std::string(extra) + ":" + path;
    setenv("LLM4ALL_BACKEND_PATH", path.c_str(), 1);

    // Our own registry is built last: each child must build its own from scratch.
    in_child("unforced", {{"LLM4ALL_CPU_VARIANT", ""}, {"LLM4ALL_CPU_HIDE", ""}}, [&] {
        check_ranking(dir, "");
    });

    in_child("LLM4ALL_CPU_VARIANT=generic", {{"LLM4ALL_CPU_VARIANT", "generic"}, {"LLM4ALL_CPU_HIDE", ""}}, [&] {
        check_ranking(dir, "generic");
        check(forced_cpu_variant_problem().empty(), "forcing generic is fine");
        for (const BackendPlugin &p : backend_plugins()) {
            if (p.backend != "cpu" || p.variant == "generic") continue;
            check(!p.iface && p.score == 0, "cpu-" + p.variant + " is kept out when generic is forced");
            check(has(p.problem, "LLM4ALL_CPU_VARIANT=generic") || has(p.problem, "lacks"),
                  "cpu-" + p.variant + " says why it is out: " + p.problem);
            const std::string err = pick_error("cpu-" + p.variant);
            check(has(err, "LLM4ALL_CPU_VARIANT=generic") || has(err, "lacks"),
                  "asking for cpu-" + p.variant + " explains the forcing: " + err);
        }
    });

    in_child("LLM4ALL_CPU_VARIANT=cpu-generic", {{"LLM4ALL_CPU_VARIANT", "cpu-generic"}}, [&] {
        check(pick_backend("cpu").variant == "generic", "the cpu- prefix is accepted");
    });

    in_child("LLM4ALL_CPU_VARIANT=unknown", {{"LLM4ALL_CPU_VARIANT", "no-such-isa"}}, [&] {
        llm4all_status status = LLM4ALL_OK;
        const std::string err = pick_error("cpu", &status);
        check(status == LLM4ALL_ERR_BACKEND, "an unknown forced variant gives LLM4ALL_ERR_BACKEND");
        check(has(err, "LLM4ALL_CPU_VARIANT=no-such-isa") && has(err, "no CPU variant named") && has(err, "generic"),
              "the error names the request and the variants found: " + err);
        check(pick_error("auto") == err, "auto fails the same way rather than quietly using another variant");
        check(forced_cpu_variant_problem() == err, "the problem is also available without picking");
        check(selected_cpu() == nullptr, "nothing is selected");
    });

#if defined(__x86_64__)
    // A variant the CPU lacks, made so on any machine by hiding a feature it needs.
    in_child("LLM4ALL_CPU_VARIANT=avx2 with AVX2 hidden",
             {{"LLM4ALL_CPU_VARIANT", "avx2"}, {"LLM4ALL_CPU_HIDE", "avx2"}}, [&] {
        llm4all_status status = LLM4ALL_OK;
        const std::string err = pick_error("cpu", &status);
        check(status == LLM4ALL_ERR_BACKEND, "a forced variant the CPU lacks gives LLM4ALL_ERR_BACKEND");
        check(has(err, "LLM4ALL_CPU_VARIANT=avx2") && has(err, "cpu-avx2 cannot run here") &&
                  has(err, "needs AVX, AVX2, FMA, F16C, BMI2") && has(err, "lacks AVX2"),
              "the refusal names the variant and the missing feature: " + err);
    });

    // Without AVX-512F the best remaining variant wins, and each refusal says why.
    in_child("AVX-512F hidden", {{"LLM4ALL_CPU_VARIANT", ""}, {"LLM4ALL_CPU_HIDE", "avx512f"}}, [&] {
        const BackendPlugin *sel = selected_cpu();
        const BackendPlugin *avx2 = find_cpu("avx2");
        check(sel && avx2 && sel == (avx2->iface ? avx2 : find_cpu("generic")),
              "without AVX-512F the AVX2 variant (or generic) runs");
        for (const char *v : {"avx512", "avx512-vnni"}) {
            const BackendPlugin *p = find_cpu(v);
            check(p && !p->iface && p->score == 0 && has(p->problem, "AVX-512F") && has(p->problem, "lacks"),
                  std::string("cpu-") + v + " is refused naming AVX-512F: " + (p ? p->problem : "missing"));
        }
    });

#endif

    // Whatever this CPU really lacks is refused with a reason, and cannot be forced.
    // The files are asked directly, so that no registry exists before the children.
    std::vector<std::string> refused;
    if (DIR *d = opendir(dir.c_str())) {
        while (dirent *e = readdir(d)) {
            const std::string name = e->d_name, prefix = "libllm4all-cpu-";
            if (name.rfind(prefix, 0) != 0 || name.size() < prefix.size() + 4 || name.substr(name.size() - 3) != ".so")
                continue;
            void *h = dlopen((dir + "/" + name).c_str(), RTLD_NOW | RTLD_LOCAL);
            auto score = h ? reinterpret_cast<llm4all_backend_score_fn>(dlsym(h, "llm4all_backend_score")) : nullptr;
            if (score && score() <= 0) refused.push_back(name.substr(prefix.size(), name.size() - prefix.size() - 3));
            if (h) dlclose(h);
        }
        closedir(d);
    }
    for (const std::string &v : refused) {
        in_child("LLM4ALL_CPU_VARIANT=" + v + " (lacking on this CPU)", {{"LLM4ALL_CPU_VARIANT", v}}, [&] {
            const std::string err = pick_error("cpu");
            check(has(err, "cpu-" + v + " cannot run here") && has(err, "lacks"), "refused: " + err);
        });
    }

    // Finally this process, in whatever environment the suite runs (possibly with
    // LLM4ALL_CPU_VARIANT set for the whole run).
    const char *env = std::getenv("LLM4ALL_CPU_VARIANT");
    std::string forced = env ? env : "";
    if (forced.rfind("cpu-", 0) == 0) forced = forced.substr(4);
    check_ranking(dir, forced);

    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
