// model_api.cpp — C entry points for models and the tokenizer.
#include <cstring>
#include <memory>

#include "api/handles.h"
#include "api/shim.h"
#include "memory.h"

using namespace llm4all;

namespace {
bool valid_token(const llm4all_model *m, int32_t t) { return m && t >= 0 && t < m->impl.vocab().n_tokens(); }
} // namespace

extern "C" {

void llm4all_model_options_init(llm4all_model_options *o) {
    if (!o) return;
    std::memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->device = "auto";
    o->n_gpu_layers = -1;
    o->use_mmap = true;
    o->skip_memory_check = false;
}

llm4all_status llm4all_model_load(const char *path, const llm4all_model_options *options, llm4all_model **out_model) {
    return guarded([&] {
        LLM4ALL_REQUIRE(out_model, "out_model is NULL");
        *out_model = nullptr;
        LLM4ALL_REQUIRE(path, "path is NULL");
        llm4all_model_options o;
        llm4all_model_options_init(&o);
        if (options) {
            LLM4ALL_REQUIRE(options->size >= offsetof(llm4all_model_options, use_mmap) + sizeof(bool) &&
                                options->size <= sizeof o,
                            "llm4all_model_options.size is wrong: call llm4all_model_options_init()");
            std::memcpy(&o, options, options->size);
        }
        LLM4ALL_REQUIRE(o.n_gpu_layers >= -1, "n_gpu_layers must be -1 (all that fit), 0 (CPU only) or a layer count");
        std::unique_ptr<llm4all_model> m(new llm4all_model(path, o.device ? o.device : "auto", o.use_mmap));
        // Older callers' structs end before the LoRA fields: no adapters then.
        if (options && options->size >= offsetof(llm4all_model_options, n_lora) + sizeof(int32_t) && o.n_lora != 0) {
            LLM4ALL_REQUIRE(o.n_lora > 0 && o.lora, "llm4all_model_options.lora is NULL or n_lora is negative");
            for (int32_t i = 0; i < o.n_lora; ++i) {
                LLM4ALL_REQUIRE(o.lora[i].path, "llm4all_model_options.lora[i].path is NULL");
                m->impl.add_lora(o.lora[i].path, o.lora[i].scale);
            }
        }
        // Adapters first: their tensors travel with the weights they adapt.
        m->impl.place(o.n_gpu_layers);
        // Nothing large is allocated or touched yet on the CPU: its weights are unread mapped pages.
        m->skip_memory_check = o.skip_memory_check;
        if (!o.skip_memory_check) check_model_memory(m->impl);
        *out_model = m.release();
    });
}

void llm4all_model_free(llm4all_model *model) { delete model; }

llm4all_status llm4all_model_info_json(const llm4all_model *model, char **out_json) {
    return guarded([&] {
        LLM4ALL_REQUIRE(model && out_json, "model or out_json is NULL");
        *out_json = dup_string(model->impl.info_json());
    });
}

int32_t llm4all_model_n_vocab(const llm4all_model *m) { return m ? m->impl.hparams().n_vocab : 0; }
int32_t llm4all_model_n_ctx_train(const llm4all_model *m) { return m ? m->impl.hparams().n_ctx_train : 0; }
int32_t llm4all_model_token_bos(const llm4all_model *m) { return m ? m->impl.vocab().bos() : -1; }
int32_t llm4all_model_token_eos(const llm4all_model *m) { return m ? m->impl.vocab().eos() : -1; }
bool llm4all_model_token_is_eog(const llm4all_model *m, int32_t t) { return valid_token(m, t) && m->impl.vocab().is_eog(t); }

llm4all_status llm4all_tokenize(const llm4all_model *model, const char *text, size_t len, bool add_special,
                                bool parse_special, int32_t **out_tokens, size_t *out_n_tokens) {
    return guarded([&] {
        LLM4ALL_REQUIRE(model && out_tokens && out_n_tokens, "model, out_tokens or out_n_tokens is NULL");
        *out_tokens = nullptr;
        *out_n_tokens = 0;
        LLM4ALL_REQUIRE(text || len == 0, "text is NULL");
        std::vector<int32_t> ids = model->impl.vocab().tokenize(std::string_view(text ? text : "", len), add_special, parse_special);
        int32_t *buf = static_cast<int32_t *>(std::malloc(std::max<size_t>(ids.size(), 1) * sizeof(int32_t)));
        if (!buf) throw std::bad_alloc();
        if (!ids.empty()) std::memcpy(buf, ids.data(), ids.size() * sizeof(int32_t));
        *out_tokens = buf;
        *out_n_tokens = ids.size();
    });
}

llm4all_status llm4all_detokenize(const llm4all_model *model, const int32_t *tokens, size_t n_tokens,
                                  bool render_special, char **out_text, size_t *out_len) {
    return guarded([&] {
        LLM4ALL_REQUIRE(model && out_text, "model or out_text is NULL");
        LLM4ALL_REQUIRE(tokens || n_tokens == 0, "tokens is NULL");
        *out_text = nullptr;
        std::string s = model->impl.vocab().detokenize(std::vector<int32_t>(tokens, tokens + n_tokens), render_special);
        *out_text = dup_string(s);
        if (out_len) *out_len = s.size();
    });
}

llm4all_status llm4all_token_to_piece(const llm4all_model *model, int32_t token, bool render_special, char **out,
                                      size_t *out_len) {
    return guarded([&] {
        LLM4ALL_REQUIRE(model && out, "model or out is NULL");
        *out = nullptr;
        if (out_len) *out_len = 0;
        std::string s = model->impl.vocab().token_to_piece(token, render_special);
        *out = dup_string(s);
        if (out_len) *out_len = s.size();
    });
}

} // extern "C"
