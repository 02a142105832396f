// model.ts — a Model: an immutable loaded GGUF model (llm4all_model), shared by any number
// of sessions, on any threads. For simple use it also keeps one default session, so that
// model.generate(prompt) works like the Python package's Model.generate.
import { C, takeBytes, takeInt32s, takeString } from "./native";
import { check } from "./errors";
import { HandleBox, track, untrack } from "./handles";
import { GenerateOptions, ModelOptions, SessionOptions, modelOptions, sessionOptions } from "./options";
import { OnPiece } from "./calls";
import { Session } from "./session";
import { EmbedOptions, embed, embedTokens } from "./embeddings";

/** Model options (device, ...) plus the session options of sessions made without their own. */
export interface LoadOptions extends ModelOptions, SessionOptions {}

export class Model implements Disposable {
  readonly path: string;
  private readonly box: HandleBox;
  private readonly sessionDefaults: SessionOptions;
  private defaultSession?: Session;

  private constructor(path: string, box: HandleBox, sessionDefaults: SessionOptions) {
    this.path = path;
    this.box = box;
    this.sessionDefaults = sessionDefaults;
    track(this, box);
  }

  /** Loads a GGUF file; a missing or malformed file throws Llm4allError with the engine's message. */
  static load(path: string, options: LoadOptions = {}): Model {
    const out: (bigint | null)[] = [null];
    check(C.model_load(path, modelOptions(options), out));
    const { nCtx, nBatch, nThreads, kvType } = options;
    return new Model(path, new HandleBox(out[0]!, (p) => C.model_free(p)), { nCtx, nBatch, nThreads, kvType });
  }

  /** The llm4all_model pointer; throws once closed. */
  get handle(): bigint {
    if (this.box.closed) throw new Error("llm4all: model is closed");
    return this.box.ptr!;
  }

  /** Architecture, parameter count, context length, vocabulary, special tokens, backend, ... */
  info(): Record<string, any> {
    const out: (bigint | null)[] = [null];
    check(C.model_info_json(this.handle, out));
    return JSON.parse(takeString(out[0]));
  }

  get nVocab(): number { return C.model_n_vocab(this.handle); }
  get nCtxTrain(): number { return C.model_n_ctx_train(this.handle); }
  /** -1 when the model has none. */
  get bosToken(): number { return C.model_token_bos(this.handle); }
  get eosToken(): number { return C.model_token_eos(this.handle); }
  isEog(token: number): boolean { return C.model_token_is_eog(this.handle, token); }

  /** Token ids of text; addSpecial adds BOS where the model wants it. */
  tokenize(text: string, { addSpecial = true, parseSpecial = false } = {}): number[] {
    const bytes = Buffer.from(text, "utf8");
    const out: (bigint | null)[] = [null];
    const n: (number | bigint)[] = [0];
    check(C.tokenize(this.handle, bytes, bytes.length, addSpecial, parseSpecial, out, n));
    return takeInt32s(out[0], n[0]);
  }

  /** Text of token ids (bytes that are not valid UTF-8 become U+FFFD). */
  detokenize(tokens: number[], renderSpecial = false): string {
    return this.detokenizeBytes(tokens, renderSpecial).toString("utf8");
  }

  detokenizeBytes(tokens: number[], renderSpecial = false): Buffer {
    const out: (bigint | null)[] = [null];
    const n: (number | bigint)[] = [0];
    check(C.detokenize(this.handle, Int32Array.from(tokens), tokens.length, renderSpecial, out, n));
    return takeBytes(out[0], n[0]);
  }

  /** Raw bytes of one token (possibly part of a UTF-8 character). */
  tokenToPiece(token: number, renderSpecial = false): Buffer {
    const out: (bigint | null)[] = [null];
    const n: (number | bigint)[] = [0];
    check(C.token_to_piece(this.handle, token, renderSpecial, out, n));
    return takeBytes(out[0], n[0]);
  }

  /** Length of the vectors embed() returns at full size; 0 when this is not an embedding model. */
  get embeddingDim(): number { return C.model_embedding_dim(this.handle); }

  /** One vector per text (calls on one model may run at once on several threads). */
  embed(texts: string[], options: EmbedOptions = {}): Float32Array[] {
    return embed(this.handle, texts, options).vectors;
  }

  /** embed(), also giving the number of tokens run. */
  embedWithCount(texts: string[], options: EmbedOptions = {}): { vectors: Float32Array[]; nTokens: number } {
    return embed(this.handle, texts, options);
  }

  /** One vector per already-tokenized sequence (special tokens as given; prefix ignored). */
  embedTokens(sequences: number[][], options: EmbedOptions = {}): Float32Array[] {
    return embedTokens(this.handle, sequences, options);
  }

  /** A new session (KV cache) over this model; options default to those given to load(). */
  createSession(options: SessionOptions = {}): Session {
    const merged = { ...this.sessionDefaults };
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (merged as any)[k] = v;
    const out: (bigint | null)[] = [null];
    check(C.session_new(this.handle, sessionOptions(merged), out));
    return new Session(this, new HandleBox(out[0]!, (p) => C.session_free(p), this.box), this.nVocab);
  }

  /** The model's own session, made on first use (what generate and stream run on). */
  get session(): Session {
    this.defaultSession ??= this.createSession();
    return this.defaultSession;
  }

  generate(prompt: string, options: GenerateOptions = {}, onToken?: OnPiece): string {
    return this.session.generate(prompt, options, onToken);
  }

  generateAsync(prompt: string, options: GenerateOptions = {}): Promise<string> {
    return this.session.generateAsync(prompt, options);
  }

  stream(prompt: string, options: GenerateOptions = {}): AsyncIterableIterator<string> {
    return this.session.stream(prompt, options);
  }

  /** Frees the model once its sessions are closed (or collected). Idempotent. */
  close(): void {
    if (this.box.closed) return;
    this.defaultSession?.close();
    untrack(this.box);
    this.box.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
