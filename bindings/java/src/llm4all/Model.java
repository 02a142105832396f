// Model.java — a loaded GGUF model: immutable in C, so one Model may be shared by many
// sessions on many threads. close() frees it once its sessions are closed too; a Cleaner
// is the safety net for a Model that was never closed.
package llm4all;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.Native;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;
import java.lang.ref.Cleaner;

public final class Model implements AutoCloseable {
    final NativeRef ref;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;

    /** Options of llm4all_model_options; null fields keep the C defaults. */
    public static final class Options {
        String device;
        Integer nGpuLayers;
        Boolean useMmap;
        /** "auto", "cpu", "cpu-avx2", ... */
        public Options device(String v) { device = v; return this; }
        /** -1 = all that fit; ignored on CPU. */
        public Options nGpuLayers(int v) { nGpuLayers = v; return this; }
        public Options useMmap(boolean v) { useMmap = v; return this; }
    }

    private Model(Pointer p) {
        NativeRef r = new NativeRef(p, LibLlm4all.C::llm4all_model_free, null);
        ref = r;
        cleanable = NativeRef.CLEANER.register(this, r::release);
    }

    /** Loads a GGUF model file with default options. */
    public static Model load(String path) throws Llm4allException { return load(path, null); }

    /** Loads a GGUF model file; a missing or bad file throws with the C message. */
    public static Model load(String path, Options opts) throws Llm4allException {
        LibLlm4all.ModelOptions o = new LibLlm4all.ModelOptions();
        LibLlm4all.C.llm4all_model_options_init(o);
        o.read();
        Memory dev = null;
        if (opts != null) {
            if (opts.device != null) o.device = dev = Llm4all.cmem(opts.device);
            if (opts.nGpuLayers != null) o.n_gpu_layers = opts.nGpuLayers;
            if (opts.useMmap != null) o.use_mmap = (byte) (opts.useMmap ? 1 : 0);
        }
        o.write();
        PointerByReference out = new PointerByReference();
        Llm4all.check(LibLlm4all.C.llm4all_model_load(Llm4all.cstr(path), o, out));
        if (dev != null) dev.clear(); // keeps dev reachable until the call is done
        return new Model(out.getValue());
    }

    /** Releases the model; the C object is freed when its last session closes too. */
    @Override
    public void close() {
        closed = true;
        cleanable.clean();
    }

    Pointer p() {
        Pointer p = closed ? null : ref.get();
        if (p == null) throw new IllegalStateException("the Model is closed");
        return p;
    }

    /** A new session (KV cache + sampler state) over this model. */
    public Session newSession() throws Llm4allException { return new Session(this, null); }

    public Session newSession(Session.Options opts) throws Llm4allException { return new Session(this, opts); }

    /** Architecture, parameter count, context length, vocabulary, special tokens, tensor
     *  types, chat template presence and backend, as the C ABI's JSON. */
    public String infoJson() throws Llm4allException {
        PointerByReference out = new PointerByReference();
        Llm4all.check(LibLlm4all.C.llm4all_model_info_json(p(), out));
        return Llm4all.take(out.getValue());
    }

    public int nVocab() { return LibLlm4all.C.llm4all_model_n_vocab(p()); }
    public int nCtxTrain() { return LibLlm4all.C.llm4all_model_n_ctx_train(p()); }
    /** Beginning-of-sequence token, -1 if none. */
    public int bos() { return LibLlm4all.C.llm4all_model_token_bos(p()); }
    /** End-of-sequence token, -1 if none. */
    public int eos() { return LibLlm4all.C.llm4all_model_token_eos(p()); }
    /** True for end-of-generation tokens (EOS, EOT, <|im_end|>, ...). */
    public boolean isEog(int token) { return LibLlm4all.C.llm4all_model_token_is_eog(p(), token) != 0; }

