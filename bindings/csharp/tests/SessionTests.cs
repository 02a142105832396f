// SessionTests.cs — sampling options, streaming and stopping it, stop strings, one model with
// several sessions on several threads, chat sessions, and release (Dispose, finalizers).
using System;
using System.Collections.Generic;
using System.Json;
using System.Linq;
using System.Threading;

namespace Llm4all.Tests
{
    public static class SessionTests
    {
        static GenerateOptions Greedy(int n = 16) { return new GenerateOptions { MaxTokens = n, Temp = 0 }; }

        [Test]
        public static void StreamEqualsGenerateAndBreakStopsIt()
        {
            var c = TestData.Golden()[0];
            using (var m = Model.Load(TestData.Stories, nCtx: 256))
            {
                Assert.Equal(c.Text, string.Concat(m.Stream(c.Prompt, Greedy())));
                string first = "";
                int n = 0;
                foreach (string piece in m.Stream(c.Prompt, Greedy(100)))
                {
                    first += piece;
                    if (++n == 3) break;
                }
                Assert.True(first.Length > 0 && c.Text.StartsWith(first), first);
                Assert.Equal("aborted", m.Session.LastStats.StopReason);
                Assert.True(m.Session.LastStats.GeneratedTokens < 10, "stopped early");
            }
        }

        [Test]
        public static void AbortFromTheConsumerThreadStopsAStream()
        {
            using (var m = Model.Load(TestData.Stories, nCtx: 2048))
            {
                Session s = m.Session;
                int n = 0;
                foreach (string piece in s.Stream("Once upon a time", new GenerateOptions { MaxTokens = 2000, Temp = 0, StopAtEog = false }))
                    if (++n == 2) s.Abort(); // generation runs on the stream's thread; the loop then ends by itself
                Assert.Equal("aborted", s.LastStats.StopReason);
                Assert.True(s.LastStats.GeneratedTokens < 2000, s.LastStats.GeneratedTokens + " tokens");
            }
        }

        [Test]
        public static void CallbackStopsGeneration()
        {
            var c = TestData.Golden()[0];
            using (var m = Model.Load(TestData.Stories, nCtx: 256))
            {
                int calls = 0;
                string text = m.Generate(c.Prompt, Greedy(50), (p, t) => ++calls < 4);
                Assert.Equal(4, calls);
                Assert.Equal("aborted", m.Session.LastStats.StopReason);
                Assert.True(c.Text.StartsWith(text), text);
                // an exception in the callback stops generation and reaches the caller
                Assert.Throws<InvalidOperationException>(() => m.Generate(c.Prompt, Greedy(), (p, t) => { throw new InvalidOperationException("boom"); }));
                // ... and in a stream
                Assert.Throws<Llm4allException>(() => m.Stream(new string('x', 5000), new GenerateOptions { MaxTokens = 5000 }).ToList());
            }
        }

