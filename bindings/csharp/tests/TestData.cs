// TestData.cs — where the tests find their references: the shared test data (stories260K and
// llama.cpp's outputs for it, golden/ and vocab/derived/) and the cached catalogue models.
using System;
using System.IO;
using System.Json;
using System.Linq;

namespace Llm4all.Tests
{
    public sealed class GoldenCase
    {
        public string Prompt, Text;
        public int PromptTokens;
        public int[] Ids;
    }

    public static class TestData
    {
        static string Root
        {
            get
            {
                string env = Environment.GetEnvironmentVariable("LLM4ALL_TESTDATA");
                if (!string.IsNullOrEmpty(env)) return env;
                // the runner sits in <root>/bindings/csharp/build/
                string project = Path.GetFullPath(Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "..", "..", ".."));
                return Path.GetFullPath(Path.Combine(project, "..", "shared", "testdata"));
            }
        }

        public static string File(params string[] parts) { return Path.Combine(new[] { Root }.Concat(parts).ToArray()); }

        public static string Stories { get { return Need(File("models", "stories260K.gguf")); } }

        public static string CacheModel(string name)
        {
            string cache = Environment.GetEnvironmentVariable("LLM4ALL_CACHE");
            if (string.IsNullOrEmpty(cache)) cache = Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "", ".cache", "llm4all");
            return Need(Path.Combine(cache, "models", name + ".gguf"));
        }

        /// <summary>path, or a skip with the reason when it is absent.</summary>
        public static string Need(string path)
        {
            if (!System.IO.File.Exists(path)) throw new SkipException(path + " is absent");
            return path;
        }

        public static GoldenCase[] Golden()
        {
            var doc = JsonValue.Parse(System.IO.File.ReadAllText(Need(File("golden", "stories260K.greedy16.json"))));
            return ((JsonArray)doc["cases"]).Select(c => new GoldenCase
            {
                Prompt = (string)c["prompt"],
                Text = (string)c["text"],
                PromptTokens = (int)c["prompt_tokens"],
                Ids = ((JsonArray)c["tokens"]).Select(t => (int)t["id"]).ToArray(),
            }).ToArray();
        }
    }
}
