// embeddings.test.ts — embed / embedTokens on all-MiniLM-L6-v2 (the catalogue's minilm GGUF),
// checked against sentence-transformers 6.2.0 on the same model's Hugging Face checkpoint:
// its first 8 components of the first sentence and the cosine similarities below.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Llm4allError, Model } from "../src/index";
import { cacheModel, needs, stories } from "./testdata";

const minilm = cacheModel("minilm-f16");
const sentences = ["The cat sits on the mat.", "A cat is sitting on a mat.", "Stock markets fell sharply."];
// sentence-transformers: SentenceTransformer(<hf minilm>).encode(sentences, normalize_embeddings=True)
const REF_FIRST8 = [0.13418, -0.0329, -0.0248, 0.04144, -0.03635, 0.04181, 0.03122, 0.0372];
const REF_COS01 = 0.971758, REF_COS02 = 0.039533;
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

test("embed matches sentence-transformers", { skip: needs(minilm) }, () => {
  using m = Model.load(minilm);
  assert.equal(m.embeddingDim, 384);
  const plans: number[][] = [];
  const v = m.embed(sentences, { onBatch: (counts) => { plans.push(counts); } });
  assert.equal(v.length, 3);
  assert.equal(v[0].length, 384);
  REF_FIRST8.forEach((x, i) => assert.ok(Math.abs(v[0][i] - x) < 2e-3, `${i}: ${v[0][i]} vs ${x}`));
  assert.ok(Math.abs(dot(v[0], v[1]) - REF_COS01) < 2e-3);
  assert.ok(Math.abs(dot(v[0], v[2]) - REF_COS02) < 2e-3);
  assert.ok(Math.abs(dot(v[0], v[0]) - 1) < 1e-5);
  assert.ok(plans.length >= 1 && plans[0].reduce((a, b) => a + b, 0) > 0);
  // the same text already tokenized (with [CLS] ... [SEP]) gives the same vector
  const [w] = m.embedTokens([m.tokenize(sentences[0])]);
  assert.ok(Math.abs(dot(w, v[0]) - 1) < 1e-5);
  // options reach the engine
  const [cut] = m.embed([sentences[0]], { dimensionality: 128 });
  assert.equal(cut.length, 128);
  const [raw] = m.embed([sentences[0]], { normalize: false });
  assert.ok(Math.abs(Math.sqrt(dot(raw, raw)) - 1) > 1e-3);
  const { nTokens } = m.embedWithCount(sentences);
  assert.ok(nTokens >= 3 * 3);
  assert.throws(() => m.embed(["x"], { onBatch: () => false }),
    (e: unknown) => e instanceof Llm4allError && e.code === "LLM4ALL_ERR_CANCELLED");
});

test("a decoder is not an embedding model", { skip: needs(stories) }, () => {
  using m = Model.load(stories);
  assert.equal(m.embeddingDim, 0);
  assert.throws(() => m.embed(["x"]), (e: unknown) => e instanceof Llm4allError && e.code === "LLM4ALL_ERR_UNSUPPORTED");
});
