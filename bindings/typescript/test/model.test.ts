// model.test.ts — loading, errors, model facts, tokenizer and greedy generation, checked
// against llama.cpp's outputs for stories260K (shared test data: golden/, vocab/derived/).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Llm4allError, Model, abiVersion, describeGguf, devices, renderChatTemplate, version } from "../src/index";
import { needs, stories, testdata } from "./testdata";

test("library version and ABI", () => {
  assert.match(version(), /^\d+\.\d+\.\d+/);
  assert.equal(abiVersion(), 2);
});

test("a missing model file is an Llm4allError with the C message", () => {
  const missing = path.join(testdata, "no-such-model.gguf");
  assert.throws(() => Model.load(missing), (e: unknown) => {
    assert.ok(e instanceof Llm4allError);
    assert.equal(e.code, "LLM4ALL_ERR_IO");
    assert.equal(e.status, -2);
    assert.ok(e.message.includes(missing), e.message);
    return true;
  });
});

test("a file that is not GGUF is LLM4ALL_ERR_BAD_GGUF", { skip: needs(path.join(testdata, "README.md")) }, () => {
  assert.throws(() => Model.load(path.join(testdata, "README.md")),
    (e: unknown) => e instanceof Llm4allError && e.code === "LLM4ALL_ERR_BAD_GGUF");
});

test("model facts", { skip: needs(stories) }, () => {
  using m = Model.load(stories);
  assert.equal(m.nVocab, 512);
  const info = m.info();
  assert.equal(info.architecture, "llama");
  assert.equal(info.n_vocab, 512);
  assert.equal(m.bosToken, 1);
  assert.equal(m.eosToken, 2);
  assert.ok(m.isEog(m.eosToken));
  assert.ok(!m.isEog(100));
  assert.equal(describeGguf(stories).metadata["general.architecture"], "llama");
});

test("tokenizer matches llama.cpp on its test strings", { skip: needs(path.join(testdata, "vocab", "derived", "stories260K.llamacpp.out")) }, () => {
  const dir = path.join(testdata, "vocab", "derived");
  const inputs = fs.readFileSync(path.join(dir, "stories260K.llamacpp.inp"), "utf8").split("\n__ggml_vocab_test__\n");
  const outputs = fs.readFileSync(path.join(dir, "stories260K.llamacpp.out"), "utf8").split("\n");
  using m = Model.load(stories);
  let checked = 0;
  inputs.forEach((text, i) => {
    if (i >= outputs.length) return;
    const want = outputs[i].trim() === "" ? [] : outputs[i].trim().split(/\s+/).map(Number);
    assert.deepEqual(m.tokenize(text, { addSpecial: false }), want, JSON.stringify(text));
    checked++;
  });
  assert.ok(checked > 40);
  const ids = m.tokenize("Once upon a time");
  assert.equal(ids[0], m.bosToken);
  assert.equal(m.detokenize(ids), "Once upon a time");
  assert.equal(m.tokenToPiece(ids[1]).toString("utf8"), " Once");
});

test("the device option picks the backend devices() marks as selected", { skip: needs(stories) }, () => {
  const selected = devices().filter((d) => d.selected);
  assert.ok(selected.length >= 1);
  using m = Model.load(stories, { device: "cpu" });
  const cpu = selected.find((d) => d.backend === "cpu");
  assert.equal(m.info().backend, `cpu-${cpu.variant}`);
  assert.throws(() => Model.load(stories, { device: "no-such-device" }),
    (e: unknown) => e instanceof Llm4allError && e.code === "LLM4ALL_ERR_BACKEND" && e.message.includes("no-such-device"));
});

interface Golden { cases: { prompt: string; text: string; tokens: { id: number }[] }[] }
const goldenPath = path.join(testdata, "golden", "stories260K.greedy16.json");

test("greedy generation equals llama.cpp's (ids and text)", { skip: needs(goldenPath) || needs(stories) }, () => {
  const golden: Golden = JSON.parse(fs.readFileSync(goldenPath, "utf8"));
  using m = Model.load(stories, { nCtx: 256 });
  for (const c of golden.cases) {
    const ids: number[] = [];
    const text = m.generate(c.prompt, { maxTokens: 16, temp: 0 }, (_piece, token) => { ids.push(token); });
    assert.deepEqual(ids, c.tokens.map((t) => t.id), c.prompt);
    assert.equal(text, c.text);
    assert.equal(m.session.lastStats?.stopReason, "max_tokens");
    assert.equal(m.session.lastStats?.generatedTokens, 16);
  }
});

test("renderChatTemplate renders Jinja with the given context", () => {
  const tpl = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
  const out = renderChatTemplate(tpl, { messages: [{ role: "user", content: "Hi" }], add_generation_prompt: true });
  assert.equal(out, "<user>Hi\n<assistant>");
  assert.throws(() => renderChatTemplate("{{ raise_exception('no') }}", {}),
    (e: unknown) => e instanceof Llm4allError && e.code === "LLM4ALL_ERR_TEMPLATE" && e.message.includes("no"));
});
