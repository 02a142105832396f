// Session.cs — a Session: one KV cache and sampler over a Model (llm4all_session). Calls on one
// session are serialised (a lock); several sessions of one model may generate at once on
// several threads. Stream() runs the call on a worker thread and hands pieces to the caller;
// leaving the foreach early stops generation.
using System;
using System.Collections.Generic;

namespace Llm4all
{
    /// <summary>One sequence of Session.DecodeBatch.</summary>
    public sealed class BatchItem
    {
        public Session Session;
        public IList<int> Tokens;
        public bool AllLogits;
    }

    /// <summary>Holds a SafeHandle's native pointer valid (AddRef) while a raw pointer is in use.</summary>
    internal sealed class SafeHandleRef : IDisposable
    {
        readonly System.Runtime.InteropServices.SafeHandle h;
        bool added;
        internal readonly IntPtr Pointer;

        internal SafeHandleRef(System.Runtime.InteropServices.SafeHandle h)
        {
            this.h = h;
            h.DangerousAddRef(ref added);
            Pointer = h.DangerousGetHandle();
        }

        public void Dispose()
        {
            if (added) h.DangerousRelease();
            added = false;
        }
    }

    public sealed class Session : IDisposable
    {
        internal readonly SessionHandle Handle;
        internal readonly object Gate = new object();

        /// <summary>The model this session reads (its native object lives as long as the session).</summary>
        public Model Model { get; private set; }

        /// <summary>Why the last call on this session stopped, with its counts and timings.</summary>
        public GenerateStats LastStats { get; internal set; }

        readonly int nVocab;

        internal Session(Model model, SessionHandle handle, int nVocab)
        {
            Model = model;
            Handle = handle;
            this.nVocab = nVocab;
        }

        /// <summary>KV cache size in tokens.</summary>
        public int NCtx { get { return Native.llm4all_session_n_ctx(Live); } }

        /// <summary>Tokens now in the KV cache.</summary>
        public int NPast { get { return Native.llm4all_session_n_past(Live); } }

        /// <summary>Drops cached tokens from position nKeep on.</summary>
        public void Truncate(int nKeep)
        {
            lock (Gate) Llm4allException.Check(Native.llm4all_session_truncate(Live, nKeep));
        }

        /// <summary>Makes the KV cache hold exactly tokens (keeping the longest cached prefix, decoding the rest).</summary>
        public void SetTokens(IList<int> tokens)
        {
            int[] t = ToArray(tokens);
            lock (Gate) Llm4allException.Check(Native.llm4all_session_set_tokens(Live, t, (UIntPtr)t.Length));
        }

        /// <summary>Appends tokens to the cache; allLogits keeps logits for every appended position.</summary>
        public void Decode(IList<int> tokens, bool allLogits = false)
        {
            int[] t = ToArray(tokens);
            lock (Gate) Llm4allException.Check(Native.llm4all_session_decode(Live, t, (UIntPtr)t.Length, allLogits));
        }

        /// <summary>Logits of the last decode: rows of NVocab floats, one per kept position.</summary>
        public float[][] Logits()
        {
            lock (Gate)
            {
                IntPtr p;
                int rows;
                Llm4allException.Check(Native.llm4all_session_logits(Live, out p, out rows));
                var result = new float[rows][];
                for (int r = 0; r < rows; r++)
                {
                    result[r] = new float[nVocab];
                    System.Runtime.InteropServices.Marshal.Copy(p + r * nVocab * sizeof(float), result[r], 0, nVocab);
                }
                return result;
            }
        }

        /// <summary>Teacher forcing: log P(tokens[i] | tokens[..i]) for first &lt;= i &lt; n, and the argmax at each.</summary>
        public float[] Score(IList<int> tokens, int first, out int[] top1)
        {
            int[] t = ToArray(tokens);
            if (first < 1 || first > t.Length) throw new ArgumentOutOfRangeException("first");
            var logprobs = new float[t.Length - first];
            top1 = new int[t.Length - first];
            lock (Gate)
                Llm4allException.Check(Native.llm4all_session_score(Live, t, (UIntPtr)t.Length, (UIntPtr)first, logprobs, top1));
            return logprobs;
        }