    /** Token ids of text; addSpecial adds BOS/EOS where the model asks for them, parseSpecial
     *  turns special-token text such as "<|im_start|>" into its id. */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) throws Llm4allException {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return tokenize(b, addSpecial, parseSpecial);
    }

    /** tokenize over raw bytes (invalid UTF-8 throws LLM4ALL_ERR_BAD_UTF8). */
    public int[] tokenize(byte[] utf8, boolean addSpecial, boolean parseSpecial) throws Llm4allException {
        PointerByReference out = new PointerByReference();
        LongByReference n = new LongByReference();
        byte[] z = new byte[utf8.length + 1];
        System.arraycopy(utf8, 0, z, 0, utf8.length);
        Llm4all.check(LibLlm4all.C.llm4all_tokenize(p(), z, utf8.length, addSpecial, parseSpecial, out, n));
        try {
            return n.getValue() == 0 ? new int[0] : out.getValue().getIntArray(0, (int) n.getValue());
        } finally {
            LibLlm4all.C.llm4all_free(out.getValue());
        }
    }

    /** Text of token ids; renderSpecial writes special tokens' text too. */
    public String detokenize(int[] tokens, boolean renderSpecial) throws Llm4allException {
        PointerByReference out = new PointerByReference();
        LongByReference len = new LongByReference();
        Llm4all.check(LibLlm4all.C.llm4all_detokenize(p(), tokens.length == 0 ? null : tokens, tokens.length,
                renderSpecial, out, len));
        return Llm4all.take(out.getValue(), len.getValue());
    }

    /** The raw bytes of one token (possibly part of a UTF-8 character). */
    public byte[] tokenToPiece(int token, boolean renderSpecial) throws Llm4allException {
        PointerByReference out = new PointerByReference();
        LongByReference len = new LongByReference();
        Llm4all.check(LibLlm4all.C.llm4all_token_to_piece(p(), token, renderSpecial, out, len));
        return Llm4all.takeBytes(out.getValue(), len.getValue());
    }

    // ---- embeddings ----------------------------------------------------------------------

    /** Length of the vectors embed returns at full size; 0 when this is not an embedding model. */
    public int embeddingDim() { return LibLlm4all.C.llm4all_model_embedding_dim(p()); }

    /** One vector per text (many texts per forward pass); opts null = the C defaults.
     *  Safe to call from several threads at once. */
    public float[][] embed(String[] texts, EmbedOptions opts) throws Llm4allException {
        return embed(texts, opts, null);
    }

    /** As embed; nTokensOut[0], if given, receives the number of tokens run. */
    public float[][] embed(String[] texts, EmbedOptions opts, long[] nTokensOut) throws Llm4allException {
        Memory arr = new Memory((long) Native.POINTER_SIZE * Math.max(1, texts.length));
        Memory[] strs = new Memory[texts.length];
        long[] lens = new long[Math.max(1, texts.length)];
        for (int i = 0; i < texts.length; i++) {
            byte[] z = Llm4all.cstr(texts[i]);
            strs[i] = new Memory(z.length);
            strs[i].write(0, z, 0, z.length);
            arr.setPointer((long) i * Native.POINTER_SIZE, strs[i]);
            lens[i] = z.length - 1;
        }
        Memory[] keep = new Memory[1];
        LibLlm4all.EmbedOptions o = (opts == null ? new EmbedOptions() : opts).toNative(keep);
        PointerByReference out = new PointerByReference();
        IntByReference dim = new IntByReference();
        LongByReference nTok = new LongByReference();
        Llm4all.check(LibLlm4all.C.llm4all_embed(p(), arr, lens, texts.length, o, out, dim, nTok));
        if (nTokensOut != null && nTokensOut.length > 0) nTokensOut[0] = nTok.getValue();
        java.util.Arrays.fill(strs, null); // reachable until here
        return vectors(out.getValue(), texts.length, dim.getValue());
    }

    /** Vectors of sequences already tokenized (special tokens as given). */
    public float[][] embedTokens(int[][] seqs, EmbedOptions opts) throws Llm4allException {
        Memory arr = new Memory((long) Native.POINTER_SIZE * Math.max(1, seqs.length));
        Memory[] bufs = new Memory[seqs.length];
        long[] lens = new long[Math.max(1, seqs.length)];
        for (int i = 0; i < seqs.length; i++) {
            bufs[i] = new Memory(Math.max(4, 4L * seqs[i].length));
            bufs[i].write(0, seqs[i], 0, seqs[i].length);
            arr.setPointer((long) i * Native.POINTER_SIZE, bufs[i]);
            lens[i] = seqs[i].length;
        }
        Memory[] keep = new Memory[1];
        LibLlm4all.EmbedOptions o = (opts == null ? new EmbedOptions() : opts).toNative(keep);
        PointerByReference out = new PointerByReference();
        IntByReference dim = new IntByReference();
        Llm4all.check(LibLlm4all.C.llm4all_embed_tokens(p(), arr, lens, seqs.length, o, out, dim));
        java.util.Arrays.fill(bufs, null);
        return vectors(out.getValue(), seqs.length, dim.getValue());
    }

    private static float[][] vectors(Pointer p, int n, int dim) {
        try {
            float[][] v = new float[n][];
            for (int i = 0; i < n; i++) v[i] = p.getFloatArray((long) i * dim * 4, dim);
            return v;
        } finally {
            LibLlm4all.C.llm4all_free(p);
        }
    }
}
