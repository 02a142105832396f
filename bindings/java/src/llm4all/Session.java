// Session.java — a KV cache and sampler state over a model, for one call at a time (calls
// from several threads are serialised; use one session per thread for parallel work).
// Generation with every sampling option, streaming by callback or as an Iterator/Stream,
// abort from any thread, and the low-level decode/logits/score calls.
package llm4all;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import java.lang.ref.Cleaner;
import java.util.function.Predicate;

public final class Session implements AutoCloseable {
    public static final int KV_F16 = 0, KV_F32 = 1;

    final Object lock = new Object(); // held by every call that uses the cache
    final NativeRef ref;
    private final Model model;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;

    /** Options of llm4all_session_options; 0 keeps the C default. */
    public static final class Options {
        int nCtx, nBatch, nThreads, kvType;
        /** KV cache size in tokens (0 = the training context capped at 4096). */
        public Options nCtx(int v) { nCtx = v; return this; }
        public Options nBatch(int v) { nBatch = v; return this; }
        /** CPU threads (0 = physical cores). */
        public Options nThreads(int v) { nThreads = v; return this; }
        /** KV_F16 (default) or KV_F32. */
        public Options kvType(int v) { kvType = v; return this; }
    }

    Session(Model model, Options opts) throws Llm4allException {
        LibLlm4all.SessionOptions o = new LibLlm4all.SessionOptions();
        LibLlm4all.C.llm4all_session_options_init(o);
        o.read();
        if (opts != null) {
            if (opts.nCtx != 0) o.n_ctx = opts.nCtx;
            if (opts.nBatch != 0) o.n_batch = opts.nBatch;
            if (opts.nThreads != 0) o.n_threads = opts.nThreads;
            o.kv_type = opts.kvType;
        }
        o.write();
        PointerByReference out = new PointerByReference();
        Llm4all.check(LibLlm4all.C.llm4all_session_new(model.p(), o, out));
        this.model = model;
        NativeRef r = new NativeRef(out.getValue(), LibLlm4all.C::llm4all_session_free, model.ref);
        ref = r;
        cleanable = NativeRef.CLEANER.register(this, r::release);
    }

    /** Frees the session once any running call has ended (and its chats are closed). */
    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            cleanable.clean();
        }
    }

    Pointer p() {
        Pointer p = closed ? null : ref.get();
        if (p == null) throw new IllegalStateException("the Session is closed");
        return p;
    }

    /** Asks the call running on this session to stop at the next token or batch boundary.
     *  Safe from any thread; generate then returns with stopReason "aborted". */
    public void abort() { ref.with(LibLlm4all.C::llm4all_session_abort); }

    public int nCtx() { synchronized (lock) { return LibLlm4all.C.llm4all_session_n_ctx(p()); } }

    /** Tokens in the KV cache. */
    public int nPast() { synchronized (lock) { return LibLlm4all.C.llm4all_session_n_past(p()); } }

    /** Continues prompt (raw text, no chat template) and returns the whole generation. */
    public GenerateResult generate(String prompt, GenerateOptions opts) throws Llm4allException {
        return generate(prompt, opts, null);
    }

    /** As generate, calling onPiece (may be null) with every piece; returning false stops
     *  (stopReason "aborted"). An exception thrown by onPiece stops generation and is rethrown. */
    public GenerateResult generate(String prompt, GenerateOptions opts, Predicate<String> onPiece)
            throws Llm4allException {
        GenerateOptions.Native_ n = (opts == null ? new GenerateOptions() : opts).toNative();
        Pieces cb = new Pieces(onPiece);
        LibLlm4all.GenerateResult r = new LibLlm4all.GenerateResult();
        r.size = r.size();
        PointerByReference out = new PointerByReference();
        int status;
        synchronized (lock) {
            status = LibLlm4all.C.llm4all_session_generate(p(), Llm4all.cstr(prompt), n.options, cb, null, out, r);
        }
        String text = Llm4all.take(out.getValue());
        cb.rethrow();
        Llm4all.check(status);
        r.read();
        return new GenerateResult(text, Llm4all.stopReasonName(r.stop_reason), r.n_prompt_tokens,
                r.n_prompt_decoded, r.n_generated, r.prompt_ms, r.generate_ms);
    }

    /** Streams the generation's pieces: iterate it, or call stream() for a Stream<String>.
     *  Closing it early aborts the generation. */
    public TokenStream stream(String prompt, GenerateOptions opts) {
        return new TokenStream(this, prompt, opts);
    }

    /** Makes the cache hold exactly tokens (reusing the longest cached prefix). */
    public void setTokens(int[] tokens) throws Llm4allException {
        synchronized (lock) {
            Llm4all.check(LibLlm4all.C.llm4all_session_set_tokens(p(), nz(tokens), tokens.length));
        }
    }

    /** Appends tokens to the cache; allLogits keeps logits for every appended position. */
    public void decode(int[] tokens, boolean allLogits) throws Llm4allException {
        synchronized (lock) {
            Llm4all.check(LibLlm4all.C.llm4all_session_decode(p(), nz(tokens), tokens.length, allLogits));
        }
    }

    /** Logits of the last decode: one row of nVocab floats per kept position (a copy). */
    public float[][] logits() throws Llm4allException {
        synchronized (lock) {
            PointerByReference out = new PointerByReference();
            IntByReference rows = new IntByReference();
            Llm4all.check(LibLlm4all.C.llm4all_session_logits(p(), out, rows));
            int nv = model.nVocab();
            float[][] res = new float[rows.getValue()][];
            for (int i = 0; i < res.length; i++) res[i] = out.getValue().getFloatArray((long) i * nv * 4, nv);
            return res;
        }
    }

    /** Drops cached tokens from position nKeep on. */
    public void truncate(int nKeep) throws Llm4allException {
        synchronized (lock) { Llm4all.check(LibLlm4all.C.llm4all_session_truncate(p(), nKeep)); }
    }

    /** Teacher forcing: log-probabilities of tokens[i] given tokens[0..i) for first <= i < n
     *  (first >= 1); top1, if not null (length n - first), receives the most likely tokens. */
    public float[] score(int[] tokens, int first, int[] top1) throws Llm4allException {
        if (first < 1 || first > tokens.length) throw new IllegalArgumentException("first must be in [1, n]");
        float[] lp = new float[Math.max(1, tokens.length - first)];
        int[] t1 = top1 != null ? top1 : null;
        if (t1 != null && t1.length < tokens.length - first) throw new IllegalArgumentException("top1 too short");
        synchronized (lock) {
            Llm4all.check(LibLlm4all.C.llm4all_session_score(p(), tokens, tokens.length, first, lp, t1));
        }
        return java.util.Arrays.copyOf(lp, tokens.length - first);
    }

    private static int[] nz(int[] t) { return t.length == 0 ? null : t; }

    /** The C streaming callback: forwards pieces, turns an exception into a stop. */
    static final class Pieces implements LibLlm4all.OnToken {
        private final Predicate<String> fn;
        private Throwable thrown;

        Pieces(Predicate<String> fn) { this.fn = fn; }

        @Override
        public boolean invoke(Pointer piece, int token, Pointer user) {
            if (fn == null) return true;
            try {
                return fn.test(Llm4all.utf8(piece));
            } catch (Throwable t) {
                thrown = t;
                return false;
            }
        }

        void rethrow() {
            if (thrown instanceof RuntimeException) throw (RuntimeException) thrown;
            if (thrown instanceof Error) throw (Error) thrown;
            if (thrown != null) throw new RuntimeException(thrown);
        }
    }
}
