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
    std::string backend, variant;                    // "cpu", "avx2"; from the file name until loaded
    int32_t score = 0;                               // 0 when it cannot be used
    void *handle = nullptr;
    const llm4all_backend_iface *iface = nullptr;   // null when it could not load
    std::string problem;                             // why it was refused, if it was
    bool expected = false;                           // refused by the CPU or LLM4ALL_CPU_VARIANT, no fault
    bool selected = false;                           // the variant its backend uses (best, or forced)
};

// Every plugin found (loaded once, thread-safe). LLM4ALL_CPU_VARIANT=name (read
// once, at that moment) keeps every other CPU variant out.
const std::vector<BackendPlugin> &backend_plugins();

// The plugin to use for a device string ("auto", "cpu", ...). Throws
// Error(BACKEND) with the reasons when none fits, or when LLM4ALL_CPU_VARIANT
// names a variant that is missing or cannot run here.
const BackendPlugin &pick_backend(const std::string &device);

// Why LLM4ALL_CPU_VARIANT cannot be honoured; empty when it is unset or fine.
const std::string &forced_cpu_variant_problem();

} // namespace llm4all
