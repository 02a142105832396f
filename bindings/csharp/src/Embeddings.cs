// Embeddings.cs — embedding models (llm4all_embed, llm4all_embed_tokens): one vector per text,
// many texts per forward pass. Options default to llm4all_embed_options_init's values.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Llm4all
{
    public enum Pooling { FromFile = -1, Mean = 1, Cls = 2, Last = 3 }

    public enum LongText { Mean = 0, Truncate = 1, Error = 2 }

    public sealed class EmbedOptions
    {
        /// <summary>0 = every core.</summary>
        public int? NThreads;
        /// <summary>L2-normalise each vector (default true).</summary>
        public bool? Normalize;
        /// <summary>0 = full; 1..dim: the first d values (Matryoshka).</summary>
        public int? Dimensionality;
        /// <summary>Literal text put before every text, e.g. a task prompt.</summary>
        public string Prefix;
        public Pooling? Pooling;
        public LongText? LongText;
        /// <summary>Tokens per window, special tokens included; 0 = the model's training context.</summary>
        public int? NCtx;
        /// <summary>Called before each forward pass with the token counts of it and every later one; false cancels.</summary>
        public Func<int[], bool> OnBatch;

        internal EmbedOptionsC ToNative(NativeStrings strings, out Callback callback)
        {
            EmbedOptionsC c;
            Native.llm4all_embed_options_init(out c);
            if (NThreads.HasValue) c.n_threads = NThreads.Value;
            if (Normalize.HasValue) c.normalize = (byte)(Normalize.Value ? 1 : 0);
            if (Dimensionality.HasValue) c.dimensionality = Dimensionality.Value;
            if (Prefix != null) c.prefix = strings.Add(Prefix);
            if (Pooling.HasValue) c.pooling = (int)Pooling.Value;
            if (LongText.HasValue) c.long_text = (int)LongText.Value;
            if (NCtx.HasValue) c.n_ctx = NCtx.Value;
            callback = new Callback(OnBatch);
            c.on_batch = callback.Native;
            return c;
        }

        /// <summary>The batch-plan callback: an exception cancels and is rethrown after the call.</summary>
        internal sealed class Callback
        {
            internal readonly OnEmbedBatchC Native;
            Exception error;

            internal Callback(Func<int[], bool> f)
            {
                if (f == null) return;
                Native = (p, n, user) =>
                {
                    try
                    {
                        var counts = new int[checked((int)n.ToUInt64())];
                        if (counts.Length > 0) Marshal.Copy(p, counts, 0, counts.Length);
                        return f(counts);
                    }
                    catch (Exception e) { if (error == null) error = e; return false; }
                };
            }

            internal void RethrowIfFailed()
            {
                GC.KeepAlive(Native);
                if (error != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
            }
        }
    }

    internal static class Embedder
    {
        internal static float[][] Split(IntPtr vectors, int n, int dim)
        {
            try
            {
                var result = new float[n][];
                for (int i = 0; i < n; i++)
                {
                    result[i] = new float[dim];
                    if (dim > 0) Marshal.Copy(vectors + i * dim * sizeof(float), result[i], 0, dim);
                }
                return result;
            }
            finally { Native.llm4all_free(vectors); }
        }

        internal static float[][] Embed(ModelHandle model, IList<string> texts, EmbedOptions options, out ulong nTokens)
        {
            using (var strings = new NativeStrings())
            {
                var lens = new UIntPtr[texts.Count];
                var bytes = new List<string>(texts);
                for (int i = 0; i < texts.Count; i++)
                {
                    if (texts[i] == null) throw new ArgumentNullException("texts[" + i + "]");
                    lens[i] = (UIntPtr)Utf8.Bytes(texts[i]).Length;
                }
                IntPtr arr = strings.AddArray(bytes);
                EmbedOptions.Callback cb;
                EmbedOptionsC o = (options ?? new EmbedOptions()).ToNative(strings, out cb);
                IntPtr vectors;
                int dim;
                int status = Native.llm4all_embed(model, arr, lens, (UIntPtr)texts.Count, ref o, out vectors, out dim, out nTokens);
                string message = status != 0 ? Utf8.Read(Native.llm4all_last_error()) : null;
                cb.RethrowIfFailed();
                if (status != 0) throw new Llm4allException(status, message);
                return Split(vectors, texts.Count, dim);
            }
        }

        internal static float[][] EmbedTokens(ModelHandle model, IList<int[]> seqs, EmbedOptions options)
        {
            var pins = new List<GCHandle>();
            try
            {
                var ptrs = new IntPtr[seqs.Count];
                var lens = new UIntPtr[seqs.Count];
                for (int i = 0; i < seqs.Count; i++)
                {
                    var pin = GCHandle.Alloc(seqs[i] ?? new int[0], GCHandleType.Pinned);
                    pins.Add(pin);
                    ptrs[i] = pin.AddrOfPinnedObject();
                    lens[i] = (UIntPtr)(seqs[i] ?? new int[0]).Length;
                }
                using (var strings = new NativeStrings())
                {
                    EmbedOptions.Callback cb;
                    EmbedOptionsC o = (options ?? new EmbedOptions()).ToNative(strings, out cb);
                    IntPtr vectors;
                    int dim;
                    int status = Native.llm4all_embed_tokens(model, ptrs, lens, (UIntPtr)seqs.Count, ref o, out vectors, out dim);
                    string message = status != 0 ? Utf8.Read(Native.llm4all_last_error()) : null;
                    cb.RethrowIfFailed();
                    if (status != 0) throw new Llm4allException(status, message);
                    return Split(vectors, seqs.Count, dim);
                }
            }
            finally { foreach (var p in pins) p.Free(); }
        }
    }
}