        [Test]
        public static void EverySamplingOptionReachesTheEngine()
        {
            var c = TestData.Golden()[0];
            using (var m = Model.Load(TestData.Stories, new ModelOptions { Device = "cpu", Session = new SessionOptions { NCtx = 256, NThreads = 1 } }))
            {
                Session s = m.Session;
                int cut = c.Text.IndexOf(" Lily");
                Assert.True(cut > 0, "golden text has ' Lily'");
                Assert.Equal(c.Text.Substring(0, cut), s.Generate(c.Prompt, new GenerateOptions { MaxTokens = 16, Temp = 0, Stop = new[] { "zzz", " Lily" } }));
                Assert.Equal("stop_string", s.LastStats.StopReason);
                s.Generate(c.Prompt, Greedy(5));
                Assert.Equal(5, s.LastStats.GeneratedTokens);
                // top_k 1 leaves only the argmax: any temperature is then greedy
                Assert.Equal(c.Text, s.Generate(c.Prompt, new GenerateOptions { MaxTokens = 16, Temp = 1.5f, TopK = 1, Seed = 7 }));
                Func<ulong, GenerateOptions> hot = seed => new GenerateOptions { MaxTokens = 24, Temp = 2, TopK = 0, TopP = 1, MinP = 0, Seed = seed };
                string a = s.Generate(c.Prompt, hot(42));
                Assert.Equal(a, s.Generate(c.Prompt, hot(42)), "same seed");
                Assert.True(new ulong[] { 1, 2, 3 }.Any(seed => s.Generate(c.Prompt, hot(seed)) != a), "other seeds differ");
                string plain = s.Generate(c.Prompt, Greedy(32));
                foreach (var o in new[] {
                    new GenerateOptions { MaxTokens = 32, Temp = 0, RepeatPenalty = 3, RepeatLastN = 64 },
                    new GenerateOptions { MaxTokens = 32, Temp = 0, PresencePenalty = 5 },
                    new GenerateOptions { MaxTokens = 32, Temp = 0, FrequencyPenalty = 5 } })
                    Assert.True(s.Generate(c.Prompt, o) != plain, "a penalty changes the text");
                Assert.Equal(plain, s.Generate(c.Prompt, new GenerateOptions { MaxTokens = 32, Temp = 1, MinP = 0.99f, Seed = 1 }), "min_p 0.99");
                s.Generate(c.Prompt, new GenerateOptions { MaxTokens = 16, Temp = 0, AddSpecial = false });
                Assert.Equal(c.PromptTokens - 1, s.LastStats.PromptTokens, "no BOS");
                s.Generate("The end.", new GenerateOptions { MaxTokens = 120, Temp = 0, StopAtEog = false });
                Assert.Equal(120, s.LastStats.GeneratedTokens, "past end-of-text");
                s.Generate("<s>", new GenerateOptions { MaxTokens = 1, Temp = 0, ParseSpecial = true, AddSpecial = false });
                Assert.Equal(1, s.LastStats.PromptTokens, "<s> parsed as one special token");
                Assert.Throws<Llm4allException>(() => s.Generate(c.Prompt, new GenerateOptions { MaxTokens = 4, RepeatPenalty = -1 }));
            }
        }

