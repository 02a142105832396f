// BindingTest.java — tests of the Java binding against the real library and models, with a
// small runner of its own (every public static void test* method; no test framework needed):
// stories260K from the test data ($LLM4ALL_TESTDATA or ../shared/testdata beside the
// repository) and SmolLM2 from the catalogue cache when present (skipped with the reason
// otherwise). Run through bindings/java/test.sh.
package llm4all;

import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;
import java.util.stream.Stream;

public final class BindingTest {
    static final class Skip extends RuntimeException {
        private static final long serialVersionUID = 1L;
        Skip(String why) { super(why); }
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static String stories() {
        String dir = System.getenv("LLM4ALL_TESTDATA");
        if (dir == null) dir = System.getProperty("llm4all.repo", ".") + "/../shared/testdata";
        File f = new File(dir, "models/stories260K.gguf");
        if (!f.isFile()) throw new Skip("stories260K not found at " + f + " (set LLM4ALL_TESTDATA)");
        return f.getPath();
    }

    static String smollm2() {
        String p = System.getenv("LLM4ALL_SMOLLM2");
        if (p == null) {
            String cache = System.getenv("LLM4ALL_CACHE");
            if (cache == null) cache = System.getProperty("user.home") + "/.cache/llm4all";
            p = cache + "/models/smollm2.gguf";
        }
        if (!new File(p).isFile()) throw new Skip("smollm2 not found at " + p + " (llm4all pull smollm2)");
        return p;
    }

    static GenerateOptions greedy(int n) { return new GenerateOptions().maxTokens(n).temp(0); }

    static Session.Options small() { return new Session.Options().nCtx(512); }

    public static void testMissingModelIsACheckedError() {
        try {
            Model.load("/nonexistent/model.gguf");
            throw new AssertionError("no exception");
        } catch (Llm4allException e) {
            check(e.status() == Llm4all.ERR_IO && e.statusName().equals("LLM4ALL_ERR_IO"), e.statusName());
            check(e.getMessage().contains("/nonexistent/model.gguf"), e.getMessage());
        }
    }

    public static void testStructLayoutsMatchTheLibrary() {
        // Each _init writes sizeof(struct) as the library sees it: JNA's layout must agree.
        LibLlm4all.ModelOptions m = new LibLlm4all.ModelOptions();
        LibLlm4all.C.llm4all_model_options_init(m);
        m.read();
        LibLlm4all.SessionOptions s = new LibLlm4all.SessionOptions();
        LibLlm4all.C.llm4all_session_options_init(s);
        s.read();
        LibLlm4all.SamplerOptions sa = new LibLlm4all.SamplerOptions();
        LibLlm4all.C.llm4all_sampler_options_init(sa);
        sa.read();
        LibLlm4all.GenerateOptions g = new LibLlm4all.GenerateOptions();
        LibLlm4all.C.llm4all_generate_options_init(g);
        g.read();
        LibLlm4all.ChatOptions c = new LibLlm4all.ChatOptions();
        LibLlm4all.C.llm4all_chat_options_init(c);
        c.read();
        check(m.size == m.size() && s.size == s.size() && sa.size == sa.size() && g.size == g.size()
                && c.size == c.size(), "struct sizes differ from the library's");
        check(Llm4all.abiVersion() == 2 && !Llm4all.version().isEmpty(), "version");
        check(Llm4all.statusName(Llm4all.ERR_BAD_GGUF).equals("LLM4ALL_ERR_BAD_GGUF"), "status name");
        // The header documents these defaults; the binding reads them from C.
        GenerateOptions d = new GenerateOptions();
        check(d.maxTokens() == 128 && d.topK() == 40 && d.repeatLastN() == 64 && d.repeatPenalty() == 1f
                && d.stopAtEog() && Math.abs(d.temp() - 0.7f) < 1e-6, "defaults");
    }

