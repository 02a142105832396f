// Sampler.java — the core's sampling chain on its own (penalties, top-k, top-p, min-p,
// temperature, seeded draw), and decodeBatch, for callers that run the decode loop
// themselves, e.g. to serve several sequences at once. A Sampler is not for concurrent use.
package llm4all;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import java.lang.ref.Cleaner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

public final class Sampler implements AutoCloseable {
    private final NativeRef ref;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;

    /** A sampler with the sampling fields of opts (null = the C defaults). */
    public Sampler(GenerateOptions opts) throws Llm4allException {
        LibLlm4all.SamplerOptions o = (opts == null ? new GenerateOptions() : opts).toNative().options.sampling;
        o.write();
        PointerByReference out = new PointerByReference();
        Llm4all.check(LibLlm4all.C.llm4all_sampler_new(o, out));
        NativeRef r = new NativeRef(out.getValue(), LibLlm4all.C::llm4all_sampler_free, null);
        ref = r;
        cleanable = NativeRef.CLEANER.register(this, r::release);
    }

    @Override
    public synchronized void close() {
        closed = true;
        cleanable.clean();
    }

    private Pointer p() {
        Pointer p = closed ? null : ref.get();
        if (p == null) throw new IllegalStateException("the Sampler is closed");
        return p;
    }

    /** Picks a token from one row of logits (-Infinity entries are never chosen); does not accept it. */
    public synchronized int sample(float[] logits) throws Llm4allException {
        IntByReference tok = new IntByReference();
        Llm4all.check(LibLlm4all.C.llm4all_sampler_sample(p(), logits, logits.length, tok));
        return tok.getValue();
    }

    /** Adds a token to the penalty window. */
    public synchronized void accept(int token) throws Llm4allException {
        Llm4all.check(LibLlm4all.C.llm4all_sampler_accept(p(), token));
    }

    /** One decode step for several sessions of one model in shared forward passes: each
     *  sessions[i] gets tokens[i] appended exactly as Session.decode would (the same logits). */
    public static void decodeBatch(Session[] sessions, int[][] tokens, boolean allLogits) throws Llm4allException {
        if (sessions.length != tokens.length) throw new IllegalArgumentException("one token array per session");
        if (sessions.length == 0) return;
        // Hold every session for the whole step, in a fixed order so that concurrent calls cannot deadlock.
        Session[] order = sessions.clone();
        Arrays.sort(order, Comparator.comparingInt(System::identityHashCode));
        lockAll(order, 0, () -> {
            LibLlm4all.BatchItem[] items = (LibLlm4all.BatchItem[]) new LibLlm4all.BatchItem().toArray(sessions.length);
            List<Memory> keep = new ArrayList<>();
            for (int i = 0; i < sessions.length; i++) {
                Memory m = new Memory(Math.max(4, 4L * tokens[i].length));
                m.write(0, tokens[i], 0, tokens[i].length);
                keep.add(m);
                items[i].session = sessions[i].p();
                items[i].tokens = m;
                items[i].n_tokens = tokens[i].length;
                items[i].all_logits = (byte) (allLogits ? 1 : 0);
                items[i].write();
            }
            Llm4all.check(LibLlm4all.C.llm4all_decode_batch(items[0], sessions.length));
            keep.clear();
        });
    }

    private interface Body { void run() throws Llm4allException; }

    private static void lockAll(Session[] order, int i, Body body) throws Llm4allException {
        if (i == order.length) {
            body.run();
            return;
        }
        synchronized (order[i].lock) {
            lockAll(order, i + 1, body);
        }
    }
}
