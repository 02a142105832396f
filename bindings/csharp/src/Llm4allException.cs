// Llm4allException.cs — the binding's one exception type: a failed C call's status, its name
// (e.g. "LLM4ALL_ERR_IO") and llm4all_last_error()'s text, read on the thread that failed.
using System;

namespace Llm4all
{
    public class Llm4allException : Exception
    {
        /// <summary>The llm4all_status (&lt; 0).</summary>
        public int Status { get; private set; }

        /// <summary>llm4all_status_name(Status), e.g. "LLM4ALL_ERR_BAD_GGUF".</summary>
        public string Code { get; private set; }

        public Llm4allException(int status, string message) : base(message)
        {
            Status = status;
            Code = Utf8.Read(Native.llm4all_status_name(status));
        }

        /// <summary>Throws for a non-OK status; call right after the C call, on its thread.</summary>
        internal static void Check(int status)
        {
            if (status != 0) throw new Llm4allException(status, Utf8.Read(Native.llm4all_last_error()));
        }
    }
}
