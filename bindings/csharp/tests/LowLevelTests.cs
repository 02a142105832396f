// LowLevelTests.cs — the decode-loop API (Decode, Logits, Score, DecodeBatch, Sampler), GGUF
// tensor reading and the log handler, checked against llama.cpp's greedy ids and log-probs.
using System;
using System.Collections.Generic;
using System.Linq;

namespace Llm4all.Tests
{
    public static class LowLevelTests
    {
        static int ArgMax(float[] v)
        {
            int best = 0;
            for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
            return best;
        }

        [Test]
        public static void DecodeLogitsAndSamplerReproduceLlamaCpp()
        {
            var c = TestData.Golden()[0];
            using (var m = Model.Load(TestData.Stories, nCtx: 128))
            using (var s = m.CreateSession())
            using (var greedy = new Sampler(new GenerateOptions { Temp = 0 }))
            {
                int[] prompt = m.Tokenize(c.Prompt);
                Assert.Equal(c.PromptTokens, prompt.Length);
                s.Decode(prompt);
                var ids = new List<int>();
                for (int i = 0; i < 16; i++)
                {
                    float[] row = s.Logits()[0];
                    Assert.Equal(512, row.Length);
                    int t = greedy.Sample(row);
                    Assert.Equal(ArgMax(row), t);
                    greedy.Accept(t);
                    ids.Add(t);
                    s.Decode(new[] { t });
                }
                Assert.SeqEqual(c.Ids, ids);
                Assert.Equal(prompt.Length + 16, s.NPast);
                s.Truncate(prompt.Length);
                Assert.Equal(prompt.Length, s.NPast);
                Assert.Throws<Llm4allException>(() => greedy.Sample(Enumerable.Repeat(float.NegativeInfinity, 512).ToArray()));
            }
        }

        [Test]
        public static void ScoreGivesLlamaCppLogProbs()
        {
            var c = TestData.Golden()[0];
            var doc = System.Json.JsonValue.Parse(System.IO.File.ReadAllText(TestData.File("golden", "stories260K.greedy16.json")));
            double[] want = ((System.Json.JsonArray)doc["cases"][0]["tokens"]).Select(t => (double)t["logprob"]).ToArray();
            using (var m = Model.Load(TestData.Stories, nCtx: 128))
            using (var s = m.CreateSession())
            {
                int[] prompt = m.Tokenize(c.Prompt);
                int[] top1;
                float[] lp = s.Score(prompt.Concat(c.Ids).ToArray(), prompt.Length, out top1);
                Assert.SeqEqual(c.Ids, top1);
                for (int i = 0; i < lp.Length; i++) Assert.True(Math.Abs(lp[i] - want[i]) < 0.01, i + ": " + lp[i] + " vs " + want[i]);
                s.SetTokens(prompt);
                Assert.Equal(prompt.Length, s.NPast);
            }
        }

        [Test]
        public static void DecodeBatchGivesEachSessionItsLogits()
        {
            using (var m = Model.Load(TestData.Stories, nCtx: 128))
            using (Session s1 = m.CreateSession(), s2 = m.CreateSession(), r1 = m.CreateSession(), r2 = m.CreateSession())
            {
                int[] a = m.Tokenize("Once upon a time"), b = m.Tokenize("The cat sat");
                Session.DecodeBatch(new[] { new BatchItem { Session = s1, Tokens = a }, new BatchItem { Session = s2, Tokens = b, AllLogits = true } });
                r1.Decode(a);
                r2.Decode(b, allLogits: true);
                Assert.SeqEqual(r1.Logits()[0], s1.Logits()[0]);
                Assert.Equal(b.Length, s2.Logits().Length);
                for (int i = 0; i < b.Length; i++) Assert.SeqEqual(r2.Logits()[i], s2.Logits()[i]);
                Assert.Throws<Llm4allException>(() => Session.DecodeBatch(new[] { new BatchItem { Session = s1, Tokens = new[] { 100000 } } }));
            }
        }

        [Test]
        public static void ReadTensorAndLogHandler()
        {
            float[] emb = Library.ReadTensor(TestData.Stories, "token_embd.weight");
            Assert.Equal(512 * 64, emb.Length);
            Assert.True(emb.Any(x => x != 0), "non-zero embeddings");
            Assert.Throws<Llm4allException>(() => Library.ReadTensor(TestData.Stories, "no.such.tensor"));
            var seen = new List<string>();
            Library.SetLogHandler((level, msg) => { lock (seen) seen.Add(level + ": " + msg); });
            try
            {
                using (var m = Model.Load(TestData.Stories))
                    m.Tokenize("<s>Hello", addSpecial: true, parseSpecial: true); // the engine warns: two BOS
            }
            finally { Library.SetLogHandler(null); }
            Assert.True(seen.Any(x => x.StartsWith("2: ") && x.Contains("BOS")), string.Join(" | ", seen));
            Library.SetLogHandler(null); // silencing twice is fine
        }
    }
}
