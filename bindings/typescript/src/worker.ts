// worker.ts — the thread a Session runs its asynchronous generation on (one per session,
// started on first use), so the event loop stays free while tokens stream back as messages.
// It calls the same blocking functions as the synchronous API; a shared flag set by the
// main thread makes the token callback return false (stop), next to llm4all_session_abort.
import { parentPort, workerData } from "node:worker_threads";
import { runChat, runGenerate } from "./calls";
import { Llm4allError } from "./errors";

export interface WorkRequest {
  kind: "generate" | "chat";
  handle: bigint;          // session (generate) or chat (chat)
  text: string | null;     // prompt, or the user message (null: respond to the conversation)
  options: any;
  stream: boolean;
}

const stop = new Int32Array(workerData.stop as SharedArrayBuffer);

parentPort!.on("message", (req: WorkRequest) => {
  const onPiece = (piece: string, token: number) => {
    if (req.stream && piece !== "") parentPort!.postMessage({ type: "piece", piece, token });
    return Atomics.load(stop, 0) === 0;
  };
  try {
    const r = req.kind === "generate"
      ? runGenerate(req.handle, req.text ?? "", req.options, onPiece)
      : runChat(req.handle, req.text, req.options, onPiece);
    parentPort!.postMessage({ type: "done", result: r });
  } catch (e) {
    if (e instanceof Llm4allError) parentPort!.postMessage({ type: "error", status: e.status, message: e.message });
    else parentPort!.postMessage({ type: "error", status: null, message: String((e as Error)?.message ?? e) });
  }
});
