/* llm4all.h — the public C ABI of the llm4all engine.
 * This is the only header other languages see. Every fallible call returns an
 * llm4all_status (0 = OK, < 0 = error); llm4all_last_error() then explains it.
 * Strings are UTF-8. Ownership is stated on every function. */
#ifndef LLM4ALL_H
#define LLM4ALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(LLM4ALL_BUILDING)
#    define LLM4ALL_API __declspec(dllexport)
#  else
#    define LLM4ALL_API __declspec(dllimport)
#  endif
#else
#  define LLM4ALL_API __attribute__((visibility("default")))
#endif

/* Bumped when a function's signature or a struct's existing fields change.
 * Appending fields to an options struct does not bump it (the size field tells),
 * except where that struct is embedded by value in another one.
 * 2: llm4all_sampler_options gained presence_penalty and frequency_penalty, which
 *    moved the fields after llm4all_generate_options.sampling (stop, n_stop). */
#define LLM4ALL_ABI_VERSION 2

/* ---- status and errors ------------------------------------------------- */

typedef int32_t llm4all_status;

enum {
    LLM4ALL_OK = 0,
    LLM4ALL_ERR_INVALID_ARGUMENT = -1, /* NULL pointer, bad option value, bad token id */
    LLM4ALL_ERR_IO = -2,               /* file missing, unreadable, mmap failed */
    LLM4ALL_ERR_BAD_GGUF = -3,         /* the file is not a well-formed GGUF */
    LLM4ALL_ERR_UNSUPPORTED = -4,      /* valid file, but an architecture/type we lack */
    LLM4ALL_ERR_OUT_OF_MEMORY = -5,
    LLM4ALL_ERR_CONTEXT_FULL = -6,     /* the tokens do not fit in n_ctx */
    LLM4ALL_ERR_BACKEND = -7,          /* no usable backend plugin, or it failed */
    LLM4ALL_ERR_BAD_UTF8 = -8,         /* input text is not valid UTF-8 */
    LLM4ALL_ERR_CANCELLED = -9,        /* a progress callback asked to stop */
    LLM4ALL_ERR_TEMPLATE = -10,        /* a chat template failed to parse or render, or hit a limit */
    LLM4ALL_ERR_INTERNAL = -99
};

/* Thread-local description of the last error on this thread. Never NULL.
 * Valid until the next llm4all call on the same thread. */
LLM4ALL_API const char *llm4all_last_error(void);

/* Short name of a status code, e.g. "LLM4ALL_ERR_BAD_GGUF". Static storage. */
LLM4ALL_API const char *llm4all_status_name(llm4all_status status);

LLM4ALL_API uint32_t llm4all_abi_version(void);
/* Version of the library, e.g. "0.1.0". Static storage. */
LLM4ALL_API const char *llm4all_version(void);

/* Frees any buffer this library returned through an out-parameter (strings,
 * token arrays, float arrays). NULL is allowed. */
LLM4ALL_API void llm4all_free(void *ptr);

/* ---- logging ------------------------------------------------------------ */

typedef enum llm4all_log_level {
    LLM4ALL_LOG_DEBUG = 0,
    LLM4ALL_LOG_INFO = 1,
    LLM4ALL_LOG_WARN = 2,
    LLM4ALL_LOG_ERROR = 3
} llm4all_log_level;

typedef void (*llm4all_log_fn)(int32_t level, const char *message, void *user);

/* Routes all library logging to fn (NULL = silence). The default prints
 * warnings and errors to stderr. Not thread-safe against concurrent logging. */
LLM4ALL_API void llm4all_set_log_callback(llm4all_log_fn fn, void *user);

/* ---- backends ------------------------------------------------------------ */

/* JSON array describing the backend plugins found and their devices:
 * [{"backend":"cpu","variant":"avx2","plugin":"/path/libllm4all-cpu-avx2.so","score":..,
 *   "selected":true, "devices":[{"name":..,"kind":"cpu","memory_total":..,"memory_free":..,
 *   "id":"cpu"|"vulkan:0"|..,"emulated":false,"f16":..,"description":..,"supports":["F32","Q4_0",..]}]}].
 * "id" is what llm4all_model_options.device accepts; "supports" the weight types it multiplies by.
 * "selected" marks the variant each backend runs (the best score, or the one
 * LLM4ALL_CPU_VARIANT forces); a plugin that cannot be used has score 0 and a
 * "problem" saying why instead of "devices".
 * *out_json is owned by the caller (llm4all_free). */
LLM4ALL_API llm4all_status llm4all_devices_json(char **out_json);

/* ---- GGUF inspection (no model load) ------------------------------------ */

