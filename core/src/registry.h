// registry.h — finds backend plugins at run time and picks the best one.
// Plugins are shared libraries named libllm4all-<backend>-<variant>.so next to
// the core library or in the directories of LLM4ALL_BACKEND_PATH.
#pragma once

#include <string>
#include <vector>

#include "llm4all/backend.h"

namespace llm4all {

struct BackendPlugin {
    std::string path;
    int32_t score = 0;
    void *handle = nullptr;
    const llm4all_backend_iface *iface = nullptr;   // null when it could not load
    std::string problem;                             // why it was refused, if it was
};

// Every plugin found (loaded once, thread-safe).
const std::vector<BackendPlugin> &backend_plugins();

// The plugin to use for a device string ("auto", "cpu", ...). Throws
// Error(BACKEND) with the reasons when none fits.
const BackendPlugin &pick_backend(const std::string &device);

} // namespace llm4all
