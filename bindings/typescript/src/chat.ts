// chat.ts — a Chat: a conversation over a Session (llm4all_chat). Messages are rendered with
// the model's chat template (or one given here); only the tokens after what the KV cache
// already holds are decoded. Replies append themselves to the conversation.
import { C, takeString } from "./native";
import { check } from "./errors";
import { HandleBox, track, untrack } from "./handles";
import { GenerateOptions, GenerateStats } from "./options";
import { OnPiece, runChat } from "./calls";
import type { Session } from "./session";

export interface ChatOptions {
  /** Jinja chat template; default: the model's tokenizer.chat_template. */
  template?: string;
  /** A first message with role "system". */
  systemMessage?: string;
  /** Extra template variables, e.g. { enable_thinking: false }. */
  variables?: Record<string, unknown>;
  /** When the conversation no longer fits n_ctx: drop the oldest turns (default) or fail. */
  overflow?: "drop_oldest" | "error";
}

/** A chat message as the template sees it (any extra fields reach the template too). */
export interface Message {
  role: string;
  content?: string;
  [key: string]: unknown;
}

export class Chat implements Disposable {
  readonly session: Session;
  /** Reasoning (<think>...</think>) of the last reply, "" when none. */
  lastReasoning = "";
  lastStats?: GenerateStats;
  private readonly box: HandleBox;

  private constructor(session: Session, box: HandleBox) {
    this.session = session;
    this.box = box;
    track(this, box);
  }

  /** @internal use Session.chat */
  static create(session: Session, o: ChatOptions): Chat {
    const s: any = {};
    C.chat_options_init(s);
    if (o.template !== undefined) s.template_src = o.template;
    if (o.systemMessage !== undefined) s.system_message = o.systemMessage;
    if (o.variables !== undefined) s.variables_json = JSON.stringify(o.variables);
    if (o.overflow !== undefined) s.overflow = o.overflow === "error" ? 1 : 0;
    const out: (bigint | null)[] = [null];
    check(C.chat_new(session.handle, s, out));
    return new Chat(session, new HandleBox(out[0]!, (p) => C.chat_free(p), session.box));
  }

  get handle(): bigint {
    if (this.box.closed) throw new Error("llm4all: chat is closed");
    return this.box.ptr!;
  }

  addMessage(message: Message): void {
    check(C.chat_add_message(this.handle, JSON.stringify(message)));
  }

  /** Replaces the whole conversation (the system message too, if any). */
  setMessages(messages: Message[]): void {
    check(C.chat_set_messages(this.handle, JSON.stringify(messages)));
  }

  messages(): Message[] {
    const out: (bigint | null)[] = [null];
    check(C.chat_messages(this.handle, out));
    return JSON.parse(takeString(out[0]));
  }

  /** The conversation as the next reply's prompt (with the generation prompt). */
  render(): string {
    const out: (bigint | null)[] = [null];
    check(C.chat_render(this.handle, out));
    return takeString(out[0]);
  }

  /** Forgets every message but the system message (the KV cache stays for reuse). */
  reset(): void {
    check(C.chat_reset(this.handle));
  }

  /** Sends a user message and returns the reply (without reasoning), on this thread. */
  send(text: string, options: GenerateOptions = {}, onToken?: OnPiece): string {
    return this.finish(this.callSync(text, options, onToken));
  }

  /** The reply to the conversation as it stands (e.g. after addMessage of a tool result). */
  respond(options: GenerateOptions = {}, onToken?: OnPiece): string {
    return this.finish(this.callSync(null, options, onToken));
  }

  async sendAsync(text: string, options: GenerateOptions = {}): Promise<string> {
    return this.finish(await this.session.submit({ kind: "chat", handle: this.handle, text, options, stream: false }));
  }

  /** The reply piece by piece (reasoning included); leaving the loop early stops it. */
  sendStream(text: string, options: GenerateOptions = {}): AsyncIterableIterator<string> {
    return this.session.streamWork({ kind: "chat", handle: this.handle, text, options, stream: true },
      (r) => { this.finish(r); });
  }

  respondStream(options: GenerateOptions = {}): AsyncIterableIterator<string> {
    return this.session.streamWork({ kind: "chat", handle: this.handle, text: null, options, stream: true },
      (r) => { this.finish(r); });
  }

  close(): void {
    if (this.box.closed) return;
    this.session.assertIdle();
    untrack(this.box);
    this.box.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private callSync(text: string | null, options: GenerateOptions, onToken?: OnPiece) {
    this.session.assertIdle();
    return runChat(this.handle, text, options, onToken);
  }

  private finish(r: { text: string; reasoning: string; stats: GenerateStats }): string {
    this.lastReasoning = r.reasoning;
    this.lastStats = r.stats;
    this.session.lastStats = r.stats;
    return r.text;
  }
}