/* Parses and validates a GGUF file and describes it as JSON:
 * {"version":3,"alignment":32,"metadata":{key:value,...},"tensors":[{"name":..,
 *  "type":"Q4_1","shape":[..],"offset":..,"size":..}]}. Large arrays (over
 * max_array items; 0 = no limit) are abbreviated to {"type":..,"length":N}.
 * *out_json is owned by the caller (llm4all_free). */
LLM4ALL_API llm4all_status llm4all_gguf_describe(const char *path, uint64_t max_array,
                                                 char **out_json);

/* Checks that a GGUF file describes a model this library can load, from its header
 * alone (no weights read, no backend): the architecture is supported, every shared
 * hyper-parameter is present and in range, heads divide, and the keys agree with
 * the tensors' shapes and layer count. LLM4ALL_ERR_UNSUPPORTED for an unknown
 * architecture, LLM4ALL_ERR_BAD_GGUF (message naming the key and value) for a
 * nonsense one. llm4all_model_load runs the same checks. */
LLM4ALL_API llm4all_status llm4all_gguf_check_model(const char *path);

/* Reads one tensor of a GGUF file, dequantized to float32 in file order
 * (ne[0] fastest). *out_values (caller frees with llm4all_free) has
 * *out_count elements. */
LLM4ALL_API llm4all_status llm4all_gguf_read_tensor_f32(const char *path, const char *tensor_name,
                                                        float **out_values, uint64_t *out_count);

/* ---- model ---------------------------------------------------------------- */

typedef struct llm4all_model llm4all_model;

/* One LoRA adapter for llm4all_model_options.lora. */
typedef struct llm4all_lora_adapter {
    const char *path;     /* adapter GGUF file */
    float scale;          /* 1 = as trained; 0 = off; may be negative */
} llm4all_lora_adapter;

typedef struct llm4all_model_options {
    uint32_t size;        /* sizeof(llm4all_model_options); set by _init */
    /* "auto" (the best GPU that is not emulated, else the CPU), "cpu", "gpu", "vulkan",
     * "cuda", "metal", "<kind>:<n>" (e.g. "vulkan:1"), or a device's exact name (NULL =
     * "auto"). A named device that cannot be used fails the load saying why. */
    const char *device;
    /* Layers on that device, counted from the last; the output head goes with the last
     * layer. -1 = all that fit its memory; 0 = CPU only. The rest run on the CPU. */
    int32_t n_gpu_layers;
    bool use_mmap;        /* map weights instead of reading them (default true) */
    /* Appended (LoRA): n_lora adapters applied to the model's weights at load, each a
     * llama.cpp-format adapter GGUF (general.type "adapter", adapter.type "lora");
     * every product with an adapted weight w becomes w x + scale * (alpha / r) B (A x).
     * An adapter for another architecture or other shapes fails the load with
     * LLM4ALL_ERR_INVALID_ARGUMENT naming the file and the reason. The array and
     * paths need only live during llm4all_model_load. Default NULL / 0. */
    const llm4all_lora_adapter *lora;
    int32_t n_lora;
    /* Appended (memory check): false (default) = llm4all_model_load and
     * llm4all_session_new fail with LLM4ALL_ERR_OUT_OF_MEMORY, naming the numbers,
     * when the estimate (llm4all_gguf_estimate_memory) exceeds the memory available
     * (MemAvailable, a lower cgroup limit, or $LLM4ALL_MEMORY_LIMIT); true = load anyway. */
    bool skip_memory_check;
} llm4all_model_options;

LLM4ALL_API void llm4all_model_options_init(llm4all_model_options *options);

/* Loads a GGUF model. options may be NULL for defaults. On success *out_model
 * is owned by the caller (llm4all_model_free). The model is immutable and may
 * be shared by sessions on several threads. */
LLM4ALL_API llm4all_status llm4all_model_load(const char *path, const llm4all_model_options *options,
                                              llm4all_model **out_model);
LLM4ALL_API void llm4all_model_free(llm4all_model *model);

/* JSON with architecture, parameter count, context length, vocabulary size,
 * special tokens, tensor types, chat template presence, backend in use.
 * *out_json is owned by the caller (llm4all_free). */
LLM4ALL_API llm4all_status llm4all_model_info_json(const llm4all_model *model, char **out_json);

LLM4ALL_API int32_t llm4all_model_n_vocab(const llm4all_model *model);
LLM4ALL_API int32_t llm4all_model_n_ctx_train(const llm4all_model *model);
/* Special token ids; -1 when the model has none. */
LLM4ALL_API int32_t llm4all_model_token_bos(const llm4all_model *model);
LLM4ALL_API int32_t llm4all_model_token_eos(const llm4all_model *model);
/* True for end-of-generation tokens (EOS, EOT, <|im_end|>, ...). */
LLM4ALL_API bool llm4all_model_token_is_eog(const llm4all_model *model, int32_t token);

