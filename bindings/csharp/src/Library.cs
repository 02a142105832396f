// Library.cs — library-wide calls of the C ABI: version, ABI version, status names, backend
// devices, chat template rendering and GGUF inspection (JSON text, as the C ABI returns it).
using System;
using System.Runtime.InteropServices;

namespace Llm4all
{
    public static class Library
    {
        /// <summary>Version of the loaded library, e.g. "0.1.0".</summary>
        public static string Version { get { return Utf8.Read(Native.llm4all_version()); } }

        /// <summary>LLM4ALL_ABI_VERSION of the loaded library.</summary>
        public static uint AbiVersion { get { return Native.llm4all_abi_version(); } }

        public static string StatusName(int status) { return Utf8.Read(Native.llm4all_status_name(status)); }

        /// <summary>The backend plugins found and their devices, as JSON.</summary>
        public static string DevicesJson()
        {
            IntPtr p;
            Llm4allException.Check(Native.llm4all_devices_json(out p));
            return Utf8.Take(p);
        }

        /// <summary>Renders a Jinja chat template with contextJson (a JSON object of its variables).</summary>
        public static string RenderChatTemplate(string template, string contextJson)
        {
            IntPtr p;
            UIntPtr n;
            Llm4allException.Check(Native.llm4all_chat_template_render(Utf8.Z(template), Utf8.Z(contextJson), out p, out n));
            return Utf8.Decode(Utf8.TakeBytes(p, n));
        }

        static LogC logTrampoline; // kept alive while the library may call it

        /// <summary>Routes the library's log messages to handler(level, message) (0 debug .. 3 error);
        /// null silences them. The handler may run on engine threads. Default: warnings and errors to stderr.</summary>
        public static void SetLogHandler(Action<int, string> handler)
        {
            LogC fn = null;
            if (handler != null)
                fn = (level, message, user) => { try { handler(level, Utf8.Read(message)); } catch (Exception) { } };
            LogC old = logTrampoline;
            logTrampoline = fn;
            Native.llm4all_set_log_callback(logTrampoline, IntPtr.Zero);
            GC.KeepAlive(old);
        }

        /// <summary>One tensor of a GGUF file, dequantized to float32 in file order.</summary>
        public static float[] ReadTensor(string path, string tensorName)
        {
            IntPtr p;
            ulong n;
            Llm4allException.Check(Native.llm4all_gguf_read_tensor_f32(Utf8.Z(path), Utf8.Z(tensorName), out p, out n));
            try
            {
                var values = new float[checked((int)n)];
                if (values.Length > 0) Marshal.Copy(p, values, 0, values.Length);
                return values;
            }
            finally { Native.llm4all_free(p); }
        }

        /// <summary>Metadata and tensor table of a GGUF file as JSON (arrays over maxArray abbreviated).</summary>
        public static string DescribeGguf(string path, ulong maxArray = 64)
        {
            IntPtr p;
            Llm4allException.Check(Native.llm4all_gguf_describe(Utf8.Z(path), maxArray, out p));
            return Utf8.Take(p);
        }
    }
}