    public static void testModelFactsAndTokenizer() throws Exception {
        try (Model m = Model.load(stories())) {
            check(m.nVocab() == 512 && m.nCtxTrain() > 0 && m.bos() >= 0 && m.isEog(m.eos()), "facts");
            check(m.infoJson().contains("\"architecture\":\"llama\""), m.infoJson());
            int[] toks = m.tokenize("Once upon a time", true, false);
            check(toks.length >= 3 && toks[0] == m.bos(), "tokenize");
            check(m.detokenize(toks, false).equals("Once upon a time"), "detokenize");
            StringBuilder b = new StringBuilder();
            for (int i = 1; i < toks.length; i++) b.append(new String(m.tokenToPiece(toks[i], false), StandardCharsets.UTF_8));
            check(b.toString().trim().equals("Once upon a time"), "pieces: " + b);
            try {
                m.tokenize(new byte[] {'a', (byte) 0xff}, false, false);
                throw new AssertionError("invalid UTF-8 accepted");
            } catch (Llm4allException e) {
                check(e.status() == Llm4all.ERR_BAD_UTF8, e.getMessage());
            }
            check(Llm4all.devicesJson().contains("\"cpu\""), "devices");
            check(Llm4all.ggufDescribe(stories(), 4).contains("\"general.architecture\":\"llama\""), "describe");
            float[] emb = Llm4all.ggufReadTensor(stories(), "token_embd.weight");
            check(emb.length > 0 && emb.length % m.nVocab() == 0, "read tensor");
        }
    }

    public static void testGenerateStreamsWhatItReturns() throws Exception {
        try (Model m = Model.load(stories()); Session s = m.newSession(small())) {
            List<String> pieces = new ArrayList<>();
            GenerateResult r = s.generate("Once upon a time", greedy(40), p -> pieces.add(p));
            check(r.generated() == 40 && r.stopReason().equals("max_tokens") && pieces.size() == 40, r.toString());
            check(String.join("", pieces).equals(r.text()) && !r.text().isEmpty(), "streamed != returned");
            GenerateResult again = s.generate("Once upon a time", greedy(40));
            check(again.text().equals(r.text()) && again.promptDecoded() < again.promptTokens(), "prefix reuse");
            // As an Iterator and as a Stream.
            StringBuilder b = new StringBuilder();
            try (TokenStream ts = s.stream("Once upon a time", greedy(40))) {
                while (ts.hasNext()) b.append(ts.next());
                check(ts.result() != null && ts.result().generated() == 40, "stream result");
            }
            check(b.toString().equals(r.text()), "iterator text");
            try (Stream<String> st = s.stream("Once upon a time", greedy(40)).stream()) {
                check(st.collect(Collectors.joining()).equals(r.text()), "stream text");
            }
            // Closing a stream early aborts the generation.
            TokenStream ts = s.stream("Once upon a time", greedy(400));
            ts.next();
            ts.close();
            check(ts.result() != null && ts.result().stopReason().equals("aborted") && ts.result().generated() < 400,
                  "early close: " + ts.result());
        }
    }

    public static void testSamplingOptionsReachC() throws Exception {
        try (Model m = Model.load(stories()); Session s = m.newSession(small())) {
            GenerateOptions o = greedy(30).temp(1f).seed(42).topK(0).topP(1f);
            String a = s.generate("Once upon a time", o).text();
            check(a.equals(s.generate("Once upon a time", o).text()), "same seed, different text");
            boolean differs = false;
            for (long seed = 1; seed <= 5 && !differs; seed++) differs = !s.generate("Once upon a time", o.seed(seed)).text().equals(a);
            check(differs, "the seed has no effect");
            String base = s.generate("Once upon a time", greedy(30)).text();
            String pen = s.generate("Once upon a time", greedy(30).presencePenalty(1.5f).frequencyPenalty(1.5f)).text();
            check(!pen.equals(base), "penalties have no effect");
            GenerateResult st = s.generate("Once upon a time", greedy(60).stop("Lily"));
            check(st.stopReason().equals("stop_string") && !st.text().contains("Lily") && base.startsWith(st.text()),
                  "stop string: " + st);
        }
    }

