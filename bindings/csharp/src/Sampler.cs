// Sampler.cs — a Sampler on its own (llm4all_sampler), for callers that run the decode loop
// themselves (Session.Decode / DecodeBatch + Logits): the same chain as Session.Generate.
using System;
using System.Runtime.InteropServices;

namespace Llm4all
{
    public sealed class Sampler : IDisposable
    {
        readonly SamplerHandle handle;
        readonly object gate = new object();

        /// <summary>A sampler with options' sampling settings (null fields = the C defaults).</summary>
        public Sampler(GenerateOptions options = null)
        {
            using (var strings = new NativeStrings())
            {
                SamplerOptionsC s = (options ?? new GenerateOptions()).ToNative(strings).sampling;
                SamplerOptionsC defaults;
                Native.llm4all_sampler_options_init(out defaults);
                s.size = defaults.size;
                SamplerHandle h;
                Llm4allException.Check(Native.llm4all_sampler_new(ref s, out h));
                handle = h;
            }
        }

        SamplerHandle Live
        {
            get
            {
                if (handle.Released) throw new ObjectDisposedException("Sampler");
                return handle;
            }
        }

        /// <summary>Picks a token from logits (float.NegativeInfinity entries are never chosen); does not accept it.</summary>
        public int Sample(float[] logits)
        {
            int token;
            lock (gate) Llm4allException.Check(Native.llm4all_sampler_sample(Live, logits, logits.Length, out token));
            return token;
        }

        /// <summary>Adds a token to the penalty window.</summary>
        public void Accept(int token)
        {
            lock (gate) Llm4allException.Check(Native.llm4all_sampler_accept(Live, token));
        }

        public void Dispose() { handle.Release(); }
    }
}