        [Test]
        public static void OneModelSeveralSessionsOnSeveralThreads()
        {
            string[] prompts = { "Once upon a time", "The cat", "Tom and Sue went", "One day, a big" };
            using (var m = Model.Load(TestData.Stories))
            {
                string[] want = prompts.Select(p => m.Generate(p, Greedy(40))).ToArray();
                var sessions = prompts.Select(p => m.CreateSession(new SessionOptions { NCtx = 256, NThreads = 1 })).ToArray();
                var got = new string[prompts.Length];
                var errors = new List<Exception>();
                var threads = Enumerable.Range(0, prompts.Length).Select(i => new Thread(() =>
                {
                    try
                    {
                        for (int round = 0; round < 2; round++)
                        {
                            string t = sessions[i].Generate(prompts[i], Greedy(40));
                            string st = string.Concat(sessions[i].Stream(prompts[i], Greedy(40)));
                            got[i] = t == st ? t : "stream differs: " + st;
                        }
                    }
                    catch (Exception e) { lock (errors) errors.Add(e); }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                Assert.Equal(0, errors.Count, errors.FirstOrDefault()?.ToString());
                Assert.SeqEqual(want, got, "each thread's text");
                foreach (var s in sessions) s.Dispose();
            }
        }

        [Test]
        public static void ContextFullIsAnError()
        {
            using (var m = Model.Load(TestData.Stories, nCtx: 16))
            {
                var e = Assert.Throws<Llm4allException>(() => m.Generate(string.Concat(Enumerable.Repeat("Once upon a time ", 20)), Greedy()));
                Assert.Equal("LLM4ALL_ERR_CONTEXT_FULL", e.Code);
                Assert.True(e.Message.Length > 10, e.Message);
            }
        }

        [Test]
        public static void ChatSessions()
        {
            using (var m = Model.Load(TestData.Stories, nCtx: 512))
            {
                Session s = m.Session;
                Assert.Equal("LLM4ALL_ERR_TEMPLATE", Assert.Throws<Llm4allException>(() => s.Chat()).Code);
                string tpl = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
                using (var chat = s.Chat(new ChatOptions { Template = tpl, SystemMessage = "Be kind." }))
                {
                    chat.AddMessage("user", "Hello \"friend\"\n");
                    string prompt = chat.Render();
                    Assert.Equal("system: Be kind.\nuser: Hello \"friend\"\n\nassistant:", prompt);
                    string reply = chat.Respond(Greedy(8));
                    using (var fresh = m.CreateSession(new SessionOptions { NCtx = 512 }))
                        Assert.Equal(fresh.Generate(prompt, Greedy(8)), reply, "reply = generate(rendered prompt)");
                    var msgs = (JsonArray)JsonValue.Parse(chat.MessagesJson());
                    Assert.SeqEqual(new[] { "system", "user", "assistant" }, msgs.Select(x => (string)x["role"]));
                    Assert.Equal(reply, (string)msgs[2]["content"]);
                    string streamed = string.Concat(chat.SendStream("Tell me more", Greedy(8)));
                    msgs = (JsonArray)JsonValue.Parse(chat.MessagesJson());
                    Assert.Equal(5, msgs.Count);
                    Assert.Equal(streamed, (string)msgs[4]["content"]);
                    Assert.True(chat.LastStats.PromptDecoded < chat.LastStats.PromptTokens, "prefix reuse");
                    chat.Reset();
                    Assert.Equal(1, JsonValue.Parse(chat.MessagesJson()).Count);
                    Assert.Throws<Llm4allException>(() => chat.SetMessagesJson("{}"));
                }
            }
        }

        [Test]
        public static void ChatWithTheModelsTemplate()
        {
            using (var m = Model.Load(TestData.CacheModel("smollm2"), nCtx: 1024))
            using (var chat = m.Session.Chat())
            {
                chat.AddMessage("user", "What is the capital of France?");
                string prompt = chat.Render();
                // SmolLM2's ChatML template as transformers renders it (its default system message first)
                Assert.True(prompt.StartsWith("<|im_start|>system\n"), prompt);
                Assert.True(prompt.EndsWith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"), prompt);
                string streamed = string.Concat(chat.RespondStream(Greedy(12)));
                using (var fresh = m.CreateSession(new SessionOptions { NCtx = 1024 }))
                    Assert.Equal(fresh.Generate(prompt, new GenerateOptions { MaxTokens = 12, Temp = 0, ParseSpecial = true }), streamed);
                var msgs = (JsonArray)JsonValue.Parse(chat.MessagesJson());
                Assert.SeqEqual(new[] { "user", "assistant" }, msgs.Select(x => (string)x["role"]));
                Assert.Equal(streamed, (string)msgs[1]["content"]);
            }
        }

        [Test]
        public static void DisposeOrderAndFinalizers()
        {
            var c = TestData.Golden()[0];
            var m = Model.Load(TestData.Stories, nCtx: 64);
            var s = m.CreateSession();
            m.Dispose(); // the session keeps the native model alive until it is disposed
            Assert.Throws<ObjectDisposedException>(() => { int v = m.NVocab; });
            Assert.Equal(c.Text, s.Generate(c.Prompt, Greedy()));
            s.Dispose();
            s.Dispose();
            Assert.Throws<ObjectDisposedException>(() => s.Generate("x"));
            // dropped without Dispose: the SafeHandles' finalizers free them, children first
            var weak = new List<WeakReference>();
            for (int i = 0; i < 20; i++) weak.Add(MakeGarbage());
            for (int i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            Assert.True(weak.Count(w => w.IsAlive) <= 2, weak.Count(w => w.IsAlive) + " of 20 dropped sessions still alive");
        }

        // A session that streamed, dropped with its model and a chat: nothing may pin it.
        static WeakReference MakeGarbage()
        {
            var s = Model.Load(TestData.Stories, nCtx: 64).CreateSession();
            string.Concat(s.Stream("Once upon a time", Greedy(4)));
            s.Chat(new ChatOptions { Template = "{{ x }}" });
            return new WeakReference(s);
        }
    }
}
