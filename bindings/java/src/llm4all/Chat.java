// Chat.java — a conversation over a session, rendered with the model's chat template (or a
// given one) by the core's llm4all_chat_* calls, with prefix reuse of the KV cache.
// Messages go in and out as JSON, exactly as the C ABI takes them.
package llm4all;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.PointerByReference;
import java.lang.ref.Cleaner;
import java.util.function.Predicate;

public final class Chat implements AutoCloseable {
    public static final int DROP_OLDEST = 0, ERROR_WHEN_FULL = 1;

    private final Session session;
    private final NativeRef ref;
    private final Cleaner.Cleanable cleanable;
    private volatile boolean closed;

    /** Options of llm4all_chat_options; nulls keep the defaults (the model's template). */
    public static final class Options {
        String template, systemMessage, variablesJson;
        int overflow;
        public Options template(String v) { template = v; return this; }
        public Options systemMessage(String v) { systemMessage = v; return this; }
        /** Extra template variables as a JSON object, e.g. {"enable_thinking":false}. */
        public Options variablesJson(String v) { variablesJson = v; return this; }
        /** DROP_OLDEST (default) or ERROR_WHEN_FULL. */
        public Options overflow(int v) { overflow = v; return this; }
    }

    /** The reply and how it was produced. */
    public record Reply(String text, String reasoning, String stopReason, int promptTokens, int reusedTokens,
                        int decodedTokens, int generatedTokens, int droppedMessages, double promptMillis,
                        double generateMillis) {}

    public Chat(Session session, Options opts) throws Llm4allException {
        LibLlm4all.ChatOptions o = new LibLlm4all.ChatOptions();
        LibLlm4all.C.llm4all_chat_options_init(o);
        o.read();
        Memory[] keep = new Memory[3];
        if (opts != null) {
            if (opts.template != null) o.template_src = keep[0] = Llm4all.cmem(opts.template);
            if (opts.systemMessage != null) o.system_message = keep[1] = Llm4all.cmem(opts.systemMessage);
            if (opts.variablesJson != null) o.variables_json = keep[2] = Llm4all.cmem(opts.variablesJson);
            o.overflow = opts.overflow;
        }
        o.write();
        PointerByReference out = new PointerByReference();
        synchronized (session.lock) {
            Llm4all.check(LibLlm4all.C.llm4all_chat_new(session.p(), o, out));
        }
        java.util.Arrays.fill(keep, null); // the strings were copied by C
        this.session = session;
        NativeRef r = new NativeRef(out.getValue(), LibLlm4all.C::llm4all_chat_free, session.ref);
        ref = r;
        cleanable = NativeRef.CLEANER.register(this, r::release);
    }

    @Override
    public void close() {
        synchronized (session.lock) {
            closed = true;
            cleanable.clean();
        }
    }

    private Pointer p() {
        Pointer p = closed ? null : ref.get();
        if (p == null) throw new IllegalStateException("the Chat is closed");
        session.p();
        return p;
    }

    /** Appends one message given as a JSON object, e.g. {"role":"tool","content":"..."}. */
    public void addMessageJson(String messageJson) throws Llm4allException {
        synchronized (session.lock) {
            Llm4all.check(LibLlm4all.C.llm4all_chat_add_message(p(), Llm4all.cstr(messageJson)));
        }
    }

    /** Appends {"role": role, "content": content}. */
    public void addMessage(String role, String content) throws Llm4allException {
        addMessageJson("{\"role\":" + Json.quote(role) + ",\"content\":" + Json.quote(content) + "}");
    }

    /** Replaces the whole conversation with a JSON array of messages. */
    public void setMessagesJson(String messagesJson) throws Llm4allException {
        synchronized (session.lock) {
            Llm4all.check(LibLlm4all.C.llm4all_chat_set_messages(p(), Llm4all.cstr(messagesJson)));
        }
    }

    /** The conversation as a JSON array (reasoning in "reasoning_content"). */
    public String messagesJson() throws Llm4allException {
        PointerByReference out = new PointerByReference();
        synchronized (session.lock) {
            Llm4all.check(LibLlm4all.C.llm4all_chat_messages(p(), out));
        }
        return Llm4all.take(out.getValue());
    }

    /** The prompt the next reply would be generated from. */
    public String render() throws Llm4allException {
        PointerByReference out = new PointerByReference();
        synchronized (session.lock) {
            Llm4all.check(LibLlm4all.C.llm4all_chat_render(p(), out));
        }
        return Llm4all.take(out.getValue());
    }

    /** Forgets every message except the system message. */
    public void reset() throws Llm4allException {
        synchronized (session.lock) { Llm4all.check(LibLlm4all.C.llm4all_chat_reset(p())); }
    }

    /** Adds a user message and generates the reply (see respond). */
    public Reply send(String text, GenerateOptions opts, Predicate<String> onPiece) throws Llm4allException {
        return run(opts, onPiece, text);
    }

    /** Generates the assistant's reply to the conversation so far and appends it; onPiece
     *  (may be null) sees every piece, reasoning included; returning false stops. */
    public Reply respond(GenerateOptions opts, Predicate<String> onPiece) throws Llm4allException {
        return run(opts, onPiece, null);
    }

    private Reply run(GenerateOptions opts, Predicate<String> onPiece, String userText) throws Llm4allException {
        GenerateOptions.Native_ n = (opts == null ? new GenerateOptions() : opts).toNative();
        Session.Pieces cb = new Session.Pieces(onPiece);
        LibLlm4all.ChatStats st = new LibLlm4all.ChatStats();
        st.size = st.size();
        PointerByReference text = new PointerByReference(), reasoning = new PointerByReference();
        int status;
        synchronized (session.lock) {
            status = userText == null
                    ? LibLlm4all.C.llm4all_chat_respond(p(), n.options, cb, null, text, reasoning, st)
                    : LibLlm4all.C.llm4all_chat_send(p(), Llm4all.cstr(userText), n.options, cb, null, text,
                                                     reasoning, st);
        }
        String t = Llm4all.take(text.getValue()), r = Llm4all.take(reasoning.getValue());
        cb.rethrow();
        Llm4all.check(status);
        st.read();
        return new Reply(t, r, Llm4all.stopReasonName(st.stop_reason), st.prompt_tokens, st.reused_tokens,
                st.decoded_tokens, st.generated_tokens, st.dropped_messages, st.prompt_ms, st.generate_ms);
    }
}