    public static void testCallbackStopAbortAndExceptions() throws Exception {
        try (Model m = Model.load(stories()); Session s = m.newSession(small())) {
            int[] n = {0};
            GenerateResult r = s.generate("Once upon a time", greedy(50), p -> ++n[0] < 5);
            check(r.stopReason().equals("aborted") && r.generated() == 5 && n[0] == 5, r.toString());
            try {
                s.generate("Once", greedy(10), p -> { throw new IllegalStateException("boom"); });
                throw new AssertionError("exception swallowed");
            } catch (IllegalStateException e) {
                check(e.getMessage().equals("boom"), e.getMessage());
            }
            // abort() from another thread.
            CountDownLatch started = new CountDownLatch(1), aborted = new CountDownLatch(1);
            Thread t = new Thread(() -> {
                try {
                    started.await();
                } catch (InterruptedException e) {
                    return;
                }
                s.abort();
                aborted.countDown();
            });
            t.start();
            GenerateResult ab = s.generate("Once upon a time", greedy(400), p -> {
                started.countDown();
                try {
                    aborted.await(); // the first piece waits until abort() was called
                } catch (InterruptedException e) {
                    return false;
                }
                return true;
            });
            t.join();
            check(ab.stopReason().equals("aborted") && ab.generated() <= 2, "abort: " + ab);
            check(s.generate("Once", greedy(5)).generated() == 5, "the abort leaked into the next call");
        }
    }

    /** One model, several sessions on several threads: each gets exactly what it gets alone. */
    public static void testConcurrentSessionsShareOneModel() throws Exception {
        String[] prompts = {"Once upon a time", "The cat", "Tom and Sue went", "One day, a little bird"};
        try (Model m = Model.load(stories())) {
            String[] want = new String[prompts.length];
            try (Session s = m.newSession(small())) {
                for (int i = 0; i < prompts.length; i++) want[i] = s.generate(prompts[i], greedy(40)).text();
            }
            String[] got = new String[prompts.length];
            Throwable[] errs = new Throwable[prompts.length];
            List<Thread> threads = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                final int k = i;
                threads.add(new Thread(() -> {
                    try (Session s = m.newSession(small().nThreads(1))) {
                        for (int rep = 0; rep < 3; rep++) {
                            String t = s.generate(prompts[k], greedy(40)).text();
                            if (rep > 0 && !t.equals(got[k])) throw new AssertionError("repeat differs");
                            got[k] = t;
                        }
                    } catch (Throwable e) {
                        errs[k] = e;
                    }
                }));
            }
            for (Thread t : threads) t.start();
            for (Thread t : threads) t.join();
            for (int i = 0; i < prompts.length; i++) {
                check(errs[i] == null && want[i].equals(got[i]), prompts[i] + ": " + errs[i] + " " + got[i]);
            }
            // Calls on ONE session from several threads are serialised, not corrupted.
            try (Session s = m.newSession(small())) {
                threads.clear();
                for (int i = 0; i < prompts.length; i++) {
                    final int k = i;
                    threads.add(new Thread(() -> {
                        try {
                            got[k] = s.generate(prompts[k], greedy(40)).text();
                        } catch (Throwable e) {
                            errs[k] = e;
                        }
                    }));
                }
                for (Thread t : threads) t.start();
                for (Thread t : threads) t.join();
                for (int i = 0; i < prompts.length; i++) {
                    check(errs[i] == null && want[i].equals(got[i]), "shared session: " + prompts[i]);
                }
            }
        }
    }

    public static void testCloseOrder() throws Exception {
        Model m = Model.load(stories());
        Session s = m.newSession(small());
        m.close(); // the session keeps the C model alive
        check(s.generate("Once", greedy(5)).generated() == 5, "session after model.close");
        try {
            m.nVocab();
            throw new AssertionError("closed model usable");
        } catch (IllegalStateException expected) {
        }
        s.close();
        s.close();
        s.abort(); // harmless when closed
        try {
            s.generate("x", greedy(1));
            throw new AssertionError("closed session usable");
        } catch (IllegalStateException expected) {
        }
    }