/* ---- tokenizer -------------------------------------------------------------- */

/* Tokenizes text (len bytes, need not be NUL-terminated). add_special adds BOS
 * (and EOS) where the model's vocabulary asks for it; parse_special turns
 * special-token text such as "<|im_start|>" into its id. Invalid UTF-8 is an
 * error (LLM4ALL_ERR_BAD_UTF8). *out_tokens is owned by the caller (llm4all_free). */
LLM4ALL_API llm4all_status llm4all_tokenize(const llm4all_model *model, const char *text, size_t len,
                                            bool add_special, bool parse_special,
                                            int32_t **out_tokens, size_t *out_n_tokens);

/* Turns token ids back into text. render_special writes special tokens' text
 * too. Bytes of a UTF-8 character split over tokens are joined; an incomplete
 * sequence at the end is kept as-is. *out_text (NUL-terminated, caller frees)
 * has *out_len bytes. */
LLM4ALL_API llm4all_status llm4all_detokenize(const llm4all_model *model, const int32_t *tokens,
                                              size_t n_tokens, bool render_special,
                                              char **out_text, size_t *out_len);

/* The raw bytes of one token, as the detokenizer joins them: possibly part of a
 * UTF-8 character (byte tokens), "" for a control token unless render_special.
 * No leading-space removal. *out (NUL-terminated, caller frees with llm4all_free)
 * has *out_len bytes (out_len may be NULL). A bad id is LLM4ALL_ERR_INVALID_ARGUMENT. */
LLM4ALL_API llm4all_status llm4all_token_to_piece(const llm4all_model *model, int32_t token,
                                                  bool render_special, char **out, size_t *out_len);

/* ---- session ------------------------------------------------------------------ */

typedef struct llm4all_session llm4all_session;

typedef struct llm4all_session_options {
    uint32_t size;     /* sizeof(llm4all_session_options); set by _init */
    int32_t n_ctx;     /* KV cache size in tokens (0 = the model's training context, capped at 4096) */
    int32_t n_batch;   /* prompt tokens decoded per step (default 512) */
    int32_t n_threads; /* CPU threads (0 = number of physical cores) */
    /* Appended (older callers' shorter structs get the default): element type of the
     * KV cache, LLM4ALL_KV_F16 (default, like llama.cpp: half the memory, q rounded
     * to F16 before q.k) or LLM4ALL_KV_F32 (exact, for comparisons with float references). */
    int32_t kv_type;
} llm4all_session_options;

enum { LLM4ALL_KV_F16 = 0, LLM4ALL_KV_F32 = 1 };

LLM4ALL_API void llm4all_session_options_init(llm4all_session_options *options);

/* Creates a session (KV cache + sampler state) over model. The model must
 * outlive the session. *out_session is owned by the caller (llm4all_session_free).
 * Sizes are checked before anything is allocated: n_ctx outside 0..16777216, a
 * negative n_batch, or n_threads outside 0..1024 is LLM4ALL_ERR_INVALID_ARGUMENT; a
 * KV cache larger than the machine's physical memory is LLM4ALL_ERR_OUT_OF_MEMORY.
 * n_batch above n_ctx means n_ctx (no step can take more). */
LLM4ALL_API llm4all_status llm4all_session_new(llm4all_model *model, const llm4all_session_options *options,
                                               llm4all_session **out_session);
LLM4ALL_API void llm4all_session_free(llm4all_session *session);

LLM4ALL_API int32_t llm4all_session_n_ctx(const llm4all_session *session);
/* Number of tokens in the KV cache. */
LLM4ALL_API int32_t llm4all_session_n_past(const llm4all_session *session);

/* Makes the KV cache hold exactly tokens[0..n): keeps the longest common
 * prefix with what is cached, drops the rest and decodes only the new suffix
 * (prefix reuse). Afterwards the logits of the last token are available.
 * Returns LLM4ALL_ERR_CONTEXT_FULL (cache untouched) when n > n_ctx. */
LLM4ALL_API llm4all_status llm4all_session_set_tokens(llm4all_session *session, const int32_t *tokens,
                                                      size_t n_tokens);

/* Appends tokens to the cache. all_logits keeps logits for every appended
 * position, otherwise only for the last one. */
LLM4ALL_API llm4all_status llm4all_session_decode(llm4all_session *session, const int32_t *tokens,
                                                  size_t n_tokens, bool all_logits);

/* Logits of the last decode: *out_rows rows of n_vocab floats, one per kept
 * position (1 unless all_logits). Owned by the session, valid until its next call. */
