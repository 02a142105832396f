// session.test.ts — sampling options, streaming (and stopping it), stop strings, sessions on
// several threads at once, chat sessions, and release (close, using, the GC safety net).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Llm4allError, Model } from "../src/index";
import { cacheModel, needs, stories, testdata } from "./testdata";

const goldenPath = path.join(testdata, "golden", "stories260K.greedy16.json");
const golden = fs.existsSync(goldenPath) ? JSON.parse(fs.readFileSync(goldenPath, "utf8")).cases[0] : null;
const skip = needs(stories) || needs(goldenPath);
const greedy = { maxTokens: 16, temp: 0 };

test("stream() yields the same text as generate(), and leaving the loop stops it", { skip }, async () => {
  using m = Model.load(stories, { nCtx: 2048 });
  let text = "";
  for await (const piece of m.stream(golden.prompt, greedy)) text += piece;
  assert.equal(text, golden.text);
  let first = "";
  let n = 0;
  // Pieces arrive from the worker thread unthrottled, so how far generation got before the
  // break reached it depends on the machine's load; what must hold is that it stopped.
  for await (const piece of m.stream(golden.prompt, { maxTokens: 2000, temp: 0, stopAtEog: false })) {
    first += piece;
    if (++n === 3) break;
  }
  assert.ok(golden.text.startsWith(first) && first.length > 0, first);
  assert.equal(m.session.lastStats?.stopReason, "aborted");
  assert.ok(m.session.lastStats!.generatedTokens < 2000);
  assert.equal(await m.generateAsync(golden.prompt, greedy), golden.text);
});

test("abort() from the event loop stops a call running on the worker", { skip }, async () => {
  using m = Model.load(stories, { nCtx: 2048 });
  const s = m.session;
  let n = 0;
  for await (const piece of s.stream(golden.prompt, { maxTokens: 2000, temp: 0, stopAtEog: false })) {
    void piece;
    if (++n === 2) s.abort(); // the loop then ends by itself
  }
  assert.equal(s.lastStats?.stopReason, "aborted");
  assert.ok(s.lastStats!.generatedTokens < 2000, `${s.lastStats!.generatedTokens} tokens`);
});

test("the token callback stops generation by returning false", { skip }, () => {
  using m = Model.load(stories, { nCtx: 256 });
  let calls = 0;
  const text = m.generate(golden.prompt, { maxTokens: 50, temp: 0 }, () => ++calls < 4);
  assert.equal(calls, 4);
  assert.equal(m.session.lastStats?.stopReason, "aborted");
  assert.ok(golden.text.startsWith(text));
  // an exception in the callback stops generation and reaches the caller
  assert.throws(() => m.generate(golden.prompt, greedy, () => { throw new RangeError("boom"); }), RangeError);
});

test("every sampling option reaches the engine", { skip }, () => {
  using m = Model.load(stories, { nCtx: 256, nThreads: 1 });
  const s = m.session;
  // stop strings: the text ends before the stop string, which is never emitted
  const cut = golden.text.indexOf(" Lily");
  assert.ok(cut > 0);
  assert.equal(s.generate(golden.prompt, { ...greedy, stop: ["zzz", " Lily"] }), golden.text.slice(0, cut));
  assert.equal(s.lastStats?.stopReason, "stop_string");
  // maxTokens
  s.generate(golden.prompt, { maxTokens: 5, temp: 0 });
  assert.equal(s.lastStats?.generatedTokens, 5);
  // top_k 1 leaves only the argmax: sampling at any temperature is then greedy
  assert.equal(s.generate(golden.prompt, { maxTokens: 16, temp: 1.5, topK: 1, seed: 7 }), golden.text);
  // seeds: equal seeds reproduce, different seeds (almost surely) differ at temperature 2
  const hot = { maxTokens: 24, temp: 2, topK: 0, topP: 1, minP: 0, seed: 42 };
  const a = s.generate(golden.prompt, hot);
  assert.equal(s.generate(golden.prompt, hot), a);
  const others = [1, 2, 3].map((seed) => s.generate(golden.prompt, { ...hot, seed }));
  assert.ok(others.some((t) => t !== a));
  // penalties change the greedy continuation of a repetitive model
  const penalised = [
    { repeatPenalty: 3, repeatLastN: 64 }, { presencePenalty: 5 }, { frequencyPenalty: 5 }, { minP: 0.99, temp: 1, seed: 1 },
  ].map((o) => s.generate(golden.prompt, { ...greedy, maxTokens: 32, ...o }));
  const plain = s.generate(golden.prompt, { ...greedy, maxTokens: 32 });
  assert.ok(penalised.slice(0, 3).every((t) => t !== plain), JSON.stringify(penalised));
  assert.equal(penalised[3], plain); // min_p 0.99 keeps only the argmax here
  // addSpecial false: no BOS, so a different prompt and (on this model) a different text
  s.generate(golden.prompt, { ...greedy, addSpecial: false });
  assert.equal(s.lastStats?.promptTokens, golden.prompt_tokens - 1);
  // stopAtEog false keeps going past end-of-text until maxTokens
  s.generate("The end.", { maxTokens: 120, temp: 0, stopAtEog: false });
  assert.equal(s.lastStats?.generatedTokens, 120);
  assert.throws(() => s.generate(golden.prompt, { maxTokens: 4, repeatPenalty: -1 }), Llm4allError);
});

