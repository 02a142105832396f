// probe.cpp — runs llm4all-vulkan-probe and reads its answer (probe.h says why);
// print_devices is the child's side of the same line format:
//   device<TAB>caps<TAB>memory_total<TAB>memory_free<TAB>name<TAB>description
//   none<TAB>why there is no device
//   end                     (the answer is complete)
#include "probe.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "device.h"

extern char **environ;

namespace llm4all::vk {

namespace {

// A driver that hangs while listing its devices would hang the caller too; past this
// the child is killed and Vulkan reports no device.
constexpr int k_timeout_ms = 30000;

std::string one_line(std::string s) {
    for (char &c : s)
        if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    return s;
}

// This plugin's own file ("" when unknown): the probe sits beside it and loads it.
std::string plugin_path() {
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void *>(&print_devices), &info) || !info.dli_fname) return "";
    return info.dli_fname;
}

// The child's stdout, or "" when it could not run or gave no complete answer.
// timed_out is set when it was killed for taking too long.
std::string run_child(const std::string &exe, const std::string &plugin, bool *timed_out) {
    int fds[2];
    if (pipe(fds) != 0) return "";   // not pipe2: macOS lacks it
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    std::string a0 = exe, a1 = plugin;
    char *argv[] = {a0.data(), a1.data(), nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return "";
    }
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(k_timeout_ms);
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            *timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int n = poll(&p, 1, int(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;   // timeout: the loop's check kills the child
        char buf[4096];
        const ssize_t got = read(fds[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        out.append(buf, size_t(got));
        if (out.size() > (1u << 20)) {   // not what the probe writes
            kill(pid, SIGKILL);
            out.clear();
            break;
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const bool complete = out.size() >= 4 && out.compare(out.size() - 4, 4, "end\n") == 0;
    return complete && !*timed_out ? out : "";
}

Probe run_probe() {
    Probe p;
    const char *env = std::getenv("LLM4ALL_VULKAN_PROBE");
    if (env && std::strcmp(env, "0") == 0) return p;
    const std::string plugin = plugin_path();
    const size_t slash = plugin.rfind('/');
    if (slash == std::string::npos) return p;
    const std::string exe = plugin.substr(0, slash) + "/llm4all-vulkan-probe";
    if (access(exe.c_str(), X_OK) != 0) return p;
    bool timed_out = false;
    const std::string out = run_child(exe, plugin, &timed_out);
    if (timed_out) {
        p.ran = true;
        p.problem = "no Vulkan device (listing the devices took over " + std::to_string(k_timeout_ms / 1000) +
                    " s: a driver hung; LLM4ALL_VULKAN_PROBE=0 lists them in this process)";
        return p;
    }
    if (out.empty()) return p;   // the child failed: ask in this process instead
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        std::vector<std::string> f;
        size_t start = 0;
        for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
            f.push_back(line.substr(start, tab - start));
        f.push_back(line.substr(start));
        if (f[0] == "none" && f.size() == 2) {
            p.problem = f[1];
        } else if (f[0] == "device" && f.size() == 6) {
            ProbedDevice d;
            d.caps = uint32_t(std::strtoul(f[1].c_str(), nullptr, 10));
            d.memory_total = std::strtoull(f[2].c_str(), nullptr, 10);
            d.memory_free = std::strtoull(f[3].c_str(), nullptr, 10);
            d.name = f[4];
            d.description = f[5];
            p.devices.push_back(std::move(d));
        } else if (f[0] != "end") {
            return Probe{};   // not this plugin's format: ask in this process
        }
    }
    if (p.devices.empty() && p.problem.empty()) p.problem = "no Vulkan device";
    p.ran = true;
    return p;
}

} // namespace

const Probe &probe() {
    static const Probe p = run_probe();
    return p;
}

int32_t print_devices(int fd) {
    std::string out, why;
    Instance *inst = instance(&why);
    if (!inst) {
        out = "none\t" + one_line(why) + "\n";
    } else {
        for (const auto &d : inst->devices) {
            uint64_t total = 0, free_bytes = 0;
            d->memory(&total, &free_bytes);
            out += "device\t" + std::to_string(d->caps()) + "\t" + std::to_string(total) + "\t" +
                   std::to_string(free_bytes) + "\t" + one_line(d->name()) + "\t" + one_line(d->description()) + "\n";
        }
    }
    out += "end\n";
    for (size_t done = 0; done < out.size();) {
        const ssize_t n = write(fd, out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 1;
        done += size_t(n);
    }
    return 0;
}

} // namespace llm4all::vk

extern "C" __attribute__((visibility("default"))) int32_t llm4all_vulkan_print_devices(int fd) {
    return llm4all::vk::print_devices(fd);
}