LLM4ALL_API llm4all_status llm4all_session_logits(const llm4all_session *session, const float **out_logits,
                                                  int32_t *out_rows);

/* Drops cached tokens from position n_keep on. */
LLM4ALL_API llm4all_status llm4all_session_truncate(llm4all_session *session, int32_t n_keep);

/* Teacher forcing: makes the cache hold tokens[0..n) (with prefix reuse) and
 * writes to out_logprobs[i - first] the log-probability of tokens[i] given
 * tokens[0..i), for first <= i < n (first >= 1). If out_top1 is not NULL it
 * receives the most likely token id at each of those positions. */
LLM4ALL_API llm4all_status llm4all_session_score(llm4all_session *session, const int32_t *tokens,
                                                 size_t n_tokens, size_t first, float *out_logprobs,
                                                 int32_t *out_top1);

/* Asks the call running on this session (decode, set_tokens, score, generate,
 * chat) to stop at the next batch boundary or token. Safe to call from any
 * thread, e.g. a signal or UI thread. A generate or chat call then returns
 * LLM4ALL_OK with stop_reason LLM4ALL_STOP_ABORTED; the others return
 * LLM4ALL_ERR_CANCELLED. The cache keeps every batch that completed. The
 * request is cleared when the next call on the session starts. */
LLM4ALL_API void llm4all_session_abort(llm4all_session *session);

/* ---- memory estimate ----------------------------------------------------------- */

/* Bytes one device holds for a model and a session on it. */
typedef struct llm4all_memory_device {
    char name[32];       /* "cpu" (a GPU backend adds its own entries) */
    uint64_t weights;    /* weight pages a run touches (mapped file pages, once touched) */
    uint64_t kv_cache;   /* K and V of every layer at n_ctx (sliding-window layers keep fewer rows) */
    uint64_t compute;    /* activations of a full prompt batch, logits, sampler, backend buffers */
    uint64_t runtime;    /* parsed vocabulary and tables, libraries, threads */
    uint64_t total;      /* the sum of the four */
} llm4all_memory_device;

#define LLM4ALL_MEMORY_MAX_DEVICES 8

typedef struct llm4all_memory_estimate {
    uint32_t size;        /* sizeof(llm4all_memory_estimate); set by _init */
    int32_t n_ctx;        /* the context the estimate is for (0 in the options resolved) */
    int32_t n_batch;      /* the prompt batch it assumes */
    uint64_t weights, kv_cache, compute, runtime, total;  /* every device together */
    uint64_t available;   /* bytes this process may still use now; 0 = unknown */
    char available_source[48];  /* where that figure comes from: "MemAvailable",
                                   "cgroup memory limit", "LLM4ALL_MEMORY_LIMIT", ... */
    int32_t n_devices;
    llm4all_memory_device devices[LLM4ALL_MEMORY_MAX_DEVICES];
} llm4all_memory_estimate;

LLM4ALL_API void llm4all_memory_estimate_init(llm4all_memory_estimate *estimate);

/* Estimates the memory that loading path with model_options and creating a session with
 * session_options (NULL = defaults) will take, from the GGUF header alone (no weight is
 * read; the vocabulary is parsed). For an embedding model there is no KV cache and
 * compute is one pass over a window of n_ctx tokens (0 = its training context). The
 * figure is what a run keeps resident: the peak RSS of a process that runs a full prompt
 * batch is the estimate plus what the host program itself uses (e.g. a Python
 * interpreter). The same estimate is what llm4all_model_load / llm4all_session_new check
 * against available memory unless llm4all_model_options.skip_memory_check. */
LLM4ALL_API llm4all_status llm4all_gguf_estimate_memory(const char *path, const llm4all_model_options *model_options,
                                                        const llm4all_session_options *session_options,
                                                        llm4all_memory_estimate *out);

/* ---- several sequences at once --------------------------------------------------- */

typedef struct llm4all_batch_item {
    llm4all_session *session;   /* distinct sessions of one model */
    const int32_t *tokens;      /* appended to that session's cache */
    size_t n_tokens;            /* >= 1 */
    bool all_logits;            /* as llm4all_session_decode */
} llm4all_batch_item;

/* One decode step for several sequences: every item's tokens are appended to its
 * session exactly as llm4all_session_decode would (bit-identical logits), in shared
 * forward passes (each pass takes up to n_batch tokens of each item). Runs on the first
 * item's session's threads. Checks every item before decoding anything (one model,
 * distinct sessions, valid token ids, room in each context): on an error no cache
 * changes. Afterwards llm4all_session_logits(item.session) has each item's logits.
 * llm4all_session_abort on any item's session stops the call with
 * LLM4ALL_ERR_CANCELLED; every pass that completed stays in the caches. */
