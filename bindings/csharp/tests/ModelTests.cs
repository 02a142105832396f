// ModelTests.cs — loading, errors, model facts, the tokenizer and greedy generation, checked
// against llama.cpp's outputs for stories260K (shared test data).
using System;
using System.Collections.Generic;
using System.IO;
using System.Json;
using System.Linq;

namespace Llm4all.Tests
{
    public static class ModelTests
    {
        [Test]
        public static void VersionAndAbi()
        {
            Assert.True(Library.Version.Split('.').Length >= 3, Library.Version);
            Assert.Equal(2u, Library.AbiVersion);
            Assert.Equal("LLM4ALL_ERR_IO", Library.StatusName(-2));
            Assert.True(JsonValue.Parse(Library.DevicesJson()).Count > 0, "a backend is found");
        }

        [Test]
        public static void MissingModelIsNativeExceptionWithCMessage()
        {
            string missing = TestData.File("no-such-model.gguf");
            var e = Assert.Throws<Llm4allException>(() => Model.Load(missing));
            Assert.Equal("LLM4ALL_ERR_IO", e.Code);
            Assert.Equal(-2, e.Status);
            Assert.True(e.Message.Contains(missing), e.Message);
        }

        [Test]
        public static void NotGgufIsBadGguf()
        {
            var e = Assert.Throws<Llm4allException>(() => Model.Load(TestData.Need(TestData.File("README.md"))));
            Assert.Equal("LLM4ALL_ERR_BAD_GGUF", e.Code);
        }

        [Test]
        public static void ModelFacts()
        {
            using (var m = Model.Load(TestData.Stories))
            {
                Assert.Equal(512, m.NVocab);
                var info = JsonValue.Parse(m.InfoJson());
                Assert.Equal("llama", (string)info["architecture"]);
                Assert.Equal(512, (int)info["n_vocab"]);
                Assert.Equal(1, m.BosToken);
                Assert.Equal(2, m.EosToken);
                Assert.True(m.IsEog(m.EosToken), "eos is eog");
                Assert.True(!m.IsEog(100), "100 is not eog");
                var desc = JsonValue.Parse(Library.DescribeGguf(m.Path));
                Assert.Equal("llama", (string)desc["metadata"]["general.architecture"]);
            }
        }

        [Test]
        public static void DeviceOptionPicksTheSelectedBackend()
        {
            var cpu = ((JsonArray)JsonValue.Parse(Library.DevicesJson()))
                .First(d => (bool)d["selected"] && (string)d["backend"] == "cpu");
            using (var m = Model.Load(TestData.Stories, new ModelOptions { Device = "cpu" }))
                Assert.Equal("cpu-" + (string)cpu["variant"], (string)JsonValue.Parse(m.InfoJson())["backend"]);
            var e = Assert.Throws<Llm4allException>(() => Model.Load(TestData.Stories, new ModelOptions { Device = "no-such-device" }));
            Assert.Equal("LLM4ALL_ERR_BACKEND", e.Code);
            Assert.True(e.Message.Contains("no-such-device"), e.Message);
        }

        [Test]
        public static void TokenizerMatchesLlamaCpp()
        {
            string dir = TestData.File("vocab", "derived");
            string[] inputs = File.ReadAllText(TestData.Need(Path.Combine(dir, "stories260K.llamacpp.inp")))
                .Split(new[] { "\n__ggml_vocab_test__\n" }, StringSplitOptions.None);
            string[] outputs = File.ReadAllText(Path.Combine(dir, "stories260K.llamacpp.out")).Split('\n');
            using (var m = Model.Load(TestData.Stories))
            {
                int n = 0;
                for (int i = 0; i < inputs.Length && i < outputs.Length; i++)
                {
                    var want = outputs[i].Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries).Select(int.Parse);
                    Assert.SeqEqual(want, m.Tokenize(inputs[i], addSpecial: false), inputs[i]);
                    n++;
                }
                Assert.True(n > 40, "checked the test strings");
                int[] ids = m.Tokenize("Once upon a time");
                Assert.Equal(m.BosToken, ids[0]);
                Assert.Equal("Once upon a time", m.Detokenize(ids));
                Assert.Equal(" Once", System.Text.Encoding.UTF8.GetString(m.TokenToPiece(ids[1])));
            }
        }

        [Test]
        public static void GreedyGenerationEqualsLlamaCpp()
        {
            using (var m = Model.Load(TestData.Stories, nCtx: 256))
            {
                foreach (var c in TestData.Golden())
                {
                    var ids = new List<int>();
                    string text = m.Generate(c.Prompt, new GenerateOptions { MaxTokens = 16, Temp = 0 },
                                             (piece, token) => { ids.Add(token); return true; });
                    Assert.SeqEqual(c.Ids, ids, c.Prompt);
                    Assert.Equal(c.Text, text, c.Prompt);
                    Assert.Equal("max_tokens", m.Session.LastStats.StopReason);
                    Assert.Equal(16, m.Session.LastStats.GeneratedTokens);
                }
            }
        }

        [Test]
        public static void RenderChatTemplate()
        {
            string tpl = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
            Assert.Equal("<user>Hi\n<assistant>",
                         Library.RenderChatTemplate(tpl, "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"add_generation_prompt\":true}"));
            var e = Assert.Throws<Llm4allException>(() => Library.RenderChatTemplate("{{ raise_exception('no') }}", "{}"));
            Assert.Equal("LLM4ALL_ERR_TEMPLATE", e.Code);
        }
    }
}
