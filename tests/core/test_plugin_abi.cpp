// test_plugin_abi.cpp — the core checks a plugin's backend API version when it loads it: a
// plugin built for another version (tests/core/plugins/wrong_api.c, found through
// LLM4ALL_BACKEND_PATH) is listed as unusable, with the versions and the remedy, and never runs.
// test-sources: core/src/registry.cpp core/src/error.cpp
#include <cstdlib>
#include <string>

#include "error.h"
#include "registry.h"

#include "check.h"

using namespace llm4all;

int main() {
    // Before the registry's first use: it reads the path once per process.
    setenv("LLM4ALL_BACKEND_PATH", LLM4ALL_WRONG_API_PLUGIN_DIR, 1);
    const BackendPlugin *wrong = nullptr;
    for (const BackendPlugin &p : backend_plugins())
        if (p.path.find("libllm4all-wrongapi-test.so") != std::string::npos) wrong = &p;
    check(wrong != nullptr, "the wrong-API plugin is found in " LLM4ALL_WRONG_API_PLUGIN_DIR);
    if (wrong) {
        const std::string want = "plugin speaks backend API v" + std::to_string(LLM4ALL_BACKEND_API_VERSION + 1) +
                                 ", but llm4all " + llm4all_version() + " expects v" +
                                 std::to_string(LLM4ALL_BACKEND_API_VERSION) +
                                 ": install the plugin built for this llm4all version";
        check(wrong->problem == want, "refusal message: '" + wrong->problem + "'");
        check(wrong->iface == nullptr && wrong->score == 0 && !wrong->selected, "the plugin is never used");
    }
    try {
        pick_backend("wrongapi");
        check(false, "device 'wrongapi' must not be usable");
    } catch (const Error &e) {
        check(std::string(e.what()).find("speaks backend API") != std::string::npos,
              std::string("the device error explains the refusal: ") + e.what());
    }
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
