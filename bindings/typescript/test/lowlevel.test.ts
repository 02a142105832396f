// lowlevel.test.ts — the decode-loop API (decode, logits, score, decodeBatch, Sampler) and GGUF
// tensor reading, checked against llama.cpp's greedy ids and log-probabilities for stories260K.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Llm4allError, Model, Sampler, Session, readTensor } from "../src/index";
import { needs, stories, testdata } from "./testdata";

const goldenPath = path.join(testdata, "golden", "stories260K.greedy16.json");
const skip = needs(stories) || needs(goldenPath);
const golden = () => JSON.parse(fs.readFileSync(goldenPath, "utf8")).cases[0];

const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);

test("decode + logits + Sampler reproduce llama.cpp's greedy tokens", { skip }, () => {
  const c = golden();
  using m = Model.load(stories, { nCtx: 128 });
  using s = m.createSession();
  using greedy = new Sampler({ temp: 0 });
  const prompt = m.tokenize(c.prompt);
  assert.equal(prompt.length, c.prompt_tokens);
  s.decode(prompt);
  const ids: number[] = [];
  for (let i = 0; i < 16; i++) {
    const [row] = s.logits();
    assert.equal(row.length, 512);
    const t = greedy.sample(row);
    assert.equal(t, argmax(row));
    greedy.accept(t);
    ids.push(t);
    s.decode([t]);
  }
  assert.deepEqual(ids, c.tokens.map((t: any) => t.id));
  assert.equal(s.nPast, prompt.length + 16);
  s.truncate(prompt.length);
  assert.equal(s.nPast, prompt.length);
  assert.throws(() => greedy.sample(new Float32Array(512).fill(-Infinity)), Llm4allError);
});

test("score gives llama.cpp's log-probabilities and argmax", { skip }, () => {
  const c = golden();
  using m = Model.load(stories, { nCtx: 128 });
  using s = m.createSession();
  const prompt = m.tokenize(c.prompt);
  const ids = c.tokens.map((t: any) => t.id);
  const { logprobs, top1 } = s.score([...prompt, ...ids], prompt.length);
  assert.deepEqual(Array.from(top1), ids);
  logprobs.forEach((lp, i) => assert.ok(Math.abs(lp - c.tokens[i].logprob) < 0.01, `${i}: ${lp} vs ${c.tokens[i].logprob}`));
  s.setTokens(prompt);
  assert.equal(s.nPast, prompt.length);
});

test("decodeBatch gives each session the logits decode gives it", { skip }, () => {
  using m = Model.load(stories, { nCtx: 128 });
  const a = m.tokenize("Once upon a time"), b = m.tokenize("The cat sat");
  using s1 = m.createSession(), s2 = m.createSession(), r1 = m.createSession(), r2 = m.createSession();
  Session.decodeBatch([{ session: s1, tokens: a }, { session: s2, tokens: b, allLogits: true }]);
  r1.decode(a);
  r2.decode(b, true);
  assert.deepEqual(s1.logits(), r1.logits());
  assert.equal(s2.logits().length, b.length);
  assert.deepEqual(s2.logits(), r2.logits());
  assert.throws(() => Session.decodeBatch([{ session: s1, tokens: [100000] }]), Llm4allError);
});

test("readTensor dequantizes a GGUF tensor", { skip: needs(stories) }, () => {
  const emb = readTensor(stories, "token_embd.weight");
  assert.equal(emb.length, 512 * 64);
  assert.ok(emb.some((x) => x !== 0));
  assert.throws(() => readTensor(stories, "no.such.tensor"), Llm4allError);
});
