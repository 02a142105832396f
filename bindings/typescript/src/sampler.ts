// sampler.ts — a Sampler on its own (llm4all_sampler), for callers that run the decode loop
// themselves (Session.decode / decodeBatch + logits): the same chain as generate.
import { C } from "./native";
import { check } from "./errors";
import { HandleBox, track, untrack } from "./handles";
import { GenerateOptions, generateOptions } from "./options";

export class Sampler implements Disposable {
  private readonly box: HandleBox;

  /** A sampler with options' sampling settings (unset ones: the C defaults). */
  constructor(options: GenerateOptions = {}) {
    const defaults: any = {};
    C.sampler_options_init(defaults);
    const opts = generateOptions({ ...options, stop: undefined });
    const s = { ...opts.struct.sampling, size: defaults.size };
    const out: (bigint | null)[] = [null];
    check(C.sampler_new(s, out));
    this.box = new HandleBox(out[0]!, (p) => C.sampler_free(p));
    track(this, this.box);
  }

  private get handle(): bigint {
    if (this.box.closed) throw new Error("llm4all: sampler is closed");
    return this.box.ptr!;
  }

  /** Picks a token from logits (-Infinity entries are never chosen); does not accept it. */
  sample(logits: Float32Array): number {
    const out = [0];
    check(C.sampler_sample(this.handle, logits, logits.length, out));
    return out[0];
  }

  /** Adds a token to the penalty window. */
  accept(token: number): void {
    check(C.sampler_accept(this.handle, token));
  }

  close(): void {
    if (this.box.closed) return;
    untrack(this.box);
    this.box.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
