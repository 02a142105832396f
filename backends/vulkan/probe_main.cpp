// probe_main.cpp — llm4all-vulkan-probe PLUGIN: loads the Vulkan plugin in a process
// of its own and prints its devices (probe.h says why this runs in a child).
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: llm4all-vulkan-probe PATH_TO_libllm4all-vulkan.so\n");
        return 2;
    }
    void *plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!plugin) {
        std::fprintf(stderr, "llm4all-vulkan-probe: %s\n", dlerror());
        return 3;
    }
    using print_fn = int32_t (*)(int);
    auto print = reinterpret_cast<print_fn>(dlsym(plugin, "llm4all_vulkan_print_devices"));
    if (!print) {
        std::fprintf(stderr, "llm4all-vulkan-probe: %s is not the Vulkan plugin\n", argv[1]);
        return 4;
    }
    return print(1) == 0 ? 0 : 5;
}
