// devices.cpp — listing devices and choosing them from a device string.
// "auto" never picks an emulated device (lavapipe runs on the CPU, slower than
// the CPU backend itself); "gpu" takes one only when it is the only GPU.
#include "devices.h"

#include <algorithm>
#include <cstdlib>

#include "error.h"

namespace llm4all {

namespace {

// The GPU APIs llm4all has plugins for, plus any other non-CPU plugin found.
std::vector<std::string> gpu_kinds() {
    std::vector<std::string> kinds = {"cuda", "metal", "vulkan"};
    for (const BackendPlugin &p : backend_plugins())
        if (p.iface && p.backend != "cpu" && std::find(kinds.begin(), kinds.end(), p.backend) == kinds.end())
            kinds.push_back(p.backend);
    return kinds;
}

bool is_cpu_string(const std::string &d) { return d == "cpu" || d.rfind("cpu-", 0) == 0; }

DeviceRef describe(const BackendPlugin &p, int32_t index) {
    DeviceRef r;
    r.plugin = &p;
    r.index = index;
    if (!p.iface->device_info(index, &r.info)) r.info = llm4all_device_info{};
    if (!r.info.name) r.info.name = "";
    if (!r.info.kind) r.info.kind = p.iface->name;
    if (!r.info.description) r.info.description = "";
    return r;
}

// Better GPU first: not emulated, then the plugin's score, then free memory.
bool better(const DeviceRef &a, const DeviceRef &b) {
    if (a.emulated() != b.emulated()) return !a.emulated();
    if (a.plugin->score != b.plugin->score) return a.plugin->score > b.plugin->score;
    return a.info.memory_free > b.info.memory_free;
}

// Why no device of this kind can be used: the plugin's refusal, or its absence.
std::string why_no(const std::string &kind) {
    for (const BackendPlugin &p : backend_plugins())
        if (p.backend == kind && !p.iface) return "the " + kind + " plugin (" + p.path + ") refused: " + p.problem;
    for (const BackendPlugin &p : backend_plugins())
        if (p.backend == kind && p.iface) return "the " + kind + " plugin found no device";
    return "no " + kind + " plugin (libllm4all-" + kind + ".so) was found: this build of llm4all has no " + kind +
           " support";
}

std::string listing(const std::vector<DeviceRef> &all) {
    std::string s;
    for (const DeviceRef &d : all) s += (s.empty() ? "" : ", ") + d.label();
    return s;
}

} // namespace

std::string DeviceRef::id() const {
    const std::string kind = plugin->iface->name;
    return kind == "cpu" ? kind : kind + ":" + std::to_string(index);
}

std::string DeviceRef::label() const {
    std::string s = id() + " (" + info.name + ")";
    if (emulated()) s += " [emulated]";
    return s;
}

std::vector<DeviceRef> list_devices() {
    std::vector<DeviceRef> out;
    for (int pass = 0; pass < 2; ++pass)
        for (const BackendPlugin &p : backend_plugins()) {
            if (!p.iface || !p.selected || (p.backend == "cpu") != (pass == 0)) continue;
            for (int32_t i = 0; i < p.iface->device_count(); ++i) out.push_back(describe(p, i));
        }
    return out;
}

std::vector<DeviceRef> pick_devices(const std::string &device) {
    const std::string d = device.empty() ? "auto" : device;
    std::vector<DeviceRef> out;
    out.push_back(describe(pick_backend(is_cpu_string(d) ? d : "cpu"), 0));
    if (is_cpu_string(d)) return out;

    std::vector<DeviceRef> gpus;
    for (const DeviceRef &r : list_devices())
        if (std::string(r.plugin->iface->name) != "cpu") gpus.push_back(r);
    auto best = [&](bool allow_emulated) -> const DeviceRef * {
        const DeviceRef *b = nullptr;
        for (const DeviceRef &r : gpus)
            if ((allow_emulated || !r.emulated()) && (!b || better(r, *b))) b = &r;
        return b;
    };

    if (d == "auto") {
        if (const DeviceRef *g = best(false)) {
            out.push_back(*g);
            log_message(LLM4ALL_LOG_INFO, "device auto: " + g->label());
        } else {
            std::string why;
            for (const std::string &k : gpu_kinds()) why += "; " + why_no(k);
            if (const DeviceRef *e = best(true)) why += "; " + e->label() + " is emulated (slower than the CPU)";
            log_message(LLM4ALL_LOG_INFO, "device auto: running on the CPU" + why);
        }
        return out;
    }
    if (d == "gpu") {
        const DeviceRef *g = best(false);
        if (!g && (g = best(true)))
            log_message(LLM4ALL_LOG_WARN, "device gpu: the only GPU is " + g->label() +
                                              ", emulated on the CPU: expect it to be slower than device cpu");
        if (!g) {
            std::string why;
            for (const std::string &k : gpu_kinds()) why += "\n  " + why_no(k);
            fail(LLM4ALL_ERR_BACKEND, "device \"gpu\": no GPU can be used here:" + why);
        }
        out.push_back(*g);
        return out;
    }
    // kind or kind:index
    const size_t colon = d.find(':');
    const std::string kind = d.substr(0, colon);
    for (const std::string &k : gpu_kinds()) {
        if (kind != k) continue;
        int64_t index = 0;
        if (colon != std::string::npos) {
            const std::string num = d.substr(colon + 1);
            char *end = nullptr;
            index = num.empty() ? -1 : std::strtoll(num.c_str(), &end, 10);
            if (num.empty() || *end || index < 0)
                fail(LLM4ALL_ERR_INVALID_ARGUMENT, "device \"" + d + "\": the index after ':' must be a number >= 0");
        }
        std::vector<const DeviceRef *> of_kind;
        for (const DeviceRef &r : gpus)
            if (r.plugin->iface->name == k) of_kind.push_back(&r);
        if (of_kind.empty()) fail(LLM4ALL_ERR_BACKEND, "device \"" + d + "\" cannot be used: " + why_no(k));
        if (index >= int64_t(of_kind.size())) {
            std::string have;
            for (const DeviceRef *r : of_kind) have += (have.empty() ? "" : ", ") + r->label();
            fail(LLM4ALL_ERR_BACKEND, "device \"" + d + "\": there is no " + k + " device " + std::to_string(index) +
                                          "; the " + k + " devices are " + have);
        }
        out.push_back(*of_kind[size_t(index)]);
        return out;
    }
    for (const DeviceRef &r : gpus)
        if (d == r.info.name) {
            out.push_back(r);
            return out;
        }
    fail(LLM4ALL_ERR_BACKEND, "unknown device \"" + d + "\": use auto, cpu, gpu, cuda, metal, vulkan, " +
                                           "<kind>:<n> or a device's name; the devices here are " +
                                           listing(list_devices()));
}

} // namespace llm4all
