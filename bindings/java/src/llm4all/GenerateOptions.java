// GenerateOptions.java — every field of llm4all_generate_options and its sampler options,
// as fluent setters. Defaults come from the C ABI (llm4all_generate_options_init), the one
// place they live; toNative only copies fields across.
package llm4all;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import java.util.ArrayList;
import java.util.List;

public final class GenerateOptions {
    /** A seed asking for a fresh random one per call (UINT64_MAX, llama.cpp's --seed -1). */
    public static final long SEED_RANDOM = -1L;

    private int maxTokens;
    private boolean addSpecial, parseSpecial, stopAtEog;
    private float temp, topP, minP, repeatPenalty, presencePenalty, frequencyPenalty;
    private int topK, repeatLastN;
    private long seed;
    private final List<String> stop = new ArrayList<>();

    /** The C library's defaults. */
    public GenerateOptions() {
        LibLlm4all.GenerateOptions o = new LibLlm4all.GenerateOptions();
        LibLlm4all.C.llm4all_generate_options_init(o);
        o.read();
        maxTokens = o.max_tokens;
        addSpecial = o.add_special != 0;
        parseSpecial = o.parse_special != 0;
        stopAtEog = o.stop_at_eog != 0;
        LibLlm4all.SamplerOptions s = o.sampling;
        temp = s.temp; topK = s.top_k; topP = s.top_p; minP = s.min_p; repeatPenalty = s.repeat_penalty;
        repeatLastN = s.repeat_last_n; seed = s.seed; presencePenalty = s.presence_penalty;
        frequencyPenalty = s.frequency_penalty;
    }

    public GenerateOptions maxTokens(int v) { maxTokens = v; return this; }
    public GenerateOptions addSpecial(boolean v) { addSpecial = v; return this; }
    public GenerateOptions parseSpecial(boolean v) { parseSpecial = v; return this; }
    public GenerateOptions stopAtEog(boolean v) { stopAtEog = v; return this; }
    /** Generation stops before any of these strings, which are never emitted. */
    public GenerateOptions stop(String... v) { stop.clear(); stop.addAll(List.of(v)); return this; }
    /** <= 0: greedy. */
    public GenerateOptions temp(float v) { temp = v; return this; }
    /** <= 0: off. */
    public GenerateOptions topK(int v) { topK = v; return this; }
    /** >= 1: off. */
    public GenerateOptions topP(float v) { topP = v; return this; }
    /** <= 0: off. */
    public GenerateOptions minP(float v) { minP = v; return this; }
    /** 1: off. */
    public GenerateOptions repeatPenalty(float v) { repeatPenalty = v; return this; }
    public GenerateOptions repeatLastN(int v) { repeatLastN = v; return this; }
    /** Same seed + same inputs = same tokens; SEED_RANDOM draws one per call. */
    public GenerateOptions seed(long v) { seed = v; return this; }
    public GenerateOptions presencePenalty(float v) { presencePenalty = v; return this; }
    public GenerateOptions frequencyPenalty(float v) { frequencyPenalty = v; return this; }

    public int maxTokens() { return maxTokens; }
    public float temp() { return temp; }
    public int topK() { return topK; }
    public float topP() { return topP; }
    public float repeatPenalty() { return repeatPenalty; }
    public int repeatLastN() { return repeatLastN; }
    public long seed() { return seed; }
    public boolean stopAtEog() { return stopAtEog; }

    /** The C struct, and the native memory of the stop strings it points to (keep both
     *  reachable during the call). */
    static final class Native_ {
        final LibLlm4all.GenerateOptions options;
        final List<Memory> keep = new ArrayList<>();
        Native_(LibLlm4all.GenerateOptions o) { options = o; }
    }

    Native_ toNative() {
        LibLlm4all.GenerateOptions o = new LibLlm4all.GenerateOptions();
        LibLlm4all.C.llm4all_generate_options_init(o);
        o.read();
        if (o.size != o.size()) {
            throw new IllegalStateException("llm4all_generate_options is " + o.size
                    + " bytes in the library but " + o.size() + " in this binding: ABI mismatch");
        }
        Native_ n = new Native_(o);
        o.max_tokens = maxTokens;
        o.add_special = (byte) (addSpecial ? 1 : 0);
        o.parse_special = (byte) (parseSpecial ? 1 : 0);
        o.stop_at_eog = (byte) (stopAtEog ? 1 : 0);
        LibLlm4all.SamplerOptions s = o.sampling;
        s.temp = temp; s.top_k = topK; s.top_p = topP; s.min_p = minP; s.repeat_penalty = repeatPenalty;
        s.repeat_last_n = repeatLastN; s.seed = seed; s.presence_penalty = presencePenalty;
        s.frequency_penalty = frequencyPenalty;
        if (!stop.isEmpty()) {
            Memory arr = new Memory((long) Native.POINTER_SIZE * stop.size());
            n.keep.add(arr);
            for (int i = 0; i < stop.size(); i++) {
                Memory str = Llm4all.cmem(stop.get(i));
                n.keep.add(str);
                arr.setPointer((long) i * Native.POINTER_SIZE, str);
            }
            o.stop = arr;
            o.n_stop = stop.size();
        }
        o.write();
        return n;
    }
}
