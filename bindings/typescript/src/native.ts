// native.ts — loads libllm4all with koffi and declares the C ABI of llm4all.h, one line per
// function, so that a reader can check every signature against the header (and
// tools/abi_drift.py finds each wrapped name here). Nothing but declarations lives here.
import * as fs from "node:fs";
import * as path from "node:path";
import koffi from "koffi";

const LIB_NAME = process.platform === "win32" ? "llm4all.dll" : process.platform === "darwin" ? "libllm4all.dylib" : "libllm4all.so";

/** Where libllm4all is taken from: $LLM4ALL_LIB_DIR, else the project's build/bindings/lib
 * (what bindings/core_lib.sh builds) when this package sits in a source tree, else the
 * system's library search path. The CPU backend plugins must sit beside the library. */
export function libraryPath(): string {
  const dir = process.env.LLM4ALL_LIB_DIR;
  if (dir) return path.join(dir, LIB_NAME);
  // dist/src/native.js -> <root>/build/bindings/lib
  const inTree = path.resolve(__dirname, "..", "..", "..", "..", "build", "bindings", "lib", LIB_NAME);
  return fs.existsSync(inTree) ? inTree : LIB_NAME;
}

const lib = koffi.load(libraryPath());

// Opaque handles travel as BigInt addresses (koffi 3), typed void * on the JS side.
export const ModelOptions = koffi.struct("llm4all_model_options", {
  size: "uint32_t", device: "const char *", n_gpu_layers: "int32_t", use_mmap: "bool",
  // Appended (LoRA adapters, memory check): the header's whole struct, as _init writes all of it.
  lora: "void *", n_lora: "int32_t", skip_memory_check: "bool",
});
export const SessionOptions = koffi.struct("llm4all_session_options", {
  size: "uint32_t", n_ctx: "int32_t", n_batch: "int32_t", n_threads: "int32_t", kv_type: "int32_t",
});
export const SamplerOptions = koffi.struct("llm4all_sampler_options", {
  size: "uint32_t", temp: "float", top_k: "int32_t", top_p: "float", min_p: "float",
  repeat_penalty: "float", repeat_last_n: "int32_t", seed: "uint64_t",
  presence_penalty: "float", frequency_penalty: "float",
});
export const GenerateOptions = koffi.struct("llm4all_generate_options", {
  size: "uint32_t", max_tokens: "int32_t", add_special: "bool", parse_special: "bool", stop_at_eog: "bool",
  sampling: SamplerOptions, stop: "void *", n_stop: "int32_t",
});
export const GenerateResult = koffi.struct("llm4all_generate_result", {
  size: "uint32_t", n_prompt_tokens: "int32_t", n_prompt_decoded: "int32_t", n_generated: "int32_t",
  stop_reason: "int32_t", prompt_ms: "double", generate_ms: "double",
});
export const ChatOptions = koffi.struct("llm4all_chat_options", {
  size: "uint32_t", template_src: "const char *", system_message: "const char *",
  variables_json: "const char *", overflow: "int32_t",
});
export const ChatStats = koffi.struct("llm4all_chat_stats", {
  size: "uint32_t", prompt_tokens: "int32_t", reused_tokens: "int32_t", decoded_tokens: "int32_t",
  generated_tokens: "int32_t", dropped_messages: "int32_t", stop_reason: "int32_t",
  prompt_ms: "double", generate_ms: "double",
});
export const BatchItem = koffi.struct("llm4all_batch_item", {
  session: "void *", tokens: "void *", n_tokens: "size_t", all_logits: "bool",
});
export const OnEmbedBatch = koffi.proto("bool llm4all_on_embed_batch(const int32_t *n_tokens, size_t n, void *user)");
export const EmbedOptions = koffi.struct("llm4all_embed_options", {
  size: "uint32_t", n_threads: "int32_t", normalize: "bool", dimensionality: "int32_t", prefix: "const char *",
  pooling: "int32_t", long_text: "int32_t", n_ctx: "int32_t", on_batch: "void *", user: "void *",
});
export const OnToken = koffi.proto("bool llm4all_on_token(const char *piece, int32_t token, void *user)");

type Fn = (...args: any[]) => any;
const f = (decl: string): Fn => lib.func(decl) as Fn;
// Declared on first use, so that a library built before these functions existed still
// loads (its other functions work; only this call then fails, with koffi's message).
const lazy = (decl: string): Fn => {
  let fn: Fn | undefined;
  return (...args: any[]) => (fn ??= f(decl))(...args);
};

