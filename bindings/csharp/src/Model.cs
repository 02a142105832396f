// Model.cs — a Model: an immutable loaded GGUF model (llm4all_model), shared by any number of
// sessions on any threads. It also keeps one default session, made on first use, so that
// model.Generate(prompt) works like the Python package's Model.generate.
using System;
using System.Collections.Generic;

namespace Llm4all
{
    public sealed class Model : IDisposable
    {
        readonly ModelHandle handle;
        readonly SessionOptions sessionDefaults;
        Session defaultSession;

        public string Path { get; private set; }

        Model(string path, ModelHandle h, SessionOptions sessionDefaults)
        {
            Path = path;
            handle = h;
            this.sessionDefaults = sessionDefaults;
        }

        /// <summary>Loads a GGUF file; a missing or malformed file throws Llm4allException with the engine's message.</summary>
        public static Model Load(string path, ModelOptions options = null)
        {
            if (path == null) throw new ArgumentNullException("path");
            options = options ?? new ModelOptions();
            using (var strings = new NativeStrings())
            {
                ModelOptionsC c = options.ToNative(strings);
                ModelHandle h;
                Llm4allException.Check(Native.llm4all_model_load(Utf8.Z(path), ref c, out h));
                return new Model(path, h, options.Session ?? new SessionOptions());
            }
        }

        /// <summary>Loads with the session settings most callers set.</summary>
        public static Model Load(string path, int nCtx, int nThreads = 0, string device = "auto")
        {
            return Load(path, new ModelOptions { Device = device, Session = new SessionOptions { NCtx = nCtx, NThreads = nThreads } });
        }

        ModelHandle Live
        {
            get
            {
                if (handle.Released) throw new ObjectDisposedException("Model");
                return handle;
            }
        }

        /// <summary>Architecture, parameter count, context length, vocabulary, backend, ... as JSON.</summary>
        public string InfoJson()
        {
            IntPtr p;
            Llm4allException.Check(Native.llm4all_model_info_json(Live, out p));
            return Utf8.Take(p);
        }

        public int NVocab { get { return Native.llm4all_model_n_vocab(Live); } }
        public int NCtxTrain { get { return Native.llm4all_model_n_ctx_train(Live); } }
        /// <summary>-1 when the model has none.</summary>
        public int BosToken { get { return Native.llm4all_model_token_bos(Live); } }
        public int EosToken { get { return Native.llm4all_model_token_eos(Live); } }
        public bool IsEog(int token) { return Native.llm4all_model_token_is_eog(Live, token); }

        /// <summary>Token ids of text; addSpecial adds BOS where the model wants it.</summary>
        public int[] Tokenize(string text, bool addSpecial = true, bool parseSpecial = false)
        {
            byte[] b = Utf8.Bytes(text);
            IntPtr p;
            UIntPtr n;
            Llm4allException.Check(Native.llm4all_tokenize(Live, b, (UIntPtr)b.Length, addSpecial, parseSpecial, out p, out n));
            try
            {
                var ids = new int[checked((int)n.ToUInt64())];
                if (ids.Length > 0) System.Runtime.InteropServices.Marshal.Copy(p, ids, 0, ids.Length);
                return ids;
            }
            finally { Native.llm4all_free(p); }
        }

        /// <summary>Text of token ids (bytes that are not valid UTF-8 become U+FFFD).</summary>
        public string Detokenize(IList<int> tokens, bool renderSpecial = false)
        {
            return Utf8.Decode(DetokenizeBytes(tokens, renderSpecial));
        }

        public byte[] DetokenizeBytes(IList<int> tokens, bool renderSpecial = false)
        {
            int[] t = new int[tokens.Count];
            tokens.CopyTo(t, 0);
            IntPtr p;
            UIntPtr n;
            Llm4allException.Check(Native.llm4all_detokenize(Live, t, (UIntPtr)t.Length, renderSpecial, out p, out n));
            return Utf8.TakeBytes(p, n);
        }

        /// <summary>Raw bytes of one token (possibly part of a UTF-8 character).</summary>
        public byte[] TokenToPiece(int token, bool renderSpecial = false)
        {
            IntPtr p;
            UIntPtr n;
            Llm4allException.Check(Native.llm4all_token_to_piece(Live, token, renderSpecial, out p, out n));
            return Utf8.TakeBytes(p, n);
        }

        /// <summary>Length of the vectors Embed returns at full size; 0 when this is not an embedding model.</summary>
        public int EmbeddingDim { get { return Native.llm4all_model_embedding_dim(Live); } }

        /// <summary>One vector per text (thread-safe: calls on one model may run at once).</summary>
        public float[][] Embed(IList<string> texts, EmbedOptions options = null)
        {
            ulong nTokens;
            return Embedder.Embed(Live, texts, options, out nTokens);
        }

        /// <summary>Embed, also giving the number of tokens run.</summary>
        public float[][] Embed(IList<string> texts, EmbedOptions options, out ulong nTokens)
        {
            return Embedder.Embed(Live, texts, options, out nTokens);
        }

        /// <summary>One vector per already-tokenized sequence (special tokens as given; prefix ignored).</summary>
        public float[][] EmbedTokens(IList<int[]> sequences, EmbedOptions options = null)
        {
            return Embedder.EmbedTokens(Live, sequences, options);
        }

        /// <summary>A new session (KV cache) over this model; unset options take the model's defaults.</summary>
        public Session CreateSession(SessionOptions options = null)
        {
            SessionOptionsC c = (options ?? new SessionOptions()).Over(sessionDefaults).ToNative();
            SessionHandle h;
            Llm4allException.Check(Native.llm4all_session_new(Live, ref c, out h));
            h.HoldParent(handle);
            return new Session(this, h, NVocab);
        }

        /// <summary>The model's own session, made on first use (what Generate and Stream run on).</summary>
        public Session Session
        {
            get
            {
                lock (handle)
                {
                    if (defaultSession == null) defaultSession = CreateSession();
                    return defaultSession;
                }
            }
        }

        public string Generate(string prompt, GenerateOptions options = null, Func<string, int, bool> onToken = null)
        {
            return Session.Generate(prompt, options, onToken);
        }

        public IEnumerable<string> Stream(string prompt, GenerateOptions options = null)
        {
            return Session.Stream(prompt, options);
        }

        /// <summary>Releases the model; its native object goes once its sessions are disposed too.</summary>
        public void Dispose()
        {
            if (defaultSession != null) defaultSession.Dispose();
            handle.Release();
        }
    }
}
