// test_registry.cpp — the plugin registry finds the CPU plugins through
// LLM4ALL_BACKEND_PATH, ranks them by score, matches device strings and
// explains itself when nothing fits.
// test-sources: core/src/registry.cpp core/src/error.cpp
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "error.h"
#include "registry.h"

using namespace llm4all;

namespace {
int g_pass = 0, g_fail = 0;
void check(bool ok, const std::string &what) {
    ok ? ++g_pass : ++g_fail;
    if (!ok) std::printf("FAIL: %s\n", what.c_str());
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

    const auto &plugins = backend_plugins();
    int usable = 0, generic = 0;
    for (const BackendPlugin &p : plugins) {
        std::printf("%s: score %d %s\n", p.path.c_str(), p.score, p.iface ? "loaded" : p.problem.c_str());
        if (p.iface) ++usable;
        if (p.iface && std::string(p.iface->variant) == "generic") ++generic;
        check(p.iface || !p.problem.empty(), p.path + " is either usable or says why not");
    }
    check(generic == 1, "the generic CPU plugin is found and usable");

    const BackendPlugin &best = pick_backend("cpu");
    for (const BackendPlugin &p : plugins)
        if (p.iface && std::string(p.iface->name) == "cpu") check(p.score <= best.score, "cpu picks the highest score");
    check(&pick_backend("auto") != nullptr, "auto picks something");
    check(std::string(pick_backend("cpu-generic").iface->variant) == "generic", "exact variant name");

    try {
        pick_backend("no-such-device");
        check(false, "an unknown device is refused");
    } catch (const Error &e) {
        const std::string msg = e.what();
        check(e.status() == LLM4ALL_ERR_BACKEND, "unknown device gives LLM4ALL_ERR_BACKEND");
        check(msg.find("searched") != std::string::npos && msg.find(dir) != std::string::npos &&
                  msg.find("libllm4all-cpu-generic.so") != std::string::npos,
              "the error lists plugins and search directories: " + msg);
    }
    check(&backend_plugins() == &plugins, "plugins are loaded once");
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
