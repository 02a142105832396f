// EmbeddingTests.cs — Embed / EmbedTokens on all-MiniLM-L6-v2 (the catalogue's minilm GGUF),
// checked against sentence-transformers 6.2.0 on the same model's Hugging Face checkpoint:
// its first 8 components of the first sentence and the cosine similarities below.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Llm4all.Tests
{
    public static class EmbeddingTests
    {
        static readonly string[] Sentences = { "The cat sits on the mat.", "A cat is sitting on a mat.", "Stock markets fell sharply." };
        // SentenceTransformer(<hf minilm>).encode(Sentences, normalize_embeddings=True)
        static readonly double[] RefFirst8 = { 0.13418, -0.0329, -0.0248, 0.04144, -0.03635, 0.04181, 0.03122, 0.0372 };
        const double RefCos01 = 0.971758, RefCos02 = 0.039533;

        static double Dot(float[] a, float[] b) { return a.Zip(b, (x, y) => (double)x * y).Sum(); }

        [Test]
        public static void EmbedMatchesSentenceTransformers()
        {
            using (var m = Model.Load(TestData.CacheModel("minilm-f16")))
            {
                Assert.Equal(384, m.EmbeddingDim);
                var plans = new List<int[]>();
                float[][] v = m.Embed(Sentences, new EmbedOptions { OnBatch = c => { plans.Add(c); return true; } });
                Assert.Equal(3, v.Length);
                Assert.Equal(384, v[0].Length);
                for (int i = 0; i < 8; i++) Assert.True(Math.Abs(v[0][i] - RefFirst8[i]) < 2e-3, i + ": " + v[0][i]);
                Assert.True(Math.Abs(Dot(v[0], v[1]) - RefCos01) < 2e-3, "cos 0,1");
                Assert.True(Math.Abs(Dot(v[0], v[2]) - RefCos02) < 2e-3, "cos 0,2");
                Assert.True(plans.Count >= 1 && plans[0].Sum() > 0, "batch plan seen");
                float[] w = m.EmbedTokens(new[] { m.Tokenize(Sentences[0]) })[0];
                Assert.True(Math.Abs(Dot(w, v[0]) - 1) < 1e-5, "tokens give the same vector");
                Assert.Equal(128, m.Embed(new[] { Sentences[0] }, new EmbedOptions { Dimensionality = 128 })[0].Length);
                float[] raw = m.Embed(new[] { Sentences[0] }, new EmbedOptions { Normalize = false })[0];
                Assert.True(Math.Abs(Math.Sqrt(Dot(raw, raw)) - 1) > 1e-3, "not normalised");
                ulong n;
                m.Embed(Sentences, null, out n);
                Assert.True(n >= 9, "token count");
                var e = Assert.Throws<Llm4allException>(() => m.Embed(new[] { "x" }, new EmbedOptions { OnBatch = c => false }));
                Assert.Equal("LLM4ALL_ERR_CANCELLED", e.Code);
            }
        }

        [Test]
        public static void DecoderIsNotAnEmbeddingModel()
        {
            using (var m = Model.Load(TestData.Stories))
            {
                Assert.Equal(0, m.EmbeddingDim);
                Assert.Equal("LLM4ALL_ERR_UNSUPPORTED", Assert.Throws<Llm4allException>(() => m.Embed(new[] { "x" })).Code);
            }
        }
    }
}
