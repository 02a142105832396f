// errors.ts — the one error type of this binding: a failed C call's status, its name
// (e.g. "LLM4ALL_ERR_IO") and llm4all_last_error()'s text, read on the thread that failed.
import { C } from "./native";

export class Llm4allError extends Error {
  /** The llm4all_status (< 0). */
  readonly status: number;
  /** llm4all_status_name(status), e.g. "LLM4ALL_ERR_BAD_GGUF". */
  readonly code: string;

  constructor(status: number, message: string) {
    const code = C.status_name(status) as string;
    super(message);
    this.name = "Llm4allError";
    this.status = status;
    this.code = code;
  }
}

/** Throws Llm4allError for a non-OK status; must run right after the call, on its thread. */
export function check(status: number): void {
  if (status !== 0) throw new Llm4allError(status, C.last_error() as string);
}
