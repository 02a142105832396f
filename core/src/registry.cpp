// registry.cpp — finds backend plugins (libllm4all-*.so; *llm4all-*.dll on Windows) at
// run time, asks each whether it can run on this machine, and picks the best one for a device string.
// Plugins come from LLM4ALL_BACKEND_PATH first, then from the core library's own
// directory, so a user can override a bundled plugin without reinstalling, then from
// llm4all_* folders beside it (plugin wheels such as llm4all-cuda).
// LLM4ALL_CPU_VARIANT=name forces one CPU variant (to test the fallbacks, or to
// work around a bad one); the others are listed but never initialised.
#include "registry.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "error.h"
#include "platform/platform.h"

namespace llm4all {

namespace {

// Plugins log through the host's callback like the core does.
void forward_plugin_log(int32_t level, const char *message) {
    log_message(level, message ? message : "");
}

std::string core_library_dir() {
    // Any function of this library tells us where the library itself lives.
    const std::string path = platform::library_path_of(reinterpret_cast<const void *>(&core_library_dir));
    if (path.empty()) return "";
    size_t slash = path.find_last_of(platform::k_dir_separators);
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::vector<std::string> search_dirs() {
    std::vector<std::string> dirs;
    if (const char *env = std::getenv("LLM4ALL_BACKEND_PATH")) {
        std::string s = env;
        size_t start = 0;
        while (start <= s.size()) {
            size_t colon = s.find(platform::k_path_list_separator, start);
            if (colon == std::string::npos) colon = s.size();
            if (colon > start) dirs.push_back(s.substr(start, colon - start));
            start = colon + 1;
        }
    }
    std::string own = core_library_dir();
    if (!own.empty()) dirs.push_back(own);
    // Installed from a wheel (core in .../site-packages/llm4all/), plugins that ship as
    // their own wheel (llm4all-cuda installs .../site-packages/llm4all_cuda/) sit in a
    // sibling folder named llm4all_<something>: a known path, so C callers find them too.
    const size_t slash = own.find_last_of(platform::k_dir_separators);
    if (slash != std::string::npos && own.compare(slash + 1, std::string::npos, "llm4all") == 0) {
        const std::string parent = own.substr(0, slash);
        std::vector<std::string> names, extra;
        platform::list_directory(parent, &names);
        for (const std::string &name : names)
            if (name.rfind("llm4all_", 0) == 0 && name.find('.') == std::string::npos)
                extra.push_back(parent + "/" + name);
        std::sort(extra.begin(), extra.end());
        dirs.insert(dirs.end(), extra.begin(), extra.end());
    }
    return dirs;
}

// CMake's names for a loadable module (platform.h): libllm4all-cpu-avx2.so, llm4all-cpu-avx2.dll.
const std::string k_prefix = LLM4ALL_PLUGIN_PREFIX "llm4all-", k_suffix = LLM4ALL_PLUGIN_SUFFIX;

bool is_plugin_name(const std::string &name) {
    return name.size() > k_prefix.size() + k_suffix.size() && name.compare(0, k_prefix.size(), k_prefix) == 0 &&
           name.compare(name.size() - k_suffix.size(), k_suffix.size(), k_suffix) == 0;
}

// "libllm4all-cpu-avx512-vnni.so" -> ("cpu", "avx512-vnni"): what a plugin is called
// before (or without) running its init, which a refused plugin never does.
void names_from_file(const std::string &file, std::string &backend, std::string &variant) {
    const size_t slash = file.find_last_of(platform::k_dir_separators);
    std::string stem = slash == std::string::npos ? file : file.substr(slash + 1);
    stem = stem.substr(k_prefix.size(), stem.size() - k_prefix.size() - k_suffix.size());
    const size_t dash = stem.find('-');
    backend = stem.substr(0, dash);
    variant = dash == std::string::npos ? "" : stem.substr(dash + 1);
}

// The variant LLM4ALL_CPU_VARIANT asks for ("cpu-avx2" and "avx2" both work), or "".
std::string forced_cpu_variant() {
    const char *env = std::getenv("LLM4ALL_CPU_VARIANT");
    std::string v = env ? env : "";
    if (v.rfind("cpu-", 0) == 0) v = v.substr(4);
    return v;
}

// Sorted so the load order (and thus tie-breaking) does not depend on the file system.
std::vector<std::string> plugin_files(const std::string &dir) {
    std::vector<std::string> all, names;
    if (!platform::list_directory(dir, &all)) return names;
    for (const std::string &name : all)
        if (is_plugin_name(name)) names.push_back(name);
    std::sort(names.begin(), names.end());
    return names;
}

// forced: the CPU variant LLM4ALL_CPU_VARIANT names, or "" when unset.
BackendPlugin load_plugin(const std::string &path, const std::string &forced) {
    BackendPlugin p;
    p.path = path;
    names_from_file(path, p.backend, p.variant);
    std::string why;
    void *handle = platform::library_open(path, &why);
    if (!handle) {
        p.problem = "cannot load: " + why;
        return p;
    }
    auto score_fn = reinterpret_cast<llm4all_backend_score_fn>(platform::library_symbol(handle, "llm4all_backend_score"));
    auto init_fn = reinterpret_cast<llm4all_backend_init_fn>(platform::library_symbol(handle, "llm4all_backend_init"));
    if (!score_fn || !init_fn) {
        p.problem = "not a backend plugin: missing llm4all_backend_score or llm4all_backend_init";
        platform::library_close(handle);
        return p;
    }
    p.score = score_fn();
    if (p.score <= 0) {
        // Never call init: the plugin may be built for instructions this CPU lacks.
        p.score = 0;
        auto refusal_fn = reinterpret_cast<llm4all_backend_refusal_fn>(
            platform::library_symbol(handle, "llm4all_backend_refusal"));
        const char *why = refusal_fn ? refusal_fn() : nullptr;
        p.problem = why && *why ? why : "needs CPU features this machine lacks";
        p.expected = true;
        platform::library_close(handle);
        return p;
    }
    if (!forced.empty() && p.backend == "cpu" && p.variant != forced) {
        // Kept out as if this CPU could not run it, so everything (tests included) runs
        // on the forced variant alone.
        p.problem = "not used: LLM4ALL_CPU_VARIANT=" + forced + " (this CPU could run it, score " +
                    std::to_string(p.score) + ")";
        p.score = 0;
        p.expected = true;
        platform::library_close(handle);
        return p;
    }
    const llm4all_backend_iface *iface = init_fn(forward_plugin_log);
    if (!iface) {
        p.problem = "its init function failed";
    } else if (iface->api_version != LLM4ALL_BACKEND_API_VERSION) {
        // A plugin wheel (llm4all-cuda) installed for another llm4all release lands here.
        p.problem = "plugin speaks backend API v" + std::to_string(iface->api_version) + ", but llm4all " +
                    llm4all_version() + " expects v" + std::to_string(LLM4ALL_BACKEND_API_VERSION) +
                    ": install the plugin built for this llm4all version";
    } else if (iface->size < sizeof(llm4all_backend_iface)) {
        p.problem = "plugin's function table is too small (" + std::to_string(iface->size) +
                    " bytes, core needs " + std::to_string(sizeof(llm4all_backend_iface)) + ")";
    } else if (!iface->name || !iface->variant) {
        p.problem = "plugin's function table has no name or variant";
    }
    // The handle stays open even when refused: its init already ran, and unloading
    // code that may have registered handlers is riskier than a few idle pages.
    p.handle = handle;
    if (!p.problem.empty()) {
        p.score = 0;   // score > 0 means usable, for every reader of the list
        return p;
    }
    p.iface = iface;
    p.backend = iface->name;
    p.variant = iface->variant;
    return p;
}

struct Registry {
    std::vector<BackendPlugin> plugins;
    std::vector<std::string> dirs;
    std::string forced_problem;   // why LLM4ALL_CPU_VARIANT cannot be honoured
};

// Marks the best usable plugin of each backend, and explains a forced CPU variant
// that is missing or refused.
void select_plugins(Registry &r, const std::string &forced) {
    for (BackendPlugin &p : r.plugins) {
        if (!p.iface) continue;
        BackendPlugin *best = nullptr;
        for (BackendPlugin &q : r.plugins)
            if (q.iface && q.backend == p.backend && (!best || q.score > best->score)) best = &q;
        if (best == &p) p.selected = true;
    }
    if (forced.empty()) return;
    std::string found;
    for (const BackendPlugin &p : r.plugins) {
        if (p.backend != "cpu") continue;
        if (p.variant == forced) {
            if (!p.iface)
                r.forced_problem = "LLM4ALL_CPU_VARIANT=" + forced + ": cpu-" + forced + " cannot run here: " +
                                   p.problem;
            return;
        }
        found += (found.empty() ? "" : ", ") + p.variant;
    }
    r.forced_problem = "LLM4ALL_CPU_VARIANT=" + forced + ": there is no CPU variant named \"" + forced + "\"; " +
                       (found.empty() ? std::string("no CPU plugins were found") : "the CPU variants found are " + found);
}

const Registry &registry() {
    // Function-local static: built once, thread-safe by the language rules.
    static const Registry reg = [] {
        Registry r;
        const std::string forced = forced_cpu_variant();
        r.dirs = search_dirs();
        std::set<std::string> seen;   // a file name found earlier on the path wins
        for (const std::string &dir : r.dirs) {
            for (const std::string &name : plugin_files(dir)) {
                std::string path = dir + "/" + name;
                if (!seen.insert(name).second) {
                    log_message(LLM4ALL_LOG_DEBUG, "backend plugin " + path + " skipped: " + name +
                                                       " was already found earlier on the search path");
                    continue;
                }
                BackendPlugin p = load_plugin(path, forced);
                if (p.iface)
                    log_message(LLM4ALL_LOG_DEBUG, "backend plugin " + path + " loaded (" + p.iface->name +
                                                       "-" + p.iface->variant + ", score " +
                                                       std::to_string(p.score) + ")");
                else
                    // A variant this CPU cannot run, or one kept out on request, is normal.
                    log_message(p.expected ? LLM4ALL_LOG_INFO : LLM4ALL_LOG_WARN,
                                "backend plugin " + path + " not used: " + p.problem);
                r.plugins.push_back(std::move(p));
            }
        }
        select_plugins(r, forced);
        // Only informational: pick_backend() throws it, and devices shows it.
        if (!r.forced_problem.empty()) log_message(LLM4ALL_LOG_INFO, r.forced_problem);
        return r;
    }();
    return reg;
}

bool matches(const BackendPlugin &p, const std::string &device) {
    if (!p.iface) return false;
    if (device.empty() || device == "auto") return true;
    std::string name = p.iface->name, full = name + "-" + p.iface->variant;
    return device == name || device == full;
}

} // namespace

const std::vector<BackendPlugin> &backend_plugins() { return registry().plugins; }

const std::string &forced_cpu_variant_problem() { return registry().forced_problem; }

const BackendPlugin &pick_backend(const std::string &device) {
    const Registry &reg = registry();
    // Every model needs the CPU, so a forced variant that cannot run stops everything,
    // rather than quietly running on another one.
    if (!reg.forced_problem.empty()) fail(LLM4ALL_ERR_BACKEND, reg.forced_problem);
    const BackendPlugin *best = nullptr;
    for (const BackendPlugin &p : reg.plugins)
        if (matches(p, device) && (!best || p.score > best->score)) best = &p;
    if (best) return *best;

    std::string msg = "no usable backend for device \"" + device + "\"";
    if (reg.plugins.empty()) {
        msg += ": no plugins (" + k_prefix + "*" + k_suffix + ") found";
    } else {
        msg += "; plugins found:";
        for (const BackendPlugin &p : reg.plugins) {
            msg += "\n  " + p.path + ": ";
            if (p.iface)
                msg += std::string(p.iface->name) + "-" + p.iface->variant + " (score " +
                       std::to_string(p.score) + ")";
            else
                msg += "refused: " + p.problem;
        }
    }
    msg += "\nsearched:";
    if (reg.dirs.empty()) msg += " (nowhere: LLM4ALL_BACKEND_PATH unset and core library location unknown)";
    for (const std::string &d : reg.dirs) msg += " " + d;
    fail(LLM4ALL_ERR_BACKEND, msg);
}

} // namespace llm4all