    static final String CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
            + "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    public static void testChatWithGivenTemplate() throws Exception {
        try (Model m = Model.load(stories()); Session s = m.newSession(small());
             Chat c = new Chat(s, new Chat.Options().template(CHATML).systemMessage("Be brief."))) {
            c.addMessage("user", "Hi \"there\"");
            check(c.render().equals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi \"there\"<|im_end|>\n"
                    + "<|im_start|>assistant\n"), c.render());
            Chat.Reply r = c.respond(greedy(8), null);
            check(r.generatedTokens() > 0, r.toString());
            check(c.messagesJson().contains("\"role\":\"assistant\""), c.messagesJson());
            c.reset();
            check(!c.messagesJson().contains("\"user\""), "reset");
            try {
                new Chat(s, new Chat.Options().template("{% if %}")).close();
                throw new AssertionError("bad template accepted");
            } catch (Llm4allException e) {
                check(e.status() == Llm4all.ERR_TEMPLATE, e.getMessage());
            }
            String out = Llm4all.renderChatTemplate(CHATML,
                    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"add_generation_prompt\":false}");
            check(out.equals("<|im_start|>user\nHi<|im_end|>\n"), out);
        }
    }

    public static void testChatWithModelTemplate() throws Exception {
        try (Model m = Model.load(smollm2()); Session s = m.newSession(small()); Chat c = new Chat(s, null)) {
            StringBuilder streamed = new StringBuilder();
            Chat.Reply r = c.send("What is the capital of France?", greedy(24), p -> streamed.append(p) != null);
            check(!r.text().isEmpty() && streamed.toString().equals(r.text()), r.toString());
            check(c.render().contains("<|im_start|>user\nWhat is the capital of France?<|im_end|>"), c.render());
            Chat.Reply r2 = c.send("And of Italy?", greedy(16), null);
            check(r2.reusedTokens() > 0, "no prefix reuse: " + r2);
        }
    }

    public static void testLowLevelDecodeAndScore() throws Exception {
        try (Model m = Model.load(stories()); Session a = m.newSession(small()); Session b = m.newSession(small())) {
            int[] toks = m.tokenize("Once upon a time there was", true, false);
            a.setTokens(toks);
            check(a.nPast() == toks.length && a.nCtx() == 512, "set tokens");
            float[][] la = a.logits();
            check(la.length == 1 && la[0].length == m.nVocab(), "logits");
            int[] top1 = new int[toks.length - 1];
            float[] lp = b.score(toks, 1, top1);
            check(lp.length == toks.length - 1, "score length");
            for (float v : lp) check(v <= 0, "log-probability > 0");
            // Truncating and decoding the last token again gives the same logits.
            b.truncate(toks.length - 1);
            b.decode(new int[] {toks[toks.length - 1]}, false);
            float[][] lb = b.logits();
            check(java.util.Arrays.equals(la[0], lb[0]), "decode logits differ from set_tokens logits");
            // The greedy sampler picks the largest logit.
            try (Sampler smp = new Sampler(greedy(1))) {
                int best = 0;
                for (int i = 0; i < la[0].length; i++) if (la[0][i] > la[0][best]) best = i;
                int tok = smp.sample(la[0]);
                check(tok == best, "sampler picked " + tok + ", the largest logit is " + best);
                smp.accept(tok);
                // decodeBatch gives each session what decode gives it alone.
                a.truncate(toks.length - 1);
                b.truncate(toks.length - 1);
                Sampler.decodeBatch(new Session[] {a, b}, new int[][] {{toks[toks.length - 1]}, {tok}}, false);
                check(java.util.Arrays.equals(la[0], a.logits()[0]), "batched logits differ");
            }
        }
    }

    /** all-MiniLM-L6-v2 (the catalogue's minilm, converted to <cache>/models/minilm-f16.gguf by the
     *  Python package on first use) against sentence-transformers 6.2.0 on the same model's Hugging
     *  Face checkpoint: encode(sentences, normalize_embeddings=True) gives these first components of
     *  the first sentence and these cosine similarities. */
    public static void testEmbedMatchesSentenceTransformers() throws Exception {
        String cache = System.getenv("LLM4ALL_CACHE");
        if (cache == null) cache = System.getProperty("user.home") + "/.cache/llm4all";
        File f = new File(cache, "models/minilm-f16.gguf");
        if (!f.isFile()) throw new Skip(f + " absent (created by llm4all.embeddings.embedding_model_path('minilm'))");
        String[] sentences = {"The cat sits on the mat.", "A cat is sitting on a mat.", "Stock markets fell sharply."};
        double[] ref = {0.13418, -0.0329, -0.0248, 0.04144, -0.03635, 0.04181, 0.03122, 0.0372};
        try (Model m = Model.load(f.getPath())) {
            check(m.embeddingDim() == 384, "dim");
            List<int[]> plans = new ArrayList<>();
            long[] nTok = new long[1];
            float[][] v = m.embed(sentences, new EmbedOptions().onBatch(c -> plans.add(c)), nTok);
            check(v.length == 3 && v[0].length == 384 && nTok[0] >= 9 && !plans.isEmpty(), "shape");
            for (int i = 0; i < ref.length; i++) check(Math.abs(v[0][i] - ref[i]) < 2e-3, "component " + i + ": " + v[0][i]);
            check(Math.abs(dot(v[0], v[1]) - 0.971758) < 2e-3 && Math.abs(dot(v[0], v[2]) - 0.039533) < 2e-3, "cosines");
            float[][] w = m.embedTokens(new int[][] {m.tokenize(sentences[0], true, false)}, null);
            check(Math.abs(dot(w[0], v[0]) - 1) < 1e-5, "tokens give the same vector");
            check(m.embed(new String[] {sentences[0]}, new EmbedOptions().dimensionality(128))[0].length == 128, "dim 128");
            try {
                m.embed(sentences, new EmbedOptions().onBatch(c -> false));
                throw new AssertionError("cancel ignored");
            } catch (Llm4allException e) {
                check(e.status() == Llm4all.ERR_CANCELLED, e.getMessage());
            }
        }
        try (Model m = Model.load(stories())) {
            check(m.embeddingDim() == 0, "decoder has an embedding dim");
            try {
                m.embed(new String[] {"x"}, null);
                throw new AssertionError("decoder embeds");
            } catch (Llm4allException e) {
                check(e.status() == Llm4all.ERR_UNSUPPORTED, e.getMessage());
            }
        }
    }

    static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }

    public static void testDeviceOption() throws Exception {
        try (Model m = Model.load(stories(), new Model.Options().device("cpu").useMmap(false))) {
            check(m.nVocab() == 512, "load on cpu without mmap");
        }
        try {
            Model.load(stories(), new Model.Options().device("no-such-device")).close();
            throw new AssertionError("unknown device accepted");
        } catch (Llm4allException e) {
            check(e.status() == Llm4all.ERR_BACKEND && e.getMessage().contains("no-such-device"), e.getMessage());
        }
    }

    public static void testLogHandler() throws Exception {
        List<String> got = new ArrayList<>();
        Llm4all.setLogHandler((level, msg) -> { synchronized (got) { got.add(level + ": " + msg); } });
        try (Model m = Model.load(stories(), new Model.Options().device("cpu"))) {
            // A prompt that writes BOS itself when the model adds one too: the engine warns.
            m.tokenize("<s>Hello", true, true);
        } finally {
            Llm4all.setLogHandler((level, msg) -> { if (level >= 2) System.err.println(msg); });
        }
        synchronized (got) {
            check(got.stream().anyMatch(g -> g.startsWith("2: ") && g.contains("BOS")), "no BOS warning: " + got);
        }
    }

    public static void main(String[] args) throws Exception {
        int passed = 0, skipped = 0, failed = 0;
        for (Method t : BindingTest.class.getDeclaredMethods()) {
            if (!t.getName().startsWith("test") || !Modifier.isStatic(t.getModifiers())) continue;
            if (args.length > 0 && !t.getName().contains(args[0])) continue;
            long t0 = System.nanoTime();
            try {
                t.invoke(null);
                passed++;
                System.out.printf("PASS %s (%.1fs)%n", t.getName(), (System.nanoTime() - t0) / 1e9);
            } catch (InvocationTargetException e) {
                Throwable c = e.getCause();
                if (c instanceof Skip) {
                    skipped++;
                    System.out.println("SKIP " + t.getName() + ": " + c.getMessage());
                } else {
                    failed++;
                    System.out.println("FAIL " + t.getName() + ": " + c);
                    c.printStackTrace(System.out);
                }
            }
        }
        System.out.printf("%d passed, %d skipped, %d failed%n", passed, skipped, failed);
        System.exit(failed == 0 ? 0 : 1);
    }
}
