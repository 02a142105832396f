// registry.cpp — finds backend plugins (libllm4all-*.so) at run time, asks each
// whether it can run on this machine, and picks the best one for a device string.
// Plugins come from LLM4ALL_BACKEND_PATH first, then from the core library's own
// directory, so a user can override a bundled plugin without reinstalling.
#include "registry.h"

#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "error.h"

namespace llm4all {

namespace {

// Plugins log through the host's callback like the core does.
void forward_plugin_log(int32_t level, const char *message) {
    log_message(level, message ? message : "");
}

std::string core_library_dir() {
    Dl_info info{};
    // Any function of this library tells us where the library itself lives.
    if (!dladdr(reinterpret_cast<void *>(&core_library_dir), &info) || !info.dli_fname) return "";
    std::string path = info.dli_fname;
    size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::vector<std::string> search_dirs() {
    std::vector<std::string> dirs;
    if (const char *env = std::getenv("LLM4ALL_BACKEND_PATH")) {
        std::string s = env;
        size_t start = 0;
        while (start <= s.size()) {
            size_t colon = s.find(':', start);
            if (colon == std::string::npos) colon = s.size();
            if (colon > start) dirs.push_back(s.substr(start, colon - start));
            start = colon + 1;
        }
    }
    std::string own = core_library_dir();
    if (!own.empty()) dirs.push_back(own);
    return dirs;
}

bool is_plugin_name(const std::string &name) {
    static const std::string prefix = "libllm4all-", suffix = ".so";
    return name.size() > prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Sorted so the load order (and thus tie-breaking) does not depend on the file system.
std::vector<std::string> plugin_files(const std::string &dir) {
    std::vector<std::string> names;
    DIR *d = opendir(dir.c_str());
    if (!d) return names;
    while (dirent *e = readdir(d)) {
        std::string name = e->d_name;
        if (is_plugin_name(name)) names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

BackendPlugin load_plugin(const std::string &path) {
    BackendPlugin p;
    p.path = path;
    void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        p.problem = std::string("cannot load: ") + (why ? why : "unknown dlopen error");
        return p;
    }
    auto score_fn = reinterpret_cast<llm4all_backend_score_fn>(dlsym(handle, "llm4all_backend_score"));
    auto init_fn = reinterpret_cast<llm4all_backend_init_fn>(dlsym(handle, "llm4all_backend_init"));
    if (!score_fn || !init_fn) {
        p.problem = "not a backend plugin: missing llm4all_backend_score or llm4all_backend_init";
        dlclose(handle);
        return p;
    }
    p.score = score_fn();
    if (p.score <= 0) {
        // Never call init: the plugin may be built for instructions this CPU lacks.
        p.score = 0;
        p.problem = "needs CPU features this machine lacks";
        dlclose(handle);
        return p;
    }
    const llm4all_backend_iface *iface = init_fn(forward_plugin_log);
    if (!iface) {
        p.problem = "its init function failed";
    } else if (iface->api_version != LLM4ALL_BACKEND_API_VERSION) {
        p.problem = "plugin speaks backend API v" + std::to_string(iface->api_version) +
                    ", core expects v" + std::to_string(LLM4ALL_BACKEND_API_VERSION);
    } else if (iface->size < sizeof(llm4all_backend_iface)) {
        p.problem = "plugin's function table is too small (" + std::to_string(iface->size) +
                    " bytes, core needs " + std::to_string(sizeof(llm4all_backend_iface)) + ")";
    } else if (!iface->name || !iface->variant) {
        p.problem = "plugin's function table has no name or variant";
    }
    // The handle stays open even when refused: its init already ran, and unloading
    // code that may have registered handlers is riskier than a few idle pages.
    p.handle = handle;
    if (!p.problem.empty()) return p;
    p.iface = iface;
    return p;
}

struct Registry {
    std::vector<BackendPlugin> plugins;
    std::vector<std::string> dirs;
};

const Registry &registry() {
    // Function-local static: built once, thread-safe by the language rules.
    static const Registry reg = [] {
        Registry r;
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
                BackendPlugin p = load_plugin(path);
                if (p.iface)
                    log_message(LLM4ALL_LOG_DEBUG, "backend plugin " + path + " loaded (" + p.iface->name +
                                                       "-" + p.iface->variant + ", score " +
                                                       std::to_string(p.score) + ")");
                else
                    log_message(p.score == 0 && p.problem.rfind("needs CPU", 0) == 0 ? LLM4ALL_LOG_INFO
                                                                                      : LLM4ALL_LOG_WARN,
                                "backend plugin " + path + " not used: " + p.problem);
                r.plugins.push_back(std::move(p));
            }
        }
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

const BackendPlugin &pick_backend(const std::string &device) {
    const Registry &reg = registry();
    const BackendPlugin *best = nullptr;
    for (const BackendPlugin &p : reg.plugins)
        if (matches(p, device) && (!best || p.score > best->score)) best = &p;
    if (best) return *best;

    std::string msg = "no usable backend for device \"" + device + "\"";
    if (reg.plugins.empty()) {
        msg += ": no plugins (libllm4all-*.so) found";
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