LLM4ALL_API llm4all_status llm4all_decode_batch(const llm4all_batch_item *items, size_t n_items);

/* ---- sampling and generation -------------------------------------------------- */

typedef struct llm4all_sampler_options {
    uint32_t size;          /* sizeof(llm4all_sampler_options); set by _init */
    float temp;             /* <= 0: greedy */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off */
    int32_t repeat_last_n;  /* tokens considered by the repeat penalty */
    uint64_t seed;          /* same seed + same inputs = same tokens; LLM4ALL_SEED_RANDOM draws one */
    /* Appended in ABI 2 (0 = off), llama.cpp's formula over the last repeat_last_n
     * accepted tokens: logit -= count * frequency_penalty + (count > 0) * presence_penalty. */
    float presence_penalty;
    float frequency_penalty;
} llm4all_sampler_options;

/* A seed that asks for a fresh random one per call (llama.cpp's --seed -1). */
#define LLM4ALL_SEED_RANDOM UINT64_MAX

/* The one place where sampling defaults live: every binding and the CLI read
 * them from here (temp 0.7, top_k 40, top_p 0.9, min_p 0, repeat_penalty 1 = off
 * as in llama.cpp, repeat_last_n 64, seed 0). temp 0 with repeat_penalty 1 is
 * exact greedy decoding. */
LLM4ALL_API void llm4all_sampler_options_init(llm4all_sampler_options *options);

/* A sampler on its own, one per sequence, for callers that run the decode loop
 * themselves (llm4all_decode_batch): the same chain as llm4all_session_generate
 * (penalties, top-k, top-p, min-p, temperature, seeded draw; temp <= 0 = the first
 * largest logit). options NULL = the defaults. *out is owned by the caller. */
typedef struct llm4all_sampler llm4all_sampler;
LLM4ALL_API llm4all_status llm4all_sampler_new(const llm4all_sampler_options *options, llm4all_sampler **out);
LLM4ALL_API void llm4all_sampler_free(llm4all_sampler *sampler);
/* Picks a token from n_vocab logits. Logits set to -INFINITY are never chosen
 * (constrained decoding masks that way); all -inf, or any NaN, is
 * LLM4ALL_ERR_INVALID_ARGUMENT. Does not accept the token. */
LLM4ALL_API llm4all_status llm4all_sampler_sample(llm4all_sampler *sampler, const float *logits, int32_t n_vocab,
                                                  int32_t *out_token);
/* Adds a token to the penalty window (generate accepts every prompt token, then
 * every generated one). Negative ids are LLM4ALL_ERR_INVALID_ARGUMENT. */
LLM4ALL_API llm4all_status llm4all_sampler_accept(llm4all_sampler *sampler, int32_t token);

/* Streaming callback: piece is complete UTF-8 (possibly empty when a token
 * only starts a multi-byte character), NUL-terminated, valid during the call.
 * Return false to stop generation. */
typedef bool (*llm4all_on_token)(const char *piece, int32_t token, void *user);

typedef struct llm4all_generate_options {
    uint32_t size;                    /* sizeof(llm4all_generate_options); set by _init */
    int32_t max_tokens;               /* default 128 */
    bool add_special;                 /* add BOS where the model wants it (default true) */
    bool parse_special;               /* parse special-token text in the prompt (default true) */
    bool stop_at_eog;                 /* stop at an end-of-generation token (default true) */
    llm4all_sampler_options sampling;
    /* Appended: generation stops before any of these strings (none by default).
     * Text that could be the start of a stop string is held back until it is
     * known not to be one, so a stop string is never emitted, even in part.
     * The array (n_stop entries, each a NUL-terminated UTF-8 string) must stay
     * valid during the call. */
    const char *const *stop;
    int32_t n_stop;
} llm4all_generate_options;

LLM4ALL_API void llm4all_generate_options_init(llm4all_generate_options *options);

/* Why generation stopped. */
typedef enum llm4all_stop_reason {
    LLM4ALL_STOP_MAX_TOKENS = 0,   /* max_tokens were generated */
    LLM4ALL_STOP_EOG = 1,          /* the model produced an end-of-generation token */
    LLM4ALL_STOP_ABORTED = 2,      /* the callback returned false, or llm4all_session_abort() */
    LLM4ALL_STOP_CONTEXT_FULL = 3, /* the KV cache is full */
    LLM4ALL_STOP_STOP_STRING = 4   /* one of options.stop appeared (it is not part of the text) */
} llm4all_stop_reason;

/* "max_tokens", "eog", "aborted", "context_full", "stop_string"; static storage. */
LLM4ALL_API const char *llm4all_stop_reason_name(int32_t reason);

