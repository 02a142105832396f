// LibLlm4all.java — the JNA mapping of the C ABI (core/include/llm4all/llm4all.h): one Java
// method per C function and one Structure per options/result struct. C bool is one byte, so
// it is a byte in structures and return values. The rest of the package builds the Java API on this.
package llm4all;

import com.sun.jna.Callback;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;

interface LibLlm4all extends Library {
    LibLlm4all C = Native.load("llm4all", LibLlm4all.class);

    interface OnToken extends Callback {
        boolean invoke(Pointer piece, int token, Pointer user);
    }

    interface LogFn extends Callback {
        void invoke(int level, Pointer message, Pointer user);
    }

    // The header's whole struct (appended: LoRA adapters, memory check), as _init writes all of it.
    @Structure.FieldOrder({"size", "device", "n_gpu_layers", "use_mmap", "lora", "n_lora", "skip_memory_check"})
    class ModelOptions extends Structure {
        public int size;
        public Pointer device;
        public int n_gpu_layers;
        public byte use_mmap;
        public Pointer lora;
        public int n_lora;
        public byte skip_memory_check;
    }

    @Structure.FieldOrder({"size", "n_ctx", "n_batch", "n_threads", "kv_type"})
    class SessionOptions extends Structure {
        public int size, n_ctx, n_batch, n_threads, kv_type;
    }

    @Structure.FieldOrder({"size", "temp", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "seed",
            "presence_penalty", "frequency_penalty"})
    class SamplerOptions extends Structure {
        public int size;
        public float temp;
        public int top_k;
        public float top_p, min_p, repeat_penalty;
        public int repeat_last_n;
        public long seed;
        public float presence_penalty, frequency_penalty;
    }

    @Structure.FieldOrder({"size", "max_tokens", "add_special", "parse_special", "stop_at_eog", "sampling", "stop",
            "n_stop"})
    class GenerateOptions extends Structure {
        public int size, max_tokens;
        public byte add_special, parse_special, stop_at_eog;
        public SamplerOptions sampling;
        public Pointer stop;
        public int n_stop;
    }

    @Structure.FieldOrder({"size", "n_prompt_tokens", "n_prompt_decoded", "n_generated", "stop_reason", "prompt_ms",
            "generate_ms"})
    class GenerateResult extends Structure {
        public int size, n_prompt_tokens, n_prompt_decoded, n_generated, stop_reason;
        public double prompt_ms, generate_ms;
    }

    interface OnEmbedBatch extends Callback {
        boolean invoke(Pointer nTokens, long n, Pointer user);
    }

    @Structure.FieldOrder({"size", "n_threads", "normalize", "dimensionality", "prefix", "pooling", "long_text",
            "n_ctx", "on_batch", "user"})
    class EmbedOptions extends Structure {
        public int size, n_threads;
        public byte normalize;
        public int dimensionality;
        public Pointer prefix;
        public int pooling, long_text, n_ctx;
        public OnEmbedBatch on_batch;
        public Pointer user;
    }

    @Structure.FieldOrder({"session", "tokens", "n_tokens", "all_logits"})
    class BatchItem extends Structure {
        public Pointer session, tokens;
        public long n_tokens;
        public byte all_logits;
    }

    @Structure.FieldOrder({"size", "template_src", "system_message", "variables_json", "overflow"})
    class ChatOptions extends Structure {
        public int size;
        public Pointer template_src, system_message, variables_json;
        public int overflow;
    }

    @Structure.FieldOrder({"size", "prompt_tokens", "reused_tokens", "decoded_tokens", "generated_tokens",
            "dropped_messages", "stop_reason", "prompt_ms", "generate_ms"})
    class ChatStats extends Structure {
        public int size, prompt_tokens, reused_tokens, decoded_tokens, generated_tokens, dropped_messages,
                stop_reason;
        public double prompt_ms, generate_ms;
    }

    // status and errors
    Pointer llm4all_last_error();
    Pointer llm4all_status_name(int status);
    int llm4all_abi_version();
    Pointer llm4all_version();
    void llm4all_free(Pointer p);
    void llm4all_set_log_callback(LogFn fn, Pointer user);
    int llm4all_devices_json(PointerByReference out);
    int llm4all_gguf_describe(byte[] path, long maxArray, PointerByReference out);
    int llm4all_gguf_read_tensor_f32(byte[] path, byte[] tensor, PointerByReference out, LongByReference count);

