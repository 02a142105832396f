// session.ts — a Session: one KV cache and sampler over a Model (llm4all_session). Synchronous
// generate() blocks the calling thread; generateAsync() and stream() run on the session's own
// worker thread and stream pieces back. One call at a time per session (calls queue); several
// sessions of one model may generate at once, each on its own thread.
import { C, BatchItem, koffi } from "./native";
import { check } from "./errors";
import { HandleBox, track, untrack } from "./handles";
import { GenerateOptions, GenerateStats } from "./options";
import { OnPiece, runGenerate } from "./calls";
import type { WorkRequest } from "./worker";
import { Pending, Runner } from "./runner";
import { Chat, ChatOptions } from "./chat";
import type { Model } from "./model";

export class Session implements Disposable {
  /** The model this session reads (kept alive by the session). */
  readonly model: Model;
  /** Why the last call on this session stopped, and its token counts and timings. */
  lastStats?: GenerateStats;
  /** @internal */ readonly box: HandleBox;
  private readonly runner: Runner;

  private readonly nVocab: number;

  /** @internal use Model.createSession */
  constructor(model: Model, box: HandleBox, nVocab: number) {
    this.model = model;
    this.box = box;
    this.nVocab = nVocab;
    const runner = new Runner(box);
    this.runner = runner;
    box.cleanup = () => runner.terminate(); // must not capture the Session (see runner.ts)
    track(this, box);
  }

  /** The llm4all_session pointer; throws once closed. */
  get handle(): bigint {
    if (this.box.closed) throw new Error("llm4all: session is closed");
    return this.box.ptr!;
  }

  /** KV cache size in tokens. */
  get nCtx(): number {
    return C.session_n_ctx(this.handle);
  }

  /** Tokens now in the KV cache. */
  get nPast(): number {
    return C.session_n_past(this.handle);
  }

  /** Drops cached tokens from position nKeep on. */
  truncate(nKeep: number): void {
    this.assertIdle();
    check(C.session_truncate(this.handle, nKeep));
  }

  /** Makes the KV cache hold exactly tokens (keeping the longest cached prefix, decoding the rest). */
  setTokens(tokens: number[]): void {
    this.assertIdle();
    check(C.session_set_tokens(this.handle, Int32Array.from(tokens), tokens.length));
  }

  /** Appends tokens to the cache; allLogits keeps logits for every appended position. */
  decode(tokens: number[], allLogits = false): void {
    this.assertIdle();
    check(C.session_decode(this.handle, Int32Array.from(tokens), tokens.length, allLogits));
  }

  /** Logits of the last decode: one row of nVocab floats per kept position. */
  logits(): Float32Array[] {
    this.assertIdle();
    const p: (bigint | null)[] = [null];
    const rows = [0];
    check(C.session_logits(this.handle, p, rows));
    const all = new Float32Array(koffi.view(p[0]!, rows[0] * this.nVocab * 4).slice(0));
    return Array.from({ length: rows[0] }, (_, r) => all.subarray(r * this.nVocab, (r + 1) * this.nVocab));
  }

  /** Teacher forcing: log P(tokens[i] | tokens[..i]) for first <= i < n, and the argmax at each. */
  score(tokens: number[], first = 1): { logprobs: Float32Array; top1: Int32Array } {
    this.assertIdle();
    if (first < 1 || first > tokens.length) throw new RangeError(`first must be in 1..${tokens.length}`);
    const logprobs = new Float32Array(tokens.length - first);
    const top1 = new Int32Array(tokens.length - first);
    check(C.session_score(this.handle, Int32Array.from(tokens), tokens.length, first, logprobs, top1));
    return { logprobs, top1 };
  }

