// source.cpp — puts a kernel's source together for the run-time compiler: Metal's
// newLibraryWithSource has no file system to resolve #include "..." from, so the
// embedded files are spliced in here (plain C++: no Metal needed to build or test it).
#include <set>
#include <stdexcept>

#include "shaders.h"

namespace llm4all::mt {

namespace {

// The file name of a line `#include "x"` (spaces allowed around #), else "".
std::string quoted_include(const std::string &line) {
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string::npos || line[i] != '#') return "";
    i = line.find_first_not_of(" \t", i + 1);
    if (i == std::string::npos || line.compare(i, 7, "include") != 0) return "";
    const size_t a = line.find('"', i + 7);
    if (a == std::string::npos) return "";
    const size_t b = line.find('"', a + 1);
    if (b == std::string::npos) return "";
    return line.substr(a + 1, b - a - 1);
}

void splice(const std::string &name, std::set<std::string> &seen, std::string &out) {
    if (!seen.insert(name).second) return;
    const ShaderFile *f = find_shader_file(name.c_str());
    if (!f) throw std::runtime_error("metal: no embedded kernel source shaders/" + name);
    const std::string text(reinterpret_cast<const char *>(f->text), f->bytes);
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(pos, end - pos);
        const std::string inc = quoted_include(line);
        if (inc.empty()) {
            out += line;
            out += '\n';
        } else {
            splice(inc, seen, out);
        }
        pos = end + 1;
    }
}

} // namespace

std::string shader_source(const char *file) {
    std::set<std::string> seen;
    std::string out;
    splice(file, seen, out);
    return out;
}

std::vector<std::pair<std::string, std::string>> shader_defines(const char *defines) {
    std::vector<std::pair<std::string, std::string>> out;
    const std::string s = defines ? defines : "";
    size_t pos = 0;
    while (pos < s.size()) {
        size_t end = s.find(',', pos);
        if (end == std::string::npos) end = s.size();
        const std::string item = s.substr(pos, end - pos);
        if (!item.empty()) {
            const size_t eq = item.find('=');
            if (eq == std::string::npos)
                out.emplace_back(item, "1");
            else
                out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        }
        pos = end + 1;
    }
    return out;
}

std::string shader_function(const char *source) {
    std::string s = source;
    const size_t dot = s.rfind('.');
    return dot == std::string::npos ? s : s.substr(0, dot);
}

} // namespace llm4all::mt
