// options.ts — the typed options of this binding and their translation into the C structs.
// Every default comes from the C ABI's *_options_init (the one place defaults live): an
// option left undefined keeps the value the init function wrote.
import { C, koffi } from "./native";

/** Sampling and generation options (llm4all_generate_options and its sampling). */
export interface GenerateOptions {
  maxTokens?: number;
  /** <= 0: greedy. */
  temp?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  /** Same seed + same inputs = same tokens; -1 (or SEED_RANDOM) draws a fresh one per call. */
  seed?: number | bigint;
  presencePenalty?: number;
  frequencyPenalty?: number;
  addSpecial?: boolean;
  parseSpecial?: boolean;
  stopAtEog?: boolean;
  /** Generation stops before any of these strings (never part of the text). */
  stop?: string[];
}

/** LLM4ALL_SEED_RANDOM. */
export const SEED_RANDOM = 0xffffffffffffffffn;

export interface ModelOptions {
  /** "auto" (default), "cpu", ... */
  device?: string;
  nGpuLayers?: number;
  useMmap?: boolean;
}

export interface SessionOptions {
  /** KV cache size in tokens (0 = the model's training context, capped by the engine). */
  nCtx?: number;
  nBatch?: number;
  /** CPU threads (0 = number of physical cores). */
  nThreads?: number;
  kvType?: "f16" | "f32";
}

function set(target: any, key: string, v: unknown): void {
  if (v !== undefined) target[key] = v;
}

export function modelOptions(o: ModelOptions = {}): any {
  const s: any = {};
  C.model_options_init(s);
  set(s, "device", o.device);
  set(s, "n_gpu_layers", o.nGpuLayers);
  set(s, "use_mmap", o.useMmap);
  return s;
}

export function sessionOptions(o: SessionOptions = {}): any {
  const s: any = {};
  C.session_options_init(s);
  set(s, "n_ctx", o.nCtx);
  set(s, "n_batch", o.nBatch);
  set(s, "n_threads", o.nThreads);
  if (o.kvType !== undefined) {
    if (o.kvType !== "f16" && o.kvType !== "f32") throw new TypeError(`kvType must be "f16" or "f32", not ${o.kvType}`);
    s.kv_type = o.kvType === "f32" ? 1 : 0;
  }
  return s;
}

/** The C struct for o, plus the native array of stop strings it points to (free it after the call). */
export function generateOptions(o: GenerateOptions = {}): { struct: any; release: () => void } {
  const s: any = {};
  C.generate_options_init(s);
  set(s, "max_tokens", o.maxTokens);
  set(s, "add_special", o.addSpecial);
  set(s, "parse_special", o.parseSpecial);
  set(s, "stop_at_eog", o.stopAtEog);
  const p = s.sampling;
  set(p, "temp", o.temp);
  set(p, "top_k", o.topK);
  set(p, "top_p", o.topP);
  set(p, "min_p", o.minP);
  set(p, "repeat_penalty", o.repeatPenalty);
  set(p, "repeat_last_n", o.repeatLastN);
  set(p, "presence_penalty", o.presencePenalty);
  set(p, "frequency_penalty", o.frequencyPenalty);
  if (o.seed !== undefined) p.seed = o.seed === -1 || o.seed === -1n ? SEED_RANDOM : BigInt(o.seed);
  let release = () => {};
  const stops = o.stop ?? [];
  if (stops.length > 0) {
    const arr = koffi.alloc("const char *", stops.length);
    koffi.encode(arr, "const char *", stops, stops.length);
    s.stop = arr;
    s.n_stop = stops.length;
    release = () => koffi.free(arr);
  }
  return { struct: s, release };
}

/** What llm4all_generate_result / llm4all_chat_stats report about the last call. */
export interface GenerateStats {
  stopReason: string;
  promptTokens: number;
  /** Prompt tokens actually decoded (prefix reuse skips the rest). */
  promptDecoded: number;
  generatedTokens: number;
  promptMs: number;
  generateMs: number;
  /** Chat only: oldest messages dropped so the conversation fits n_ctx. */
  droppedMessages?: number;
}

export function statsFromResult(r: any): GenerateStats {
  return {
    stopReason: C.stop_reason_name(r.stop_reason),
    promptTokens: r.n_prompt_tokens,
    promptDecoded: r.n_prompt_decoded,
    generatedTokens: r.n_generated,
    promptMs: r.prompt_ms,
    generateMs: r.generate_ms,
  };
}

export function statsFromChat(r: any): GenerateStats {
  return {
    stopReason: C.stop_reason_name(r.stop_reason),
    promptTokens: r.prompt_tokens,
    promptDecoded: r.decoded_tokens,
    generatedTokens: r.generated_tokens,
    promptMs: r.prompt_ms,
    generateMs: r.generate_ms,
    droppedMessages: r.dropped_messages,
  };
}