  /** One decode step for several sessions of one model (llm4all_decode_batch): each item's tokens
   * are appended to its session as decode() would, in shared forward passes. */
  static decodeBatch(items: { session: Session; tokens: number[]; allLogits?: boolean }[]): void {
    const buffers: bigint[] = [];
    try {
      const native = items.map((it) => {
        it.session.assertIdle();
        const buf = koffi.alloc("int32_t", Math.max(1, it.tokens.length));
        buffers.push(buf);
        if (it.tokens.length > 0) koffi.encode(buf, "int32_t", it.tokens, it.tokens.length);
        return { session: it.session.handle, tokens: buf, n_tokens: it.tokens.length, all_logits: !!it.allLogits };
      });
      void BatchItem;
      check(C.decode_batch(native, native.length));
    } finally {
      buffers.forEach((b) => koffi.free(b));
    }
  }

  /** Continues prompt (raw text, no chat template) on this thread; onToken may return false to stop. */
  generate(prompt: string, options: GenerateOptions = {}, onToken?: OnPiece): string {
    this.assertIdle();
    const r = runGenerate(this.handle, prompt, options, onToken);
    this.lastStats = r.stats;
    return r.text;
  }

  /** generate() on the session's worker thread. */
  async generateAsync(prompt: string, options: GenerateOptions = {}): Promise<string> {
    const r = await this.submit({ kind: "generate", handle: this.handle, text: prompt, options, stream: false });
    this.lastStats = r.stats;
    return r.text;
  }

  /** The generated text piece by piece; leaving the loop (break, return, throw) stops generation. */
  stream(prompt: string, options: GenerateOptions = {}): AsyncIterableIterator<string> {
    return this.streamWork({ kind: "generate", handle: this.handle, text: prompt, options, stream: true },
      (r) => { this.lastStats = r.stats; });
  }

  /** Asks the running call to stop at the next token (any thread; llm4all_session_abort). */
  abort(): void {
    this.runner.stop();
  }

  /** A conversation over this session, rendered with the model's chat template (or options.template). */
  chat(options: ChatOptions = {}): Chat {
    return Chat.create(this, options);
  }

  /** Frees the session now (after the running call, if any, has stopped). Idempotent. */
  close(): void {
    if (this.box.closed) return;
    untrack(this.box);
    this.box.closed_by_owner();
    this.runner.drain(() => this.box.release());
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal */
  assertIdle(): void {
    if (this.runner.busy) {
      throw new Error("llm4all: the session is running an asynchronous call; await it or use another session");
    }
  }

  /** @internal runs req on the worker thread, after the calls queued before it. */
  submit(req: WorkRequest, onPiece?: (piece: string) => void): Promise<any> & { pending: Pending } {
    return this.runner.submit(req, onPiece);
  }

  /** @internal an async iterator over the pieces of req; leaving it early stops the call. */
  streamWork(req: WorkRequest, onDone: (r: any) => void): AsyncIterableIterator<string> {
    const pieces: string[] = [];
    let finished = false;
    let error: unknown;
    let wake: (() => void) | null = null;
    let call: (Promise<any> & { pending: Pending }) | null = null;
    const notify = () => { const w = wake; wake = null; w?.(); };
    const start = () => {
      call = this.submit(req, (piece) => { pieces.push(piece); notify(); });
      call.then((r) => { onDone(r); }, (e) => { error = e; })
        .finally(() => { finished = true; notify(); });
    };
    const it: AsyncIterableIterator<string> = {
      next: async () => {
        if (!call) start();
        for (;;) {
          if (pieces.length > 0) return { value: pieces.shift()!, done: false };
          if (finished) {
            if (error !== undefined) { const e = error; error = undefined; throw e; }
            return { value: undefined, done: true };
          }
          await new Promise<void>((r) => { wake = r; });
        }
      },
      return: async () => {
        if (call && !finished) {
          const pending = call.pending;
          pending.cancelled = true;
          if (this.runner.running === pending) this.runner.stop();
          await call.catch(() => undefined);
        }
        pieces.length = 0;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() { return it; },
    };
    return it;
  }
}
