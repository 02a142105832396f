// runner.ts — a session's worker thread and its queue of calls: one call at a time, pieces
// streamed back as messages, stop requests through a shared flag plus llm4all_session_abort.
// It holds the session's HandleBox but never the Session, so a dropped Session can still be
// collected (its finalizer then stops the idle worker and frees the native session).
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { C } from "./native";
import { Llm4allError } from "./errors";
import { HandleBox } from "./handles";
import type { WorkRequest } from "./worker";

export interface Pending {
  req: WorkRequest;
  cancelled: boolean;
  onPiece?: (piece: string) => void;
  resolve: (r: any) => void;
  reject: (e: unknown) => void;
}

export class Runner {
  private worker?: Worker;
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private readonly queue: Pending[] = [];
  running?: Pending;

  constructor(private readonly box: HandleBox) {}

  get busy(): boolean {
    return this.running !== undefined || this.queue.length > 0;
  }

  /** Runs req on the worker thread after the calls queued before it. */
  submit(req: WorkRequest, onPiece?: (piece: string) => void): Promise<any> & { pending: Pending } {
    let pending!: Pending;
    const p = new Promise((resolve, reject) => {
      pending = { req, cancelled: false, onPiece, resolve, reject };
    }) as Promise<any> & { pending: Pending };
    p.pending = pending;
    this.queue.push(pending);
    this.pump();
    return p;
  }

  /** Stops the running call at its next token (the queued ones still run). */
  stop(): void {
    if (this.running) this.running.cancelled = true;
    Atomics.store(this.stopFlag, 0, 1);
    if (this.box.ptr !== null) C.session_abort(this.box.ptr);
  }

  /** Rejects the queued calls, stops the running one; then() runs once nothing runs any more. */
  drain(then: () => void): void {
    for (const p of this.queue.splice(0)) p.reject(new Error("llm4all: session closed"));
    const r = this.running;
    if (!r) { then(); return; }
    this.stop();
    const { resolve, reject } = r;
    r.resolve = (v) => { resolve(v); then(); };
    r.reject = (e) => { reject(e); then(); };
  }

  /** Ends the (idle) worker thread. */
  terminate(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private pump(): void {
    if (this.running || this.queue.length === 0) return;
    const p = this.queue.shift()!;
    if (this.box.ptr === null) { p.reject(new Error("llm4all: session is closed")); return; }
    this.running = p;
    const w = this.ensureWorker();
    Atomics.store(this.stopFlag, 0, p.cancelled ? 1 : 0);
    w.ref(); // keeps the process alive while a call runs; unref'd again when it ends
    w.postMessage(p.req);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(path.join(__dirname, "worker.js"), { workerData: { stop: this.stopFlag.buffer } });
    w.on("message", (m: any) => {
      const p = this.running;
      if (!p) return;
      if (m.type === "piece") { p.onPiece?.(m.piece); return; }
      this.running = undefined;
      w.unref();
      if (m.type === "done") p.resolve(m.result);
      else if (m.status !== null) p.reject(new Llm4allError(m.status, m.message));
      else p.reject(new Error(m.message));
      this.pump();
    });
    w.on("error", (e) => {
      const p = this.running;
      this.running = undefined;
      this.worker = undefined;
      p?.reject(e);
      this.pump();
    });
    w.unref();
    this.worker = w;
    return w;
  }
}
