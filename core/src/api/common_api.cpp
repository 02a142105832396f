// common_api.cpp — C entry points that belong to no object: errors, versions,
// freeing returned buffers, logging, device listing.
#include <cstdlib>
#include <string>

#include "api/shim.h"
#include "registry.h"
#include "gguf.h"
#include "types.h"

namespace llm4all {
const char *last_error_cstr();
void set_log_callback(llm4all_log_fn fn, void *user);
} // namespace llm4all

using namespace llm4all;

namespace {
// The weight types a device multiplies by, as a JSON array of names.
std::string supported_types(const llm4all_backend_iface &be, int32_t device) {
    std::string j = "[";
    for (int32_t t = 0; t < 64; ++t) {
        const TypeInfo *ti = type_info(t);
        if (!ti || !be.device_supports(device, LLM4ALL_OP_MUL_MAT, t)) continue;
        j += (j.size() > 1 ? ",\"" : "\"") + std::string(ti->name) + "\"";
    }
    return j + "]";
}
} // namespace

extern "C" {

const char *llm4all_last_error(void) { return last_error_cstr(); }

const char *llm4all_status_name(llm4all_status status) {
    switch (status) {
    case LLM4ALL_OK: return "LLM4ALL_OK";
    case LLM4ALL_ERR_INVALID_ARGUMENT: return "LLM4ALL_ERR_INVALID_ARGUMENT";
    case LLM4ALL_ERR_IO: return "LLM4ALL_ERR_IO";
    case LLM4ALL_ERR_BAD_GGUF: return "LLM4ALL_ERR_BAD_GGUF";
    case LLM4ALL_ERR_UNSUPPORTED: return "LLM4ALL_ERR_UNSUPPORTED";
    case LLM4ALL_ERR_OUT_OF_MEMORY: return "LLM4ALL_ERR_OUT_OF_MEMORY";
    case LLM4ALL_ERR_CONTEXT_FULL: return "LLM4ALL_ERR_CONTEXT_FULL";
    case LLM4ALL_ERR_BACKEND: return "LLM4ALL_ERR_BACKEND";
    case LLM4ALL_ERR_BAD_UTF8: return "LLM4ALL_ERR_BAD_UTF8";
    case LLM4ALL_ERR_CANCELLED: return "LLM4ALL_ERR_CANCELLED";
    case LLM4ALL_ERR_TEMPLATE: return "LLM4ALL_ERR_TEMPLATE";
    case LLM4ALL_ERR_INTERNAL: return "LLM4ALL_ERR_INTERNAL";
    default: return "LLM4ALL_ERR_UNKNOWN";
    }
}

uint32_t llm4all_abi_version(void) { return LLM4ALL_ABI_VERSION; }
const char *llm4all_version(void) { return LLM4ALL_VERSION_STRING; }
void llm4all_free(void *ptr) { std::free(ptr); }

void llm4all_set_log_callback(llm4all_log_fn fn, void *user) { set_log_callback(fn, user); }

llm4all_status llm4all_devices_json(char **out_json) {
    return guarded([&] {
        LLM4ALL_REQUIRE(out_json, "out_json is NULL");
        std::string j = "[";
        bool first = true;
        for (const BackendPlugin &p : backend_plugins()) {
            if (!first) j += ",";
            first = false;
            j += "{\"plugin\":\"" + json_escape(p.path) + "\",\"score\":" + std::to_string(p.score) +
                 ",\"backend\":\"" + json_escape(p.backend) + "\",\"variant\":\"" + json_escape(p.variant) +
                 "\",\"selected\":" + (p.selected ? "true" : "false");
            if (!p.iface) {
                j += ",\"problem\":\"" + json_escape(p.problem) + "\"}";
                continue;
            }
            j += ",\"devices\":[";
            for (int32_t d = 0; d < p.iface->device_count(); ++d) {
                llm4all_device_info info{};
                if (!p.iface->device_info(d, &info)) continue;
                if (d) j += ",";
                j += std::string("{\"name\":\"") + json_escape(info.name ? info.name : "") +
                     "\",\"kind\":\"" + json_escape(info.kind ? info.kind : "") +
                     "\",\"memory_total\":" + std::to_string(info.memory_total) +
                     ",\"memory_free\":" + std::to_string(info.memory_free) +
                     ",\"id\":\"" + json_escape(p.backend == "cpu" ? "cpu" : p.backend + ":" + std::to_string(d)) +
                     "\",\"emulated\":" + ((info.caps & LLM4ALL_CAP_EMULATED) ? "true" : "false") +
                     ",\"f16\":" + ((info.caps & LLM4ALL_CAP_F16) ? "true" : "false") +
                     ",\"description\":\"" + json_escape(info.description ? info.description : "") + "\"" +
                     ",\"supports\":" + supported_types(*p.iface, d) + "}";
            }
            j += "]}";
        }
        j += "]";
        *out_json = dup_string(j);
    });
}

} // extern "C"
