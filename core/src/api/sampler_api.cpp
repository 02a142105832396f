// sampler_api.cpp — C entry points for standalone samplers (one per sequence),
// the chain generate uses, for callers that drive decoding themselves.
#include <cmath>

#include "api/options.h"
#include "api/shim.h"
#include "sampler.h"

using namespace llm4all;

struct llm4all_sampler {
    llm4all::Sampler impl;
    explicit llm4all_sampler(const llm4all_sampler_options &o) : impl(o) {}
};

extern "C" {

llm4all_status llm4all_sampler_new(const llm4all_sampler_options *options, llm4all_sampler **out) {
    return guarded([&] {
        LLM4ALL_REQUIRE(out, "out is NULL");
        *out = nullptr;
        const llm4all_sampler_options o =
            read_options(options, llm4all_sampler_options_init, "llm4all_sampler_options");
        *out = new llm4all_sampler(o);
    });
}

void llm4all_sampler_free(llm4all_sampler *sampler) { delete sampler; }

llm4all_status llm4all_sampler_sample(llm4all_sampler *sampler, const float *logits, int32_t n_vocab,
                                      int32_t *out_token) {
    return guarded([&] {
        LLM4ALL_REQUIRE(sampler && logits && out_token, "sampler, logits or out_token is NULL");
        LLM4ALL_REQUIRE(n_vocab > 0, "n_vocab must be positive");
        *out_token = sampler->impl.sample(logits, n_vocab);
    });
}

llm4all_status llm4all_sampler_accept(llm4all_sampler *sampler, int32_t token) {
    return guarded([&] {
        LLM4ALL_REQUIRE(sampler, "sampler is NULL");
        LLM4ALL_REQUIRE(token >= 0, "token id " + std::to_string(token) + " is negative");
        sampler->impl.accept(token);
    });
}

} // extern "C"
