// Native.cs — the P/Invoke declarations of llm4all.h, one per C function (EntryPoint = the C
// name), and the C structs with the header's field order. Strings cross as UTF-8 bytes
// (netstandard2.0 has no UTF-8 string marshalling); C bool is one byte.
using System;
using System.Runtime.InteropServices;

namespace Llm4all
{
    [StructLayout(LayoutKind.Sequential)]
    internal struct ModelOptionsC
    {
        public uint size; public IntPtr device; public int n_gpu_layers; public byte use_mmap;
        // Appended fields (LoRA adapters, memory check): the header's whole struct, since
        // llm4all_model_options_init writes all of it.
        public IntPtr lora; public int n_lora; public byte skip_memory_check;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct SessionOptionsC
    {
        public uint size; public int n_ctx; public int n_batch; public int n_threads; public int kv_type;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct SamplerOptionsC
    {
        public uint size; public float temp; public int top_k; public float top_p; public float min_p;
        public float repeat_penalty; public int repeat_last_n; public ulong seed;
        public float presence_penalty; public float frequency_penalty;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GenerateOptionsC
    {
        public uint size; public int max_tokens; public byte add_special; public byte parse_special;
        public byte stop_at_eog; public SamplerOptionsC sampling; public IntPtr stop; public int n_stop;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct GenerateResultC
    {
        public uint size; public int n_prompt_tokens; public int n_prompt_decoded; public int n_generated;
        public int stop_reason; public double prompt_ms; public double generate_ms;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ChatOptionsC
    {
        public uint size; public IntPtr template_src; public IntPtr system_message; public IntPtr variables_json;
        public int overflow;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ChatStatsC
    {
        public uint size; public int prompt_tokens; public int reused_tokens; public int decoded_tokens;
        public int generated_tokens; public int dropped_messages; public int stop_reason;
        public double prompt_ms; public double generate_ms;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct BatchItemC
    {
        public IntPtr session; public IntPtr tokens; public UIntPtr n_tokens; public byte all_logits;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct EmbedOptionsC
    {
        public uint size; public int n_threads; public byte normalize; public int dimensionality; public IntPtr prefix;
        public int pooling; public int long_text; public int n_ctx; public OnEmbedBatchC on_batch; public IntPtr user;
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.I1)]
    internal delegate bool OnEmbedBatchC(IntPtr n_tokens, UIntPtr n, IntPtr user);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void LogC(int level, IntPtr message, IntPtr user);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.I1)]
    internal delegate bool OnTokenC(IntPtr piece, int token, IntPtr user);

    internal static class Native
    {
        // Found by the runtime's native library search: LD_LIBRARY_PATH (the scripts set it to
        // $LLM4ALL_LIB_DIR), the application directory, then the system's library paths.
        const string Lib = "llm4all";

        // status and errors
        [DllImport(Lib, EntryPoint = "llm4all_last_error")] internal static extern IntPtr llm4all_last_error();
        [DllImport(Lib, EntryPoint = "llm4all_status_name")] internal static extern IntPtr llm4all_status_name(int status);
        [DllImport(Lib, EntryPoint = "llm4all_abi_version")] internal static extern uint llm4all_abi_version();
        [DllImport(Lib, EntryPoint = "llm4all_version")] internal static extern IntPtr llm4all_version();
        [DllImport(Lib, EntryPoint = "llm4all_free")] internal static extern void llm4all_free(IntPtr ptr);

        // backends and files
        [DllImport(Lib, EntryPoint = "llm4all_devices_json")] internal static extern int llm4all_devices_json(out IntPtr json);
        [DllImport(Lib, EntryPoint = "llm4all_gguf_describe")]
        internal static extern int llm4all_gguf_describe(byte[] path, ulong max_array, out IntPtr json);

        // model
        [DllImport(Lib, EntryPoint = "llm4all_model_options_init")] internal static extern void llm4all_model_options_init(out ModelOptionsC o);
        [DllImport(Lib, EntryPoint = "llm4all_model_load")]
        internal static extern int llm4all_model_load(byte[] path, ref ModelOptionsC options, out ModelHandle model);
        [DllImport(Lib, EntryPoint = "llm4all_model_free")] internal static extern void llm4all_model_free(IntPtr model);
        [DllImport(Lib, EntryPoint = "llm4all_model_info_json")] internal static extern int llm4all_model_info_json(ModelHandle model, out IntPtr json);
        [DllImport(Lib, EntryPoint = "llm4all_model_n_vocab")] internal static extern int llm4all_model_n_vocab(ModelHandle model);
        [DllImport(Lib, EntryPoint = "llm4all_model_n_ctx_train")] internal static extern int llm4all_model_n_ctx_train(ModelHandle model);
        [DllImport(Lib, EntryPoint = "llm4all_model_token_bos")] internal static extern int llm4all_model_token_bos(ModelHandle model);
        [DllImport(Lib, EntryPoint = "llm4all_model_token_eos")] internal static extern int llm4all_model_token_eos(ModelHandle model);
        [DllImport(Lib, EntryPoint = "llm4all_model_token_is_eog")]
        [return: MarshalAs(UnmanagedType.I1)]
        internal static extern bool llm4all_model_token_is_eog(ModelHandle model, int token);

        // tokenizer
        [DllImport(Lib, EntryPoint = "llm4all_tokenize")]
        internal static extern int llm4all_tokenize(ModelHandle model, byte[] text, UIntPtr len, [MarshalAs(UnmanagedType.I1)] bool add_special,
                                                    [MarshalAs(UnmanagedType.I1)] bool parse_special, out IntPtr tokens, out UIntPtr n_tokens);
        [DllImport(Lib, EntryPoint = "llm4all_detokenize")]
        internal static extern int llm4all_detokenize(ModelHandle model, int[] tokens, UIntPtr n_tokens, [MarshalAs(UnmanagedType.I1)] bool render_special,
                                                      out IntPtr text, out UIntPtr len);
        [DllImport(Lib, EntryPoint = "llm4all_token_to_piece")]
        internal static extern int llm4all_token_to_piece(ModelHandle model, int token, [MarshalAs(UnmanagedType.I1)] bool render_special,
                                                          out IntPtr piece, out UIntPtr len);

        // session
        [DllImport(Lib, EntryPoint = "llm4all_session_options_init")] internal static extern void llm4all_session_options_init(out SessionOptionsC o);
        [DllImport(Lib, EntryPoint = "llm4all_session_new")]
        internal static extern int llm4all_session_new(ModelHandle model, ref SessionOptionsC options, out SessionHandle session);
        [DllImport(Lib, EntryPoint = "llm4all_session_free")] internal static extern void llm4all_session_free(IntPtr session);
        [DllImport(Lib, EntryPoint = "llm4all_session_n_ctx")] internal static extern int llm4all_session_n_ctx(SessionHandle session);
        [DllImport(Lib, EntryPoint = "llm4all_session_n_past")] internal static extern int llm4all_session_n_past(SessionHandle session);
        [DllImport(Lib, EntryPoint = "llm4all_session_truncate")] internal static extern int llm4all_session_truncate(SessionHandle session, int n_keep);
        [DllImport(Lib, EntryPoint = "llm4all_session_abort")] internal static extern void llm4all_session_abort(SessionHandle session);
        [DllImport(Lib, EntryPoint = "llm4all_session_set_tokens")]
        internal static extern int llm4all_session_set_tokens(SessionHandle session, int[] tokens, UIntPtr n_tokens);
        [DllImport(Lib, EntryPoint = "llm4all_session_decode")]
        internal static extern int llm4all_session_decode(SessionHandle session, int[] tokens, UIntPtr n_tokens, [MarshalAs(UnmanagedType.I1)] bool all_logits);
        [DllImport(Lib, EntryPoint = "llm4all_session_logits")]
        internal static extern int llm4all_session_logits(SessionHandle session, out IntPtr logits, out int rows);
        [DllImport(Lib, EntryPoint = "llm4all_session_score")]
        internal static extern int llm4all_session_score(SessionHandle session, int[] tokens, UIntPtr n_tokens, UIntPtr first,
                                                         [Out] float[] out_logprobs, [Out] int[] out_top1);

        // several sequences at once
        [DllImport(Lib, EntryPoint = "llm4all_decode_batch")]
        internal static extern int llm4all_decode_batch([In] BatchItemC[] items, UIntPtr n_items);

        // sampler
        [DllImport(Lib, EntryPoint = "llm4all_sampler_new")]
        internal static extern int llm4all_sampler_new(ref SamplerOptionsC options, out SamplerHandle sampler);
        [DllImport(Lib, EntryPoint = "llm4all_sampler_free")] internal static extern void llm4all_sampler_free(IntPtr sampler);
        [DllImport(Lib, EntryPoint = "llm4all_sampler_sample")]
        internal static extern int llm4all_sampler_sample(SamplerHandle sampler, float[] logits, int n_vocab, out int token);
        [DllImport(Lib, EntryPoint = "llm4all_sampler_accept")] internal static extern int llm4all_sampler_accept(SamplerHandle sampler, int token);

        // embeddings
        [DllImport(Lib, EntryPoint = "llm4all_model_embedding_dim")] internal static extern int llm4all_model_embedding_dim(ModelHandle model);
        [DllImport(Lib, EntryPoint = "llm4all_embed_options_init")] internal static extern void llm4all_embed_options_init(out EmbedOptionsC o);
        [DllImport(Lib, EntryPoint = "llm4all_embed")]
        internal static extern int llm4all_embed(ModelHandle model, IntPtr texts, UIntPtr[] text_lens, UIntPtr n_texts, ref EmbedOptionsC options,
                                                 out IntPtr vectors, out int dim, out ulong n_tokens);
        [DllImport(Lib, EntryPoint = "llm4all_embed_tokens")]
        internal static extern int llm4all_embed_tokens(ModelHandle model, IntPtr[] tokens, UIntPtr[] n_tokens, UIntPtr n_seqs, ref EmbedOptionsC options,
                                                        out IntPtr vectors, out int dim);

        // logging and GGUF tensors
        [DllImport(Lib, EntryPoint = "llm4all_set_log_callback")] internal static extern void llm4all_set_log_callback(LogC fn, IntPtr user);
        [DllImport(Lib, EntryPoint = "llm4all_gguf_read_tensor_f32")]
        internal static extern int llm4all_gguf_read_tensor_f32(byte[] path, byte[] tensor_name, out IntPtr values, out ulong count);

        // generation
        [DllImport(Lib, EntryPoint = "llm4all_sampler_options_init")] internal static extern void llm4all_sampler_options_init(out SamplerOptionsC o);
        [DllImport(Lib, EntryPoint = "llm4all_generate_options_init")] internal static extern void llm4all_generate_options_init(out GenerateOptionsC o);
        [DllImport(Lib, EntryPoint = "llm4all_stop_reason_name")] internal static extern IntPtr llm4all_stop_reason_name(int reason);
        [DllImport(Lib, EntryPoint = "llm4all_session_generate")]
        internal static extern int llm4all_session_generate(SessionHandle session, byte[] prompt, ref GenerateOptionsC options, OnTokenC on_token,
                                                            IntPtr user, out IntPtr text, ref GenerateResultC result);

        // chat
        [DllImport(Lib, EntryPoint = "llm4all_chat_template_render")]
        internal static extern int llm4all_chat_template_render(byte[] template_src, byte[] context_json, out IntPtr text, out UIntPtr len);
        [DllImport(Lib, EntryPoint = "llm4all_chat_options_init")] internal static extern void llm4all_chat_options_init(out ChatOptionsC o);
        [DllImport(Lib, EntryPoint = "llm4all_chat_new")]
        internal static extern int llm4all_chat_new(SessionHandle session, ref ChatOptionsC options, out ChatHandle chat);
        [DllImport(Lib, EntryPoint = "llm4all_chat_free")] internal static extern void llm4all_chat_free(IntPtr chat);
        [DllImport(Lib, EntryPoint = "llm4all_chat_add_message")] internal static extern int llm4all_chat_add_message(ChatHandle chat, byte[] message_json);
        [DllImport(Lib, EntryPoint = "llm4all_chat_set_messages")] internal static extern int llm4all_chat_set_messages(ChatHandle chat, byte[] messages_json);
        [DllImport(Lib, EntryPoint = "llm4all_chat_messages")] internal static extern int llm4all_chat_messages(ChatHandle chat, out IntPtr json);
        [DllImport(Lib, EntryPoint = "llm4all_chat_render")] internal static extern int llm4all_chat_render(ChatHandle chat, out IntPtr text);
        [DllImport(Lib, EntryPoint = "llm4all_chat_respond")]
        internal static extern int llm4all_chat_respond(ChatHandle chat, ref GenerateOptionsC options, OnTokenC on_token, IntPtr user,
                                                        out IntPtr text, out IntPtr reasoning, ref ChatStatsC stats);
        [DllImport(Lib, EntryPoint = "llm4all_chat_send")]
        internal static extern int llm4all_chat_send(ChatHandle chat, byte[] text, ref GenerateOptionsC options, OnTokenC on_token, IntPtr user,
                                                     out IntPtr answer, out IntPtr reasoning, ref ChatStatsC stats);
        [DllImport(Lib, EntryPoint = "llm4all_chat_reset")] internal static extern int llm4all_chat_reset(ChatHandle chat);
    }
}
