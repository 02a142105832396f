// EmbedOptions.java — every field of llm4all_embed_options as fluent setters; defaults come
// from the C ABI (llm4all_embed_options_init).
package llm4all;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.util.function.Predicate;

public final class EmbedOptions {
    public static final int POOLING_FROM_FILE = -1, POOLING_MEAN = 1, POOLING_CLS = 2, POOLING_LAST = 3;
    public static final int LONG_TEXT_MEAN = 0, LONG_TEXT_TRUNCATE = 1, LONG_TEXT_ERROR = 2;

    private int nThreads, dimensionality, pooling, longText, nCtx;
    private boolean normalize;
    private String prefix;
    private Predicate<int[]> onBatch;

    /** The C library's defaults. */
    public EmbedOptions() {
        LibLlm4all.EmbedOptions o = new LibLlm4all.EmbedOptions();
        LibLlm4all.C.llm4all_embed_options_init(o);
        o.read();
        nThreads = o.n_threads; normalize = o.normalize != 0; dimensionality = o.dimensionality;
        pooling = o.pooling; longText = o.long_text; nCtx = o.n_ctx;
    }

    /** 0 = every core. */
    public EmbedOptions nThreads(int v) { nThreads = v; return this; }
    /** L2-normalise each vector (default true). */
    public EmbedOptions normalize(boolean v) { normalize = v; return this; }
    /** 0 = full; 1..dim: the first d values (Matryoshka). */
    public EmbedOptions dimensionality(int v) { dimensionality = v; return this; }
    /** Literal text put before every text, e.g. a task prompt. */
    public EmbedOptions prefix(String v) { prefix = v; return this; }
    /** POOLING_FROM_FILE (default) or a pooling value. */
    public EmbedOptions pooling(int v) { pooling = v; return this; }
    /** LONG_TEXT_MEAN (default), LONG_TEXT_TRUNCATE or LONG_TEXT_ERROR. */
    public EmbedOptions longText(int v) { longText = v; return this; }
    /** Tokens per window (0 = the model's training context). */
    public EmbedOptions nCtx(int v) { nCtx = v; return this; }
    /** Called before each forward pass with the token counts of that pass and every later
     *  one; returning false cancels the call (LLM4ALL_ERR_CANCELLED). */
    public EmbedOptions onBatch(Predicate<int[]> v) { onBatch = v; return this; }

    /** The C struct; keep the returned object reachable during the call (it holds the
     *  prefix memory and the callback). */
    LibLlm4all.EmbedOptions toNative(Memory[] keepPrefix) {
        LibLlm4all.EmbedOptions o = new LibLlm4all.EmbedOptions();
        LibLlm4all.C.llm4all_embed_options_init(o);
        o.read();
        if (o.size != o.size()) {
            throw new IllegalStateException("llm4all_embed_options is " + o.size + " bytes in the library but "
                    + o.size() + " in this binding: ABI mismatch");
        }
        o.n_threads = nThreads;
        o.normalize = (byte) (normalize ? 1 : 0);
        o.dimensionality = dimensionality;
        if (prefix != null) o.prefix = keepPrefix[0] = Llm4all.cmem(prefix);
        o.pooling = pooling;
        o.long_text = longText;
        o.n_ctx = nCtx;
        if (onBatch != null) {
            Predicate<int[]> f = onBatch;
            o.on_batch = (Pointer counts, long n, Pointer user) -> f.test(counts.getIntArray(0, (int) n));
        }
        o.write();
        return o;
    }
}
