// embed_api.cpp — C entry points for embedding models: the vector length and
// llm4all_embed / llm4all_embed_tokens over the pipeline in encode.h.
#include <cstring>

#include "api/handles.h"
#include "api/options.h"
#include "api/shim.h"
#include "encode.h"

using namespace llm4all;

namespace {

EmbedParams read_embed_options(const llm4all_embed_options *given) {
    const llm4all_embed_options o = read_options(given, llm4all_embed_options_init, "llm4all_embed_options");
    LLM4ALL_REQUIRE(o.long_text >= LLM4ALL_LONG_TEXT_MEAN && o.long_text <= LLM4ALL_LONG_TEXT_ERROR,
                    "llm4all_embed_options.long_text must be LLM4ALL_LONG_TEXT_MEAN, _TRUNCATE or _ERROR");
    LLM4ALL_REQUIRE(o.pooling == LLM4ALL_POOLING_FROM_FILE || (o.pooling >= LLM4ALL_POOLING_MEAN && o.pooling <= LLM4ALL_POOLING_LAST),
                    "llm4all_embed_options.pooling must be LLM4ALL_POOLING_FROM_FILE, _MEAN, _CLS or _LAST");
    EmbedParams p;
    p.n_threads = o.n_threads;
    p.normalize = o.normalize;
    p.dimensionality = o.dimensionality;
    if (o.prefix) {
        validate_utf8_arg(o.prefix, "llm4all_embed_options.prefix");
        p.prefix = o.prefix;
    }
    p.pooling = o.pooling;
    p.long_text = static_cast<LongText>(o.long_text);
    p.n_ctx = o.n_ctx;
    if (o.on_batch) {
        llm4all_on_embed_batch fn = o.on_batch;
        void *user = o.user;
        p.on_batch = [fn, user](const int32_t *n, size_t count) { return fn(n, count, user); };
    }
    return p;
}

// The vectors as one malloc'd block for the caller (llm4all_free).
float *to_caller(const std::vector<float> &v) {
    float *buf = static_cast<float *>(std::malloc(std::max<size_t>(v.size(), 1) * sizeof(float)));
    if (!buf) throw std::bad_alloc();
    if (!v.empty()) std::memcpy(buf, v.data(), v.size() * sizeof(float));
    return buf;
}

} // namespace

extern "C" {

int32_t llm4all_model_embedding_dim(const llm4all_model *m) { return m ? m->impl.hparams().n_embd_out : 0; }

void llm4all_embed_options_init(llm4all_embed_options *o) {
    if (!o) return;
    std::memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->normalize = true;
    o->pooling = LLM4ALL_POOLING_FROM_FILE;
    o->long_text = LLM4ALL_LONG_TEXT_MEAN;
}

llm4all_status llm4all_embed(const llm4all_model *model, const char *const *texts, const size_t *text_lens,
                             size_t n_texts, const llm4all_embed_options *options, float **out_vectors,
                             int32_t *out_dim, uint64_t *out_n_tokens) {
    return guarded([&] {
        LLM4ALL_REQUIRE(model && out_vectors && out_dim, "model, out_vectors or out_dim is NULL");
        *out_vectors = nullptr;
        *out_dim = 0;
        if (out_n_tokens) *out_n_tokens = 0;
        const EmbedParams p = read_embed_options(options);
        LLM4ALL_REQUIRE(n_texts > 0, "n_texts is 0: nothing to embed");
        LLM4ALL_REQUIRE(texts, "texts is NULL");
        std::vector<std::string_view> views(n_texts);
        for (size_t i = 0; i < n_texts; ++i) {
            LLM4ALL_REQUIRE(texts[i], "texts[" + std::to_string(i) + "] is NULL");
            views[i] = text_lens ? std::string_view(texts[i], text_lens[i]) : std::string_view(texts[i]);
        }
        int32_t dim = 0;
        uint64_t n_tokens = 0;
        const std::vector<float> v = embed_texts(model->impl, views, p, &dim, &n_tokens);
        *out_vectors = to_caller(v);
        *out_dim = dim;
        if (out_n_tokens) *out_n_tokens = n_tokens;
    });
}

llm4all_status llm4all_embed_tokens(const llm4all_model *model, const int32_t *const *tokens, const size_t *n_tokens,
                                    size_t n_seqs, const llm4all_embed_options *options, float **out_vectors,
                                    int32_t *out_dim) {
    return guarded([&] {
        LLM4ALL_REQUIRE(model && out_vectors && out_dim, "model, out_vectors or out_dim is NULL");
        *out_vectors = nullptr;
        *out_dim = 0;
        const EmbedParams p = read_embed_options(options);
        LLM4ALL_REQUIRE(n_seqs > 0, "n_seqs is 0: nothing to embed");
        LLM4ALL_REQUIRE(tokens && n_tokens, "tokens or n_tokens is NULL");
        std::vector<std::vector<int32_t>> seqs(n_seqs);
        for (size_t i = 0; i < n_seqs; ++i) {
            LLM4ALL_REQUIRE(tokens[i] || n_tokens[i] == 0, "tokens[" + std::to_string(i) + "] is NULL");
            seqs[i].assign(tokens[i], tokens[i] + n_tokens[i]);
        }
        int32_t dim = 0;
        const std::vector<float> v = embed_token_seqs(model->impl, seqs, p, &dim, nullptr);
        *out_vectors = to_caller(v);
        *out_dim = dim;
    });
}

} // extern "C"