        /// <summary>One decode step for several sessions of one model (llm4all_decode_batch): each item's
        /// tokens are appended to its session as Decode would, in shared forward passes.</summary>
        public static void DecodeBatch(IList<BatchItem> items)
        {
            var native = new BatchItemC[items.Count];
            var pins = new List<System.Runtime.InteropServices.GCHandle>();
            var refs = new List<SafeHandleRef>();
            var locked = new List<object>();
            try
            {
                for (int i = 0; i < items.Count; i++)
                {
                    BatchItem it = items[i];
                    int[] t = ToArray(it.Tokens);
                    var pin = System.Runtime.InteropServices.GCHandle.Alloc(t, System.Runtime.InteropServices.GCHandleType.Pinned);
                    pins.Add(pin);
                    var r = new SafeHandleRef(it.Session.Live);
                    refs.Add(r);
                    native[i] = new BatchItemC { session = r.Pointer, tokens = pin.AddrOfPinnedObject(), n_tokens = (UIntPtr)t.Length,
                                                 all_logits = (byte)(it.AllLogits ? 1 : 0) };
                }
                foreach (BatchItem it in items)
                {
                    if (locked.Contains(it.Session.Gate)) continue;
                    System.Threading.Monitor.Enter(it.Session.Gate);
                    locked.Add(it.Session.Gate);
                }
                Llm4allException.Check(Native.llm4all_decode_batch(native, (UIntPtr)native.Length));
            }
            finally
            {
                foreach (object g in locked) System.Threading.Monitor.Exit(g);
                foreach (var r in refs) r.Dispose();
                foreach (var pin in pins) pin.Free();
            }
        }

        static int[] ToArray(IList<int> tokens)
        {
            if (tokens == null) throw new ArgumentNullException("tokens");
            var t = new int[tokens.Count];
            tokens.CopyTo(t, 0);
            return t;
        }

        /// <summary>Continues prompt (raw text, no chat template). onToken(piece, tokenId) may return false to stop.</summary>
        public string Generate(string prompt, GenerateOptions options = null, Func<string, int, bool> onToken = null)
        {
            if (prompt == null) throw new ArgumentNullException("prompt");
            SessionHandle h = Live;
            byte[] p = Utf8.Z(prompt);
            using (var strings = new NativeStrings())
            {
                GenerateOptionsC o = (options ?? new GenerateOptions()).ToNative(strings);
                var cb = new Callback(onToken);
                var result = new GenerateResultC { size = (uint)System.Runtime.InteropServices.Marshal.SizeOf(typeof(GenerateResultC)) };
                IntPtr text;
                int status;
                string message = null;
                lock (Gate)
                {
                    status = Native.llm4all_session_generate(h, p, ref o, cb.Native, IntPtr.Zero, out text, ref result);
                    if (status != 0) message = Utf8.Read(Native.llm4all_last_error());
                }
                string s = Utf8.Take(text);
                cb.RethrowIfFailed();
                if (status != 0) throw new Llm4allException(status, message);
                LastStats = GenerateStats.From(result);
                return s;
            }
        }

        /// <summary>The generated text piece by piece; leaving the loop early stops generation.</summary>
        public IEnumerable<string> Stream(string prompt, GenerateOptions options = null)
        {
            return Streaming.Run(onToken => Generate(prompt, options, onToken), Abort);
        }

        /// <summary>Asks the running call to stop at the next token (any thread: llm4all_session_abort).</summary>
        public void Abort()
        {
            if (!Handle.IsClosed) Native.llm4all_session_abort(Handle); // also after Dispose, while a call runs
        }

        /// <summary>A conversation over this session, with the model's chat template (or options.Template).</summary>
        public Chat Chat(ChatOptions options = null)
        {
            return Llm4all.Chat.Create(this, options ?? new ChatOptions());
        }

        internal SessionHandle Live
        {
            get
            {
                if (Handle.Released) throw new ObjectDisposedException("Session");
                return Handle;
            }
        }

        /// <summary>Frees the session (once a call running on another thread has returned).</summary>
        public void Dispose()
        {
            Handle.Release();
        }
    }
}
