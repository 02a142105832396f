// Options.cs — the binding's options and results, and their translation to the C structs.
// Every default comes from the C ABI's *_options_init (the one place defaults live): a null
// option keeps the value the init function wrote.
using System;
using System.Collections.Generic;

namespace Llm4all
{
    /// <summary>Sampling and generation options (llm4all_generate_options).</summary>
    public sealed class GenerateOptions
    {
        public int? MaxTokens;
        /// <summary>&lt;= 0: greedy.</summary>
        public float? Temp;
        public int? TopK;
        public float? TopP;
        public float? MinP;
        public float? RepeatPenalty;
        public int? RepeatLastN;
        /// <summary>Same seed + same inputs = same tokens; <see cref="SeedRandom"/> draws one per call.</summary>
        public ulong? Seed;
        public float? PresencePenalty;
        public float? FrequencyPenalty;
        public bool? AddSpecial;
        public bool? ParseSpecial;
        public bool? StopAtEog;
        /// <summary>Generation stops before any of these strings (never part of the text).</summary>
        public IList<string> Stop;

        /// <summary>LLM4ALL_SEED_RANDOM.</summary>
        public const ulong SeedRandom = ulong.MaxValue;

        internal GenerateOptionsC ToNative(NativeStrings strings)
        {
            GenerateOptionsC c;
            Native.llm4all_generate_options_init(out c);
            if (MaxTokens.HasValue) c.max_tokens = MaxTokens.Value;
            if (AddSpecial.HasValue) c.add_special = (byte)(AddSpecial.Value ? 1 : 0);
            if (ParseSpecial.HasValue) c.parse_special = (byte)(ParseSpecial.Value ? 1 : 0);
            if (StopAtEog.HasValue) c.stop_at_eog = (byte)(StopAtEog.Value ? 1 : 0);
            if (Temp.HasValue) c.sampling.temp = Temp.Value;
            if (TopK.HasValue) c.sampling.top_k = TopK.Value;
            if (TopP.HasValue) c.sampling.top_p = TopP.Value;
            if (MinP.HasValue) c.sampling.min_p = MinP.Value;
            if (RepeatPenalty.HasValue) c.sampling.repeat_penalty = RepeatPenalty.Value;
            if (RepeatLastN.HasValue) c.sampling.repeat_last_n = RepeatLastN.Value;
            if (Seed.HasValue) c.sampling.seed = Seed.Value;
            if (PresencePenalty.HasValue) c.sampling.presence_penalty = PresencePenalty.Value;
            if (FrequencyPenalty.HasValue) c.sampling.frequency_penalty = FrequencyPenalty.Value;
            if (Stop != null && Stop.Count > 0)
            {
                c.stop = strings.AddArray(Stop);
                c.n_stop = Stop.Count;
            }
            return c;
        }
    }

    public enum KvType { F16 = 0, F32 = 1 }

    /// <summary>Options of Model.Load: the model's (device, ...) and its sessions' defaults.</summary>
    public sealed class ModelOptions
    {
        /// <summary>"auto" (default), "cpu", ...</summary>
        public string Device;
        public int? NGpuLayers;
        public bool? UseMmap;
        /// <summary>Default session options of this model's sessions.</summary>
        public SessionOptions Session = new SessionOptions();

        internal ModelOptionsC ToNative(NativeStrings strings)
        {
            ModelOptionsC c;
            Native.llm4all_model_options_init(out c);
            if (Device != null) c.device = strings.Add(Device);
            if (NGpuLayers.HasValue) c.n_gpu_layers = NGpuLayers.Value;
            if (UseMmap.HasValue) c.use_mmap = (byte)(UseMmap.Value ? 1 : 0);
            return c;
        }
    }

    public sealed class SessionOptions
    {
        /// <summary>KV cache size in tokens (0 = the model's training context, capped by the engine).</summary>
        public int? NCtx;
        public int? NBatch;
        /// <summary>CPU threads (0 = number of physical cores).</summary>
        public int? NThreads;
        public KvType? KvType;

        internal SessionOptions Over(SessionOptions defaults)
        {
            if (defaults == null) return this;
            return new SessionOptions
            {
                NCtx = NCtx ?? defaults.NCtx, NBatch = NBatch ?? defaults.NBatch,
                NThreads = NThreads ?? defaults.NThreads, KvType = KvType ?? defaults.KvType,
            };
        }

        internal SessionOptionsC ToNative()
        {
            SessionOptionsC c;
            Native.llm4all_session_options_init(out c);
            if (NCtx.HasValue) c.n_ctx = NCtx.Value;
            if (NBatch.HasValue) c.n_batch = NBatch.Value;
            if (NThreads.HasValue) c.n_threads = NThreads.Value;
            if (KvType.HasValue) c.kv_type = (int)KvType.Value;
            return c;
        }
    }

    /// <summary>Why the last call stopped, its token counts and timings.</summary>
    public sealed class GenerateStats
    {
        /// <summary>"max_tokens", "eog", "aborted", "context_full" or "stop_string".</summary>
        public string StopReason { get; internal set; }
        public int PromptTokens { get; internal set; }
        /// <summary>Prompt tokens actually decoded (prefix reuse skips the rest).</summary>
        public int PromptDecoded { get; internal set; }
        public int GeneratedTokens { get; internal set; }
        /// <summary>Chat only: oldest messages dropped so the conversation fits n_ctx.</summary>
        public int DroppedMessages { get; internal set; }
        public double PromptMs { get; internal set; }
        public double GenerateMs { get; internal set; }

        internal static GenerateStats From(GenerateResultC r)
        {
            return new GenerateStats
            {
                StopReason = Utf8.Read(Native.llm4all_stop_reason_name(r.stop_reason)),
                PromptTokens = r.n_prompt_tokens, PromptDecoded = r.n_prompt_decoded, GeneratedTokens = r.n_generated,
                PromptMs = r.prompt_ms, GenerateMs = r.generate_ms,
            };
        }

        internal static GenerateStats From(ChatStatsC r)
        {
            return new GenerateStats
            {
                StopReason = Utf8.Read(Native.llm4all_stop_reason_name(r.stop_reason)),
                PromptTokens = r.prompt_tokens, PromptDecoded = r.decoded_tokens, GeneratedTokens = r.generated_tokens,
                DroppedMessages = r.dropped_messages, PromptMs = r.prompt_ms, GenerateMs = r.generate_ms,
            };
        }
    }
}
