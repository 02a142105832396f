/* wrong_api.c — a backend plugin built for a different backend API version (as a plugin
 * wheel from another llm4all release would be), so test_plugin_abi can check that the
 * core refuses it at load with a message naming both versions and the remedy. */
#include "llm4all/backend.h"

static llm4all_backend_iface iface = {
    LLM4ALL_BACKEND_API_VERSION + 1, sizeof(llm4all_backend_iface), "wrongapi", "test",
};

__attribute__((visibility("default"))) int32_t llm4all_backend_score(void) { return 5; }

__attribute__((visibility("default"))) const llm4all_backend_iface *llm4all_backend_init(llm4all_backend_log_fn log) {
    (void)log;
    return &iface;
}