typedef struct llm4all_generate_result {
    uint32_t size;             /* set by the caller: sizeof(llm4all_generate_result) */
    int32_t n_prompt_tokens;
    int32_t n_prompt_decoded;  /* prompt tokens actually decoded (prefix reuse skips the rest) */
    int32_t n_generated;
    int32_t stop_reason;       /* an llm4all_stop_reason */
    double prompt_ms;
    double generate_ms;
} llm4all_generate_result;

/* Tokenizes prompt, evaluates it with prefix reuse, then samples up to
 * max_tokens tokens, calling on_token (may be NULL) for each. If out_text is
 * not NULL it receives the whole generated text (caller frees). result may be NULL.
 * A prompt longer than n_ctx is LLM4ALL_ERR_CONTEXT_FULL with the session untouched
 * (to keep only its end, tokenize and llm4all_session_decode the tail; chats choose
 * with llm4all_chat_options.overflow, embeddings with llm4all_embed_options.long_text);
 * generation that fills the context stops with LLM4ALL_STOP_CONTEXT_FULL. */
LLM4ALL_API llm4all_status llm4all_session_generate(llm4all_session *session, const char *prompt,
                                                    const llm4all_generate_options *options,
                                                    llm4all_on_token on_token, void *user,
                                                    char **out_text, llm4all_generate_result *result);

/* ---- chat templates ---------------------------------------------------------- */

/* Renders a Jinja chat template the way Hugging Face transformers'
 * apply_chat_template(..., tokenize=False) does (jinja2's immutable sandbox,
 * trim_blocks and lstrip_blocks, HF's tojson/raise_exception/strftime_now).
 * context_json is a JSON object whose keys are the template's variables, e.g.
 * {"messages":[{"role":"user","content":"Hi"}],"add_generation_prompt":true,
 *  "bos_token":"<s>","tools":[...]}. The engine has no file, environment or
 * process access, and each render is bounded in steps, output size, recursion
 * depth and memory: a template that fails, calls raise_exception or exceeds a
 * limit gives LLM4ALL_ERR_TEMPLATE with a message naming the line and column.
 * Bad JSON is LLM4ALL_ERR_INVALID_ARGUMENT. *out_text (NUL-terminated, caller
 * frees with llm4all_free) has *out_len bytes (out_len may be NULL). */
LLM4ALL_API llm4all_status llm4all_chat_template_render(const char *template_src, const char *context_json,
                                                        char **out_text, size_t *out_len);

/* ---- chat sessions ---------------------------------------------------------------- */

/* A conversation over a session: messages are rendered with a chat template,
 * tokenized with special tokens parsed, and only the tokens after the longest
 * prefix already in the session's KV cache are decoded. */
typedef struct llm4all_chat llm4all_chat;

/* What happens when the conversation no longer fits n_ctx. */
enum {
    LLM4ALL_CHAT_DROP_OLDEST = 0, /* drop the oldest turns after the system message (default) */
    LLM4ALL_CHAT_ERROR = 1        /* fail with LLM4ALL_ERR_CONTEXT_FULL */
};

typedef struct llm4all_chat_options {
    uint32_t size;              /* sizeof(llm4all_chat_options); set by _init */
    const char *template_src;   /* Jinja chat template; NULL = the model's tokenizer.chat_template */
    const char *system_message; /* first message with role "system"; NULL = none */
    const char *variables_json; /* extra template variables as a JSON object, e.g.
                                   {"enable_thinking":false}; NULL = none */
    int32_t overflow;           /* LLM4ALL_CHAT_DROP_OLDEST or LLM4ALL_CHAT_ERROR */
} llm4all_chat_options;

LLM4ALL_API void llm4all_chat_options_init(llm4all_chat_options *options);

/* Creates a chat over session (which must outlive it; the chat does not own it).
 * Strings in options are copied. A model without a template and no template_src
 * is LLM4ALL_ERR_TEMPLATE; the template is parsed here, so a syntax error shows
 * now. *out_chat is owned by the caller (llm4all_chat_free). */
LLM4ALL_API llm4all_status llm4all_chat_new(llm4all_session *session, const llm4all_chat_options *options,
                                            llm4all_chat **out_chat);
LLM4ALL_API void llm4all_chat_free(llm4all_chat *chat);

/* Appends one message, a JSON object such as {"role":"tool","content":"..."} or an
 * assistant message with "tool_calls"; every field reaches the template. */
LLM4ALL_API llm4all_status llm4all_chat_add_message(llm4all_chat *chat, const char *message_json);

/* Replaces the whole conversation with a JSON array of messages (the system
 * message too, if any). The KV cache is kept: prefix reuse still applies. */
LLM4ALL_API llm4all_status llm4all_chat_set_messages(llm4all_chat *chat, const char *messages_json);

