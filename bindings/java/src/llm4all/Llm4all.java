// Llm4all.java — library-wide calls (version, devices, GGUF inspection, chat template
// rendering, logging) and the helpers the other classes share to talk to C: UTF-8 strings
// in and out, buffers freed with llm4all_free, failed statuses turned into Llm4allException.
package llm4all;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;
import java.util.function.BiConsumer;

public final class Llm4all {
    private Llm4all() {}

    public static final int ERR_INVALID_ARGUMENT = -1, ERR_IO = -2, ERR_BAD_GGUF = -3, ERR_UNSUPPORTED = -4,
            ERR_OUT_OF_MEMORY = -5, ERR_CONTEXT_FULL = -6, ERR_BACKEND = -7, ERR_BAD_UTF8 = -8, ERR_CANCELLED = -9,
            ERR_TEMPLATE = -10, ERR_INTERNAL = -99;

    /** Version of the loaded library, e.g. "0.1.0". */
    public static String version() { return utf8(LibLlm4all.C.llm4all_version()); }

    /** LLM4ALL_ABI_VERSION of the loaded library. */
    public static int abiVersion() { return LibLlm4all.C.llm4all_abi_version(); }

    /** The short name of a status code, e.g. "LLM4ALL_ERR_BAD_GGUF". */
    public static String statusName(int status) { return utf8(LibLlm4all.C.llm4all_status_name(status)); }

    /** The backend plugins found and their devices, as the C ABI's JSON. */
    public static String devicesJson() throws Llm4allException {
        PointerByReference out = new PointerByReference();
        check(LibLlm4all.C.llm4all_devices_json(out));
        return take(out.getValue());
    }

    /** Parses and validates a GGUF file and describes it as JSON; arrays over maxArray items are abbreviated. */
    public static String ggufDescribe(String path, long maxArray) throws Llm4allException {
        PointerByReference out = new PointerByReference();
        check(LibLlm4all.C.llm4all_gguf_describe(cstr(path), maxArray, out));
        return take(out.getValue());
    }

    /** One tensor of a GGUF file, dequantized to float32 in file order. */
    public static float[] ggufReadTensor(String path, String tensor) throws Llm4allException {
        PointerByReference out = new PointerByReference();
        LongByReference n = new LongByReference();
        check(LibLlm4all.C.llm4all_gguf_read_tensor_f32(cstr(path), cstr(tensor), out, n));
        try {
            return out.getValue().getFloatArray(0, (int) n.getValue());
        } finally {
            LibLlm4all.C.llm4all_free(out.getValue());
        }
    }

    /** Renders a Jinja chat template with a JSON object of template variables, as transformers'
     *  apply_chat_template(tokenize=False) does. */
    public static String renderChatTemplate(String template, String contextJson) throws Llm4allException {
        PointerByReference out = new PointerByReference();
        LongByReference len = new LongByReference();
        check(LibLlm4all.C.llm4all_chat_template_render(cstr(template), cstr(contextJson), out, len));
        return take(out.getValue(), len.getValue());
    }

    private static LibLlm4all.LogFn logFn; // kept reachable while C holds it

    /** Routes all library logging to handler(level, message), called from any thread;
     *  null silences the library (by default it prints warnings and errors to stderr). */
    public static synchronized void setLogHandler(BiConsumer<Integer, String> handler) {
        if (handler == null) {
            LibLlm4all.C.llm4all_set_log_callback(null, null);
            logFn = null;
            return;
        }
        LibLlm4all.LogFn fn = (level, message, user) -> handler.accept(level, utf8(message));
        LibLlm4all.C.llm4all_set_log_callback(fn, null);
        logFn = fn;
    }

    // ---- helpers for the package ----------------------------------------------------

    /** Throws the C error for a failed status. The last error is thread-local in C, and a
     *  Java thread stays on one OS thread, so reading it right after the call is safe. */
    static void check(int status) throws Llm4allException {
        if (status != 0) {
            throw new Llm4allException(status, statusName(status), utf8(LibLlm4all.C.llm4all_last_error()));
        }
    }

    /** NUL-terminated UTF-8 bytes of s (null stays null). */
    static byte[] cstr(String s) {
        if (s == null) return null;
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        byte[] z = new byte[b.length + 1];
        System.arraycopy(b, 0, z, 0, b.length);
        return z;
    }

    /** s as NUL-terminated UTF-8 in native memory, for pointers inside structures. */
    static Memory cmem(String s) {
        byte[] z = cstr(s);
        Memory m = new Memory(z.length);
        m.write(0, z, 0, z.length);
        return m;
    }

    static String utf8(Pointer p) { return p == null ? null : p.getString(0, "UTF-8"); }

    /** Copies a library-owned string and frees it. */
    static String take(Pointer p) {
        if (p == null) return "";
        try {
            return utf8(p);
        } finally {
            LibLlm4all.C.llm4all_free(p);
        }
    }

    static String take(Pointer p, long len) { return new String(takeBytes(p, len), StandardCharsets.UTF_8); }

    static byte[] takeBytes(Pointer p, long len) {
        if (p == null) return new byte[0];
        try {
            return p.getByteArray(0, (int) len);
        } finally {
            LibLlm4all.C.llm4all_free(p);
        }
    }

    /** The name of an llm4all_stop_reason, e.g. "max_tokens". */
    static String stopReasonName(int reason) { return utf8(LibLlm4all.C.llm4all_stop_reason_name(reason)); }
}
