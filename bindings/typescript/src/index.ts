// index.ts — the llm4all package for Node: Model, Session, Chat, Llm4allError and the
// library-wide calls of the C ABI (version, devices, template rendering, GGUF inspection).
import { C, takeBytes, takeFloats, takeString } from "./native";
import { check } from "./errors";

export { Model, LoadOptions } from "./model";
export { Session } from "./session";
export { Sampler } from "./sampler";
export { EmbedOptions } from "./embeddings";
export { Chat, ChatOptions, Message } from "./chat";
export { Llm4allError } from "./errors";
export { GenerateOptions, GenerateStats, ModelOptions, SessionOptions, SEED_RANDOM } from "./options";
export { OnPiece } from "./calls";
export { libraryPath } from "./native";

/** Version of the loaded library, e.g. "0.1.0". */
export function version(): string { return C.version(); }

/** LLM4ALL_ABI_VERSION of the loaded library. */
export function abiVersion(): number { return C.abi_version(); }

/** Short name of a status code, e.g. "LLM4ALL_ERR_BAD_GGUF". */
export function statusName(status: number): string { return C.status_name(status); }

/** The backend plugins found and their devices. */
export function devices(): any[] {
  const out: (bigint | null)[] = [null];
  check(C.devices_json(out));
  return JSON.parse(takeString(out[0]));
}

/** Renders a Jinja chat template with context (its variables: messages, add_generation_prompt, ...). */
export function renderChatTemplate(template: string, context: Record<string, unknown>): string {
  const out: (bigint | null)[] = [null];
  const n: (number | bigint)[] = [0];
  check(C.chat_template_render(template, JSON.stringify(context), out, n));
  return takeBytes(out[0], n[0]).toString("utf8");
}

/** Metadata and tensor table of a GGUF file without loading it (arrays over maxArray abbreviated). */
export function describeGguf(path: string, maxArray = 64): any {
  const out: (bigint | null)[] = [null];
  check(C.gguf_describe(path, maxArray, out));
  return JSON.parse(takeString(out[0]));
}

/** One tensor of a GGUF file, dequantized to float32 in file order. */
export function readTensor(path: string, tensorName: string): Float32Array {
  const out: (bigint | null)[] = [null];
  const n: (number | bigint)[] = [0];
  check(C.gguf_read_tensor_f32(path, tensorName, out, n));
  return takeFloats(out[0], n[0]);
}