export const C = {
  // status and errors
  last_error: f("const char *llm4all_last_error(void)"),
  status_name: f("const char *llm4all_status_name(int32_t status)"),
  abi_version: f("uint32_t llm4all_abi_version(void)"),
  version: f("const char *llm4all_version(void)"),
  free: f("void llm4all_free(void *ptr)"),
  // backends and files
  devices_json: f("int32_t llm4all_devices_json(_Out_ void **out_json)"),
  gguf_describe: f("int32_t llm4all_gguf_describe(const char *path, uint64_t max_array, _Out_ void **out_json)"),
  // model
  model_options_init: f("void llm4all_model_options_init(_Out_ llm4all_model_options *options)"),
  model_load: f("int32_t llm4all_model_load(const char *path, const llm4all_model_options *options, _Out_ void **out_model)"),
  model_free: f("void llm4all_model_free(void *model)"),
  model_info_json: f("int32_t llm4all_model_info_json(void *model, _Out_ void **out_json)"),
  model_n_vocab: f("int32_t llm4all_model_n_vocab(void *model)"),
  model_n_ctx_train: f("int32_t llm4all_model_n_ctx_train(void *model)"),
  model_token_bos: f("int32_t llm4all_model_token_bos(void *model)"),
  model_token_eos: f("int32_t llm4all_model_token_eos(void *model)"),
  model_token_is_eog: f("bool llm4all_model_token_is_eog(void *model, int32_t token)"),
  // tokenizer
  tokenize: f("int32_t llm4all_tokenize(void *model, const uint8_t *text, size_t len, bool add_special, bool parse_special, _Out_ void **out_tokens, _Out_ size_t *out_n_tokens)"),
  detokenize: f("int32_t llm4all_detokenize(void *model, const int32_t *tokens, size_t n_tokens, bool render_special, _Out_ void **out_text, _Out_ size_t *out_len)"),
  token_to_piece: f("int32_t llm4all_token_to_piece(void *model, int32_t token, bool render_special, _Out_ void **out, _Out_ size_t *out_len)"),
  // session
  session_options_init: f("void llm4all_session_options_init(_Out_ llm4all_session_options *options)"),
  session_new: f("int32_t llm4all_session_new(void *model, const llm4all_session_options *options, _Out_ void **out_session)"),
  session_free: f("void llm4all_session_free(void *session)"),
  session_n_ctx: f("int32_t llm4all_session_n_ctx(void *session)"),
  session_n_past: f("int32_t llm4all_session_n_past(void *session)"),
  session_truncate: f("int32_t llm4all_session_truncate(void *session, int32_t n_keep)"),
  session_abort: f("void llm4all_session_abort(void *session)"),
  session_set_tokens: f("int32_t llm4all_session_set_tokens(void *session, const int32_t *tokens, size_t n_tokens)"),
  session_decode: f("int32_t llm4all_session_decode(void *session, const int32_t *tokens, size_t n_tokens, bool all_logits)"),
  session_logits: f("int32_t llm4all_session_logits(void *session, _Out_ void **out_logits, _Out_ int32_t *out_rows)"),
  session_score: f("int32_t llm4all_session_score(void *session, const int32_t *tokens, size_t n_tokens, size_t first, void *out_logprobs, void *out_top1)"),
  decode_batch: f("int32_t llm4all_decode_batch(const llm4all_batch_item *items, size_t n_items)"),
  // sampler
  sampler_new: f("int32_t llm4all_sampler_new(const llm4all_sampler_options *options, _Out_ void **out)"),
  sampler_free: f("void llm4all_sampler_free(void *sampler)"),
  sampler_sample: f("int32_t llm4all_sampler_sample(void *sampler, const float *logits, int32_t n_vocab, _Out_ int32_t *out_token)"),
  sampler_accept: f("int32_t llm4all_sampler_accept(void *sampler, int32_t token)"),
  // embeddings
  model_embedding_dim: lazy("int32_t llm4all_model_embedding_dim(void *model)"),
  embed_options_init: lazy("void llm4all_embed_options_init(_Out_ llm4all_embed_options *options)"),
  embed: lazy("int32_t llm4all_embed(void *model, void *texts, const size_t *text_lens, size_t n_texts, const llm4all_embed_options *options, _Out_ void **out_vectors, _Out_ int32_t *out_dim, _Out_ uint64_t *out_n_tokens)"),
  embed_tokens: lazy("int32_t llm4all_embed_tokens(void *model, void *tokens, const size_t *n_tokens, size_t n_seqs, const llm4all_embed_options *options, _Out_ void **out_vectors, _Out_ int32_t *out_dim)"),
  // GGUF tensors
  gguf_read_tensor_f32: f("int32_t llm4all_gguf_read_tensor_f32(const char *path, const char *tensor_name, _Out_ void **out_values, _Out_ uint64_t *out_count)"),
  // generation
  sampler_options_init: f("void llm4all_sampler_options_init(_Out_ llm4all_sampler_options *options)"),
  generate_options_init: f("void llm4all_generate_options_init(_Out_ llm4all_generate_options *options)"),
  stop_reason_name: f("const char *llm4all_stop_reason_name(int32_t reason)"),
  session_generate: f("int32_t llm4all_session_generate(void *session, const char *prompt, const llm4all_generate_options *options, llm4all_on_token *on_token, void *user, _Out_ void **out_text, _Inout_ llm4all_generate_result *result)"),
  // chat
  chat_template_render: f("int32_t llm4all_chat_template_render(const char *template_src, const char *context_json, _Out_ void **out_text, _Out_ size_t *out_len)"),
  chat_options_init: f("void llm4all_chat_options_init(_Out_ llm4all_chat_options *options)"),
  chat_new: f("int32_t llm4all_chat_new(void *session, const llm4all_chat_options *options, _Out_ void **out_chat)"),
  chat_free: f("void llm4all_chat_free(void *chat)"),
  chat_add_message: f("int32_t llm4all_chat_add_message(void *chat, const char *message_json)"),
  chat_set_messages: f("int32_t llm4all_chat_set_messages(void *chat, const char *messages_json)"),
  chat_messages: f("int32_t llm4all_chat_messages(void *chat, _Out_ void **out_json)"),
  chat_render: f("int32_t llm4all_chat_render(void *chat, _Out_ void **out_text)"),
  chat_respond: f("int32_t llm4all_chat_respond(void *chat, const llm4all_generate_options *options, llm4all_on_token *on_token, void *user, _Out_ void **out_text, _Out_ void **out_reasoning, _Inout_ llm4all_chat_stats *stats)"),
  chat_send: f("int32_t llm4all_chat_send(void *chat, const char *text, const llm4all_generate_options *options, llm4all_on_token *on_token, void *user, _Out_ void **out_text, _Out_ void **out_reasoning, _Inout_ llm4all_chat_stats *stats)"),
  chat_reset: f("int32_t llm4all_chat_reset(void *chat)"),
};