test("one model, several sessions generating on several threads at once", { skip }, async () => {
  using m = Model.load(stories);
  const prompts = ["Once upon a time", "The cat", "Tom and Sue went", "One day, a big"];
  const sessions = prompts.map(() => m.createSession({ nCtx: 256, nThreads: 1 }));
  const want = prompts.map((p) => m.generate(p, { maxTokens: 40, temp: 0 }));
  for (let round = 0; round < 2; round++) {
    const got = await Promise.all(sessions.map((s, i) => s.generateAsync(prompts[i], { maxTokens: 40, temp: 0 })));
    assert.deepEqual(got, want);
  }
  const streams = await Promise.all(sessions.map(async (s, i) => {
    let t = "";
    for await (const piece of s.stream(prompts[i], { maxTokens: 40, temp: 0 })) t += piece;
    return t;
  }));
  assert.deepEqual(streams, want);
  sessions.forEach((s) => s.close());
});

test("async errors carry the C message", { skip }, async () => {
  using m = Model.load(stories, { nCtx: 16 });
  await assert.rejects(m.generateAsync("Once upon a time ".repeat(20), greedy),
    (e: unknown) => e instanceof Llm4allError && e.code === "LLM4ALL_ERR_CONTEXT_FULL" && e.message.length > 10);
});

test("chat sessions: template errors, rendering, replies appended", { skip }, async () => {
  using m = Model.load(stories, { nCtx: 512 });
  const s = m.session;
  assert.throws(() => s.chat(), (e: unknown) => e instanceof Llm4allError && e.code === "LLM4ALL_ERR_TEMPLATE");
  const tpl = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
  using chat = s.chat({ template: tpl, systemMessage: "Be kind." });
  chat.addMessage({ role: "user", content: "Hello" });
  const prompt = chat.render();
  assert.equal(prompt, "system: Be kind.\nuser: Hello\nassistant:");
  const reply = chat.respond({ maxTokens: 8, temp: 0 });
  using fresh = m.createSession({ nCtx: 512 });
  assert.equal(reply, fresh.generate(prompt, { maxTokens: 8, temp: 0 }));
  const msgs = chat.messages();
  assert.deepEqual(msgs.map((x) => x.role), ["system", "user", "assistant"]);
  assert.equal(msgs[2].content, reply);
  let streamed = "";
  for await (const piece of chat.sendStream("Tell me more", { maxTokens: 8, temp: 0 })) streamed += piece;
  assert.equal(chat.messages().length, 5);
  assert.equal(chat.messages()[4].content, streamed);
  assert.ok((chat.lastStats?.promptDecoded ?? 99) < (chat.lastStats?.promptTokens ?? 0)); // prefix reuse
  chat.reset();
  assert.deepEqual(chat.messages().map((x) => x.role), ["system"]);
  assert.throws(() => chat.setMessages({} as any), (e: unknown) => e instanceof Llm4allError);
});

test("chat with the model's own template (SmolLM2)", { skip: needs(cacheModel("smollm2")) }, async () => {
  using m = Model.load(cacheModel("smollm2"), { nCtx: 1024 });
  using chat = m.session.chat();
  chat.addMessage({ role: "user", content: "What is the capital of France?" });
  const prompt = chat.render();
  // SmolLM2's ChatML template as transformers renders it (its default system message first)
  assert.ok(prompt.startsWith("<|im_start|>system\n"), prompt);
  assert.ok(prompt.endsWith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"), prompt);
  let streamed = "";
  for await (const piece of chat.respondStream({ maxTokens: 12, temp: 0 })) streamed += piece;
  using fresh = m.createSession({ nCtx: 1024 });
  assert.equal(streamed, fresh.generate(prompt, { maxTokens: 12, temp: 0, parseSpecial: true }));
  assert.deepEqual(chat.messages().map((x) => [x.role, x.content]),
    [["user", "What is the capital of France?"], ["assistant", streamed]]);
});

test("close, using and the finalizer safety net", { skip }, () => {
  const m = Model.load(stories, { nCtx: 64 });
  const s = m.createSession();
  m.close(); // the session keeps the native model alive until it is closed
  assert.throws(() => m.nVocab, /closed/);
  assert.equal(s.generate(golden.prompt, greedy), golden.text);
  s.close();
  s.close();
  assert.throws(() => s.generate("x"), /closed/);
  {
    using m2 = Model.load(stories, { nCtx: 64 });
    using s2 = m2.createSession();
    assert.equal(s2.nCtx, 64);
  }
  // dropped without close: the FinalizationRegistry frees them (run with --expose-gc to force it)
  for (let i = 0; i < 20; i++) Model.load(stories, { nCtx: 64 }).createSession().chat({ template: "{{ x }}" });
  (globalThis as any).gc?.();
});

test("a dropped session that streamed can be collected (its worker does not pin it)", { skip: skip || (typeof (globalThis as any).gc !== "function" && "needs node --expose-gc") }, async () => {
  using m = Model.load(stories, { nCtx: 64 });
  const weak = await (async () => {
    const s = m.createSession();
    let text = "";
    for await (const piece of s.stream(golden.prompt, greedy)) text += piece;
    assert.equal(text, golden.text);
    return new WeakRef(s);
  })();
  for (let i = 0; i < 10 && weak.deref() !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
    (globalThis as any).gc();
  }
  assert.equal(weak.deref(), undefined);
});