/* The conversation as a JSON array of message objects. An assistant reply that
 * carried reasoning (<think>...</think>) has it in "reasoning_content" and only
 * the answer in "content". *out_json is owned by the caller (llm4all_free). */
LLM4ALL_API llm4all_status llm4all_chat_messages(const llm4all_chat *chat, char **out_json);

/* Renders the conversation with the chat's template, as the next respond would
 * (add_generation_prompt true). *out_text is owned by the caller (llm4all_free). */
LLM4ALL_API llm4all_status llm4all_chat_render(const llm4all_chat *chat, char **out_text);

typedef struct llm4all_chat_stats {
    uint32_t size;             /* set by the caller: sizeof(llm4all_chat_stats) */
    int32_t prompt_tokens;     /* tokens of the rendered conversation */
    int32_t reused_tokens;     /* of those, taken from the KV cache */
    int32_t decoded_tokens;    /* of those, decoded now */
    int32_t generated_tokens;
    int32_t dropped_messages;  /* oldest messages dropped so the conversation fits n_ctx */
    int32_t stop_reason;       /* an llm4all_stop_reason */
    double prompt_ms;
    double generate_ms;
} llm4all_chat_stats;

/* Generates the assistant's reply to the conversation so far and appends it as
 * a message. on_token sees every piece as it is generated (reasoning included);
 * *out_text (may be NULL; caller frees) receives the answer without reasoning,
 * *out_reasoning (may be NULL; caller frees; "" when none) the reasoning.
 * options.add_special/parse_special are ignored: the rendered prompt is
 * tokenized with special tokens parsed, and BOS is added only when the model
 * wants one and the template did not write it. stats may be NULL. */
LLM4ALL_API llm4all_status llm4all_chat_respond(llm4all_chat *chat, const llm4all_generate_options *options,
                                                llm4all_on_token on_token, void *user, char **out_text,
                                                char **out_reasoning, llm4all_chat_stats *stats);

/* llm4all_chat_add_message of {"role":"user","content":text}, then llm4all_chat_respond. */
LLM4ALL_API llm4all_status llm4all_chat_send(llm4all_chat *chat, const char *text,
                                             const llm4all_generate_options *options, llm4all_on_token on_token,
                                             void *user, char **out_text, char **out_reasoning,
                                             llm4all_chat_stats *stats);

/* Forgets every message except the system message (the KV cache is kept for reuse). */
LLM4ALL_API llm4all_status llm4all_chat_reset(llm4all_chat *chat);

/* ---- quantization ----------------------------------------------------------- */

typedef bool (*llm4all_on_progress)(uint64_t done, uint64_t total, const char *what, void *user);

typedef struct llm4all_quantize_options {
    uint32_t size;                /* sizeof(llm4all_quantize_options); set by _init */
    const char *type;             /* llama.cpp's names: "Q4_0", "Q4_K_M", "Q6_K", "IQ4_XS", ...
                                     (case-insensitive; required) */
    int32_t n_threads;            /* 0 = every core (default) */
    bool allow_requantize;        /* accept an input that is already quantized (default false) */
    bool pure;                    /* every quantizable tensor gets the base type: no _S/_M/_L
                                     mix rules and no output/embedding upgrades (default false) */
    int32_t output_type;          /* -1 = by the rules (default); else a type id for output.weight
                                     (F32, F16, BF16 or a type the mixes use) */
    int32_t token_embedding_type; /* -1 = by the rules (default); else a type id for token_embd */
    llm4all_on_progress on_progress; /* called after each tensor with bytes of input done/total
                                        and the tensor name; returning false cancels: the call
                                        returns LLM4ALL_ERR_CANCELLED (may be NULL) */
    void *user;
} llm4all_quantize_options;

LLM4ALL_API void llm4all_quantize_options_init(llm4all_quantize_options *options);

/* Quantizes the GGUF file in_path into out_path, choosing each tensor's type
 * with llama.cpp's rules for the requested mix, and keeping every metadata key
 * (general.file_type is updated). The output is written to a temporary name
 * beside out_path and renamed at the end, so a failure or a cancel never
 * leaves a partial out_path behind (an existing out_path is only replaced on
 * success). in_path and out_path must differ. An input whose weights are
 * already quantized is refused unless allow_requantize. */
LLM4ALL_API llm4all_status llm4all_quantize(const char *in_path, const char *out_path,
                                            const llm4all_quantize_options *options);

/* Quantizes nrows rows of n_per_row floats (contiguous) into dst, which has
 * dst_size bytes, as tensor type `type` (an llm4all_type id). n_per_row must be
 * a multiple of the type's block size. With dst == NULL only *written is set
 * to the bytes needed. *written (may be NULL) gets the bytes written. */