    // model
    void llm4all_model_options_init(ModelOptions o);
    int llm4all_model_load(byte[] path, ModelOptions o, PointerByReference out);
    void llm4all_model_free(Pointer model);
    int llm4all_model_info_json(Pointer model, PointerByReference out);
    int llm4all_model_n_vocab(Pointer model);
    int llm4all_model_n_ctx_train(Pointer model);
    int llm4all_model_token_bos(Pointer model);
    int llm4all_model_token_eos(Pointer model);
    byte llm4all_model_token_is_eog(Pointer model, int token);

    // tokenizer (size_t is pointer-sized on every platform JNA runs this on: long)
    int llm4all_tokenize(Pointer model, byte[] text, long len, boolean addSpecial, boolean parseSpecial,
                         PointerByReference outTokens, LongByReference outN);
    int llm4all_detokenize(Pointer model, int[] tokens, long n, boolean renderSpecial, PointerByReference out,
                           LongByReference outLen);
    int llm4all_token_to_piece(Pointer model, int token, boolean renderSpecial, PointerByReference out,
                               LongByReference outLen);

    // session
    void llm4all_session_options_init(SessionOptions o);
    int llm4all_session_new(Pointer model, SessionOptions o, PointerByReference out);
    void llm4all_session_free(Pointer session);
    int llm4all_session_n_ctx(Pointer session);
    int llm4all_session_n_past(Pointer session);
    int llm4all_session_set_tokens(Pointer session, int[] tokens, long n);
    int llm4all_session_decode(Pointer session, int[] tokens, long n, boolean allLogits);
    int llm4all_session_logits(Pointer session, PointerByReference out, IntByReference rows);
    int llm4all_session_truncate(Pointer session, int nKeep);
    int llm4all_session_score(Pointer session, int[] tokens, long n, long first, float[] outLogprobs, int[] outTop1);
    void llm4all_session_abort(Pointer session);

    int llm4all_decode_batch(BatchItem items, long n);

    // sampling and generation
    int llm4all_sampler_new(SamplerOptions o, PointerByReference out);
    void llm4all_sampler_free(Pointer sampler);
    int llm4all_sampler_sample(Pointer sampler, float[] logits, int nVocab, IntByReference outToken);
    int llm4all_sampler_accept(Pointer sampler, int token);
    void llm4all_sampler_options_init(SamplerOptions o);
    void llm4all_generate_options_init(GenerateOptions o);
    Pointer llm4all_stop_reason_name(int reason);
    int llm4all_session_generate(Pointer session, byte[] prompt, GenerateOptions o, OnToken onToken, Pointer user,
                                 PointerByReference outText, GenerateResult result);

    // chat
    int llm4all_chat_template_render(byte[] template, byte[] contextJson, PointerByReference out, LongByReference len);
    void llm4all_chat_options_init(ChatOptions o);
    int llm4all_chat_new(Pointer session, ChatOptions o, PointerByReference out);
    void llm4all_chat_free(Pointer chat);
    int llm4all_chat_add_message(Pointer chat, byte[] messageJson);
    int llm4all_chat_set_messages(Pointer chat, byte[] messagesJson);
    int llm4all_chat_messages(Pointer chat, PointerByReference out);
    int llm4all_chat_render(Pointer chat, PointerByReference out);
    int llm4all_chat_respond(Pointer chat, GenerateOptions o, OnToken onToken, Pointer user, PointerByReference text,
                             PointerByReference reasoning, ChatStats stats);
    int llm4all_chat_send(Pointer chat, byte[] text, GenerateOptions o, OnToken onToken, Pointer user,
                          PointerByReference outText, PointerByReference reasoning, ChatStats stats);
    int llm4all_chat_reset(Pointer chat);

    // embeddings (size_t arrays as long[])
    int llm4all_model_embedding_dim(Pointer model);
    void llm4all_embed_options_init(EmbedOptions o);
    int llm4all_embed(Pointer model, Pointer texts, long[] textLens, long nTexts, EmbedOptions o,
                      PointerByReference outVectors, IntByReference outDim, LongByReference outNTokens);
    int llm4all_embed_tokens(Pointer model, Pointer tokens, long[] nTokens, long nSeqs, EmbedOptions o,
                             PointerByReference outVectors, IntByReference outDim);
}
