// fuzz_jinja.cpp — the chat template engine with both halves hostile: the input is
// a template, a NUL byte, then the JSON context it renders over (no NUL: the
// template is rendered over a fixed chat context). Parse and render must end in
// text or an llm4all::Error, within the sandbox's limits (tightened here so one
// input stays fast); a crash, hang or memory blow-up is a finding.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "fuzz_common.h"
#include "jinja/jinja.h"

using namespace llm4all;

namespace {
constexpr std::string_view k_context =
    R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi <b>"},)"
    R"({"role":"assistant","content":"Hello","tool_calls":[{"type":"function","function":{"name":"f",)"
    R"("arguments":{"x":1,"y":[1.5,null,true]}}}]},{"role":"tool","content":"42"}],)"
    R"("add_generation_prompt":true,"bos_token":"<s>","eos_token":"</s>","tools":[{"name":"f"}]})";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view in(reinterpret_cast<const char *>(data), size);
    const size_t nul = in.find('\0');
    const std::string_view tpl = in.substr(0, nul);
    const std::string_view ctx_json = nul == std::string_view::npos ? k_context : in.substr(nul + 1);
    jinja::Limits lim;
    lim.max_steps = 200'000;
    lim.max_output_bytes = 1u << 20;
    lim.max_string_bytes = 1u << 20;
    lim.max_alloc_bytes = 16u << 20;
    lim.max_list_items = 100'000;
    lim.max_milliseconds = 0;   // the step limit must stop every template on its own
    fuzz::expect_clean([&] {
        jinja::Value ctx = jinja::context_from_json(ctx_json);
        jinja::Template t = jinja::Template::parse(tpl, lim);
        (void)t.render(ctx, lim);
    });
    return 0;
}