LLM4ALL_API llm4all_status llm4all_quantize_rows(int32_t type, const float *src, int64_t nrows,
                                                 int64_t n_per_row, void *dst, size_t dst_size,
                                                 size_t *written);

/* ---- embeddings ---------------------------------------------------------------- */

/* Pooling of token vectors into one vector per text (values = GGUF's <arch>.pooling_type). */
enum {
    LLM4ALL_POOLING_FROM_FILE = -1, /* as the model file says */
    LLM4ALL_POOLING_MEAN = 1,
    LLM4ALL_POOLING_CLS = 2,
    LLM4ALL_POOLING_LAST = 3
};

/* What happens to a text longer than one window of n_ctx tokens. */
enum {
    LLM4ALL_LONG_TEXT_MEAN = 0,     /* windows overlapping by 8 tokens, each window's vector
                                       L2-normalised, then averaged (as gpt4all) */
    LLM4ALL_LONG_TEXT_TRUNCATE = 1, /* only the first window */
    LLM4ALL_LONG_TEXT_ERROR = 2     /* LLM4ALL_ERR_CONTEXT_FULL */
};

/* Length of the vectors llm4all_embed returns at full size (after any dense projection:
 * 384 for all-MiniLM-L6-v2, 768 for EmbeddingGemma); 0 when the model is not an
 * embedding model (decoders generate; sessions on embedding models are refused). */
LLM4ALL_API int32_t llm4all_model_embedding_dim(const llm4all_model *model);

/* Called before each forward pass with the token counts of that pass and of every later
 * one (n entries: the first call sees the whole plan); return false to cancel, and the
 * call returns LLM4ALL_ERR_CANCELLED. */
typedef bool (*llm4all_on_embed_batch)(const int32_t *n_tokens, size_t n, void *user);

typedef struct llm4all_embed_options {
    uint32_t size;             /* sizeof(llm4all_embed_options); set by _init */
    int32_t n_threads;         /* 0 = every core */
    bool normalize;            /* L2-normalise each vector (default true) */
    int32_t dimensionality;    /* 0 = full (default); 1..dim: the first d values (Matryoshka),
                                  normalised after the cut when normalize */
    const char *prefix;        /* literal text put before every text, e.g. a task prompt
                                  "task: search result | query: " (NULL or "" = none) */
    int32_t pooling;           /* LLM4ALL_POOLING_FROM_FILE (default) or a pooling value */
    int32_t long_text;         /* LLM4ALL_LONG_TEXT_MEAN (default), _TRUNCATE or _ERROR */
    int32_t n_ctx;             /* tokens per window, special tokens included; 0 = the model's
                                  training context (MiniLM 512, EmbeddingGemma 2048) */
    llm4all_on_embed_batch on_batch; /* may be NULL */
    void *user;                /* passed to on_batch */
} llm4all_embed_options;

LLM4ALL_API void llm4all_embed_options_init(llm4all_embed_options *options);

/* Embeds n_texts UTF-8 texts (texts[i] has text_lens[i] bytes; text_lens NULL = each is
 * NUL-terminated), many texts per forward pass. A text gets the model's special tokens
 * ([CLS] ... [SEP], BOS ... EOS); an empty text still gets a vector. On success
 * *out_vectors (caller frees with llm4all_free) holds n_texts * *out_dim floats, text
 * after text, and *out_n_tokens (may be NULL) the number of tokens run. Not an embedding
 * model: LLM4ALL_ERR_UNSUPPORTED; no texts, a NULL text or an option out of range:
 * LLM4ALL_ERR_INVALID_ARGUMENT; invalid UTF-8: LLM4ALL_ERR_BAD_UTF8. Thread-safe: calls
 * on one model may run at once (each has its own threads and scratch). */
LLM4ALL_API llm4all_status llm4all_embed(const llm4all_model *model, const char *const *texts,
                                         const size_t *text_lens, size_t n_texts,
                                         const llm4all_embed_options *options, float **out_vectors,
                                         int32_t *out_dim, uint64_t *out_n_tokens);

/* llm4all_embed over sequences already tokenized, special tokens as given (prefix
 * ignored); a sequence longer than n_ctx is cut with LLM4ALL_LONG_TEXT_TRUNCATE and
 * refused (LLM4ALL_ERR_CONTEXT_FULL) otherwise. *out_vectors as llm4all_embed. */
LLM4ALL_API llm4all_status llm4all_embed_tokens(const llm4all_model *model, const int32_t *const *tokens,
                                                const size_t *n_tokens, size_t n_seqs,
                                                const llm4all_embed_options *options, float **out_vectors,
                                                int32_t *out_dim);

#ifdef __cplusplus
}
#endif

#endif /* LLM4ALL_H */