/** Copies a library-owned buffer of len bytes (or up to its NUL) and frees it with llm4all_free. */
export function takeBytes(ptr: bigint | null, len?: number | bigint): Buffer {
  if (!ptr) return Buffer.alloc(0);
  try {
    if (len === undefined) return Buffer.from(koffi.decode.string(ptr), "utf8");
    const n = Number(len);
    return n === 0 ? Buffer.alloc(0) : Buffer.from(koffi.view(ptr, n).slice(0));
  } finally {
    C.free(ptr);
  }
}

/** A library-owned NUL-terminated UTF-8 string, copied and freed. */
export function takeString(ptr: bigint | null): string {
  if (!ptr) return "";
  try {
    return koffi.decode.string(ptr);
  } finally {
    C.free(ptr);
  }
}

/** Library-owned float array copied and freed. */
export function takeFloats(ptr: bigint | null, n: number | bigint): Float32Array {
  const count = Number(n);
  if (!ptr) return new Float32Array(0);
  try {
    return count === 0 ? new Float32Array(0) : new Float32Array(koffi.view(ptr, count * 4).slice(0));
  } finally {
    C.free(ptr);
  }
}

/** Library-owned int32 array copied and freed. */
export function takeInt32s(ptr: bigint | null, n: number | bigint): number[] {
  const count = Number(n);
  if (!ptr) return [];
  try {
    return count === 0 ? [] : Array.from(new Int32Array(koffi.view(ptr, count * 4).slice(0)));
  } finally {
    C.free(ptr);
  }
}

export { koffi };
