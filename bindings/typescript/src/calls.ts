// calls.ts — the blocking generate/chat calls, shared by the synchronous API (main thread)
// and the generation worker (worker.ts): fill the C structs, call, copy and free the outputs,
// and turn a failed status into Llm4allError on the calling thread (last_error is per thread).
import { C, ChatStats, GenerateResult, koffi, takeString } from "./native";
import { check } from "./errors";
import { GenerateOptions, GenerateStats, generateOptions, statsFromChat, statsFromResult } from "./options";

/** Called with each piece of text as it is generated; return false to stop. */
export type OnPiece = (piece: string, token: number) => boolean | void;

// An exception thrown by the callback must not cross the C frames: it stops generation
// (the callback returns false) and is rethrown once the C call has returned.
function trampoline(onPiece?: OnPiece) {
  const box: { error?: unknown; fn: ((piece: string, token: number, user: unknown) => boolean) | null } = { fn: null };
  if (onPiece) {
    box.fn = (piece, token) => {
      try {
        return onPiece(piece ?? "", token) !== false;
      } catch (e) {
        box.error ??= e;
        return false;
      }
    };
  }
  return box;
}

export function runGenerate(session: bigint, prompt: string, o: GenerateOptions = {}, onPiece?: OnPiece):
    { text: string; stats: GenerateStats } {
  const opts = generateOptions(o);
  const result: any = { size: koffi.sizeof(GenerateResult) };
  const out: (bigint | null)[] = [null];
  try {
    const cb = trampoline(onPiece);
    const status = C.session_generate(session, prompt, opts.struct, cb.fn, null, out, result);
    const text = takeString(out[0]);
    check(status);
    if (cb.error !== undefined) throw cb.error;
    return { text, stats: statsFromResult(result) };
  } finally {
    opts.release();
  }
}

export function runChat(chat: bigint, text: string | null, o: GenerateOptions = {}, onPiece?: OnPiece):
    { text: string; reasoning: string; stats: GenerateStats } {
  const opts = generateOptions(o);
  const stats: any = { size: koffi.sizeof(ChatStats) };
  const answer: (bigint | null)[] = [null];
  const reasoning: (bigint | null)[] = [null];
  try {
    const cb = trampoline(onPiece);
    const status = text === null
      ? C.chat_respond(chat, opts.struct, cb.fn, null, answer, reasoning, stats)
      : C.chat_send(chat, text, opts.struct, cb.fn, null, answer, reasoning, stats);
    const a = takeString(answer[0]);
    const r = takeString(reasoning[0]);
    check(status);
    if (cb.error !== undefined) throw cb.error;
    return { text: a, reasoning: r, stats: statsFromChat(stats) };
  } finally {
    opts.release();
  }
}
