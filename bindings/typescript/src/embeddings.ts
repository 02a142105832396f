// embeddings.ts — embedding models (llm4all_embed, llm4all_embed_tokens): one vector per text,
// many texts per forward pass. Options default to llm4all_embed_options_init's values.
import { C, OnEmbedBatch, koffi, takeFloats } from "./native";
import { check } from "./errors";

export interface EmbedOptions {
  /** 0 = every core. */
  nThreads?: number;
  /** L2-normalise each vector (default true). */
  normalize?: boolean;
  /** 0 = full; 1..dim: the first d values (Matryoshka). */
  dimensionality?: number;
  /** Literal text put before every text, e.g. a task prompt. */
  prefix?: string;
  pooling?: "from_file" | "mean" | "cls" | "last";
  /** A text longer than one window: average the windows (default), keep the first, or fail. */
  longText?: "mean" | "truncate" | "error";
  /** Tokens per window, special tokens included; 0 = the model's training context. */
  nCtx?: number;
  /** Called before each forward pass with the token counts of it and every later one; false cancels. */
  onBatch?: (nTokens: number[]) => boolean | void;
}

const POOLING = { from_file: -1, mean: 1, cls: 2, last: 3 };
const LONG_TEXT = { mean: 0, truncate: 1, error: 2 };

/** Runs fn with the C options for o; a registered on_batch callback lives only during fn. */
function withOptions<T>(o: EmbedOptions, fn: (opts: any) => T): T {
  const s: any = {};
  C.embed_options_init(s);
  if (o.nThreads !== undefined) s.n_threads = o.nThreads;
  if (o.normalize !== undefined) s.normalize = o.normalize;
  if (o.dimensionality !== undefined) s.dimensionality = o.dimensionality;
  if (o.prefix !== undefined) s.prefix = o.prefix;
  if (o.pooling !== undefined) s.pooling = POOLING[o.pooling];
  if (o.longText !== undefined) s.long_text = LONG_TEXT[o.longText];
  if (o.nCtx !== undefined) s.n_ctx = o.nCtx;
  let error: unknown;
  let registered: bigint | null = null;
  if (o.onBatch) {
    const user = o.onBatch;
    registered = koffi.register((p: bigint, n: number | bigint) => {
      try {
        const counts = Number(n) === 0 ? [] : Array.from(new Int32Array(koffi.view(p, Number(n) * 4).slice(0)));
        return user(counts) !== false;
      } catch (e) {
        error ??= e;
        return false;
      }
    }, koffi.pointer(OnEmbedBatch));
    s.on_batch = registered;
  }
  try {
    const r = fn(s);
    return r;
  } catch (e) {
    throw error ?? e;
  } finally {
    if (registered !== null) koffi.unregister(registered);
  }
}

function split(ptr: bigint | null, n: number, dim: number): Float32Array[] {
  const all = takeFloats(ptr, n * dim);
  return Array.from({ length: n }, (_, i) => all.slice(i * dim, (i + 1) * dim));
}

export function embed(model: bigint, texts: string[], o: EmbedOptions = {}): { vectors: Float32Array[]; nTokens: number } {
  const bytes = texts.map((t) => Buffer.from(t, "utf8"));
  const arr = koffi.alloc("void *", Math.max(1, texts.length));
  const bufs: bigint[] = [];
  try {
    bytes.forEach((b, i) => {
      const p = koffi.alloc("uint8_t", Math.max(1, b.length));
      bufs.push(p);
      if (b.length > 0) koffi.encode(p, "uint8_t", Array.from(b), b.length);
      koffi.encode(arr, i * 8, "void *", p);
    });
    const lens = new BigUint64Array(bytes.map((b) => BigInt(b.length)));
    return withOptions(o, (opts) => {
      const out: (bigint | null)[] = [null];
      const dim = [0];
      const nTokens: (number | bigint)[] = [0];
      check(C.embed(model, arr, lens, texts.length, opts, out, dim, nTokens));
      return { vectors: split(out[0], texts.length, dim[0]), nTokens: Number(nTokens[0]) };
    });
  } finally {
    bufs.forEach((b) => koffi.free(b));
    koffi.free(arr);
  }
}

export function embedTokens(model: bigint, seqs: number[][], o: EmbedOptions = {}): Float32Array[] {
  const arr = koffi.alloc("void *", Math.max(1, seqs.length));
  const bufs: bigint[] = [];
  try {
    seqs.forEach((seq, i) => {
      const p = koffi.alloc("int32_t", Math.max(1, seq.length));
      bufs.push(p);
      if (seq.length > 0) koffi.encode(p, "int32_t", seq, seq.length);
      koffi.encode(arr, i * 8, "void *", p);
    });
    const lens = new BigUint64Array(seqs.map((s) => BigInt(s.length)));
    return withOptions(o, (opts) => {
      const out: (bigint | null)[] = [null];
      const dim = [0];
      check(C.embed_tokens(model, arr, lens, seqs.length, opts, out, dim));
      return split(out[0], seqs.length, dim[0]);
    });
  } finally {
    bufs.forEach((b) => koffi.free(b));
    koffi.free(arr);
  }
}
