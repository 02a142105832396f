// Chat.cs — a Chat: a conversation over a Session (llm4all_chat), rendered with the model's chat
// template (or one given). Messages cross as JSON text, as in the C ABI; replies append
// themselves to the conversation. Calls take the session's lock.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Llm4all
{
    public enum ChatOverflow { DropOldest = 0, Error = 1 }

    public sealed class ChatOptions
    {
        /// <summary>Jinja chat template; null = the model's tokenizer.chat_template.</summary>
        public string Template;
        /// <summary>A first message with role "system"; null = none.</summary>
        public string SystemMessage;
        /// <summary>Extra template variables as a JSON object, e.g. {"enable_thinking":false}.</summary>
        public string VariablesJson;
        public ChatOverflow? Overflow;
    }

    public sealed class Chat : IDisposable
    {
        readonly ChatHandle handle;

        public Session Session { get; private set; }
        /// <summary>Reasoning (&lt;think&gt;...&lt;/think&gt;) of the last reply, "" when none.</summary>
        public string LastReasoning { get; private set; }
        public GenerateStats LastStats { get; private set; }

        Chat(Session session, ChatHandle h)
        {
            Session = session;
            handle = h;
            LastReasoning = "";
        }

        internal static Chat Create(Session session, ChatOptions options)
        {
            using (var strings = new NativeStrings())
            {
                ChatOptionsC c;
                Native.llm4all_chat_options_init(out c);
                if (options.Template != null) c.template_src = strings.Add(options.Template);
                if (options.SystemMessage != null) c.system_message = strings.Add(options.SystemMessage);
                if (options.VariablesJson != null) c.variables_json = strings.Add(options.VariablesJson);
                if (options.Overflow.HasValue) c.overflow = (int)options.Overflow.Value;
                ChatHandle h;
                lock (session.Gate) Llm4allException.Check(Native.llm4all_chat_new(session.Live, ref c, out h));
                h.HoldParent(session.Handle);
                return new Chat(session, h);
            }
        }

        ChatHandle Live
        {
            get
            {
                if (handle.Released) throw new ObjectDisposedException("Chat");
                return handle;
            }
        }

        /// <summary>Appends {"role": role, "content": content}.</summary>
        public void AddMessage(string role, string content)
        {
            AddMessageJson("{\"role\":" + Json.Quote(role) + ",\"content\":" + Json.Quote(content) + "}");
        }

        /// <summary>Appends one message given as a JSON object (every field reaches the template).</summary>
        public void AddMessageJson(string messageJson)
        {
            lock (Session.Gate) Llm4allException.Check(Native.llm4all_chat_add_message(Live, Utf8.Z(messageJson)));
        }

        /// <summary>Replaces the conversation with a JSON array of messages (the system message too).</summary>
        public void SetMessagesJson(string messagesJson)
        {
            lock (Session.Gate) Llm4allException.Check(Native.llm4all_chat_set_messages(Live, Utf8.Z(messagesJson)));
        }

        /// <summary>The conversation as a JSON array of message objects.</summary>
        public string MessagesJson()
        {
            IntPtr p;
            lock (Session.Gate) Llm4allException.Check(Native.llm4all_chat_messages(Live, out p));
            return Utf8.Take(p);
        }

        /// <summary>The conversation rendered as the next reply's prompt.</summary>
        public string Render()
        {
            IntPtr p;
            lock (Session.Gate) Llm4allException.Check(Native.llm4all_chat_render(Live, out p));
            return Utf8.Take(p);
        }

        /// <summary>Forgets every message but the system message (the KV cache stays for reuse).</summary>
        public void Reset()
        {
            lock (Session.Gate) Llm4allException.Check(Native.llm4all_chat_reset(Live));
        }

        /// <summary>Sends a user message and returns the reply (without reasoning).</summary>
        public string Send(string text, GenerateOptions options = null, Func<string, int, bool> onToken = null)
        {
            if (text == null) throw new ArgumentNullException("text");
            return Call(text, options, onToken);
        }

        /// <summary>The reply to the conversation as it stands (e.g. after a tool message).</summary>
        public string Respond(GenerateOptions options = null, Func<string, int, bool> onToken = null)
        {
            return Call(null, options, onToken);
        }

        /// <summary>Send, piece by piece (reasoning included); leaving the loop early stops it.</summary>
        public IEnumerable<string> SendStream(string text, GenerateOptions options = null)
        {
            return Streaming.Run(onToken => Send(text, options, onToken), Session.Abort);
        }

        public IEnumerable<string> RespondStream(GenerateOptions options = null)
        {
            return Streaming.Run(onToken => Respond(options, onToken), Session.Abort);
        }

        string Call(string text, GenerateOptions options, Func<string, int, bool> onToken)
        {
            ChatHandle h = Live;
            using (var strings = new NativeStrings())
            {
                GenerateOptionsC o = (options ?? new GenerateOptions()).ToNative(strings);
                var cb = new Callback(onToken);
                var stats = new ChatStatsC { size = (uint)Marshal.SizeOf(typeof(ChatStatsC)) };
                IntPtr answer, reasoning;
                int status;
                string message = null;
                lock (Session.Gate)
                {
                    status = text == null
                        ? Native.llm4all_chat_respond(h, ref o, cb.Native, IntPtr.Zero, out answer, out reasoning, ref stats)
                        : Native.llm4all_chat_send(h, Utf8.Z(text), ref o, cb.Native, IntPtr.Zero, out answer, out reasoning, ref stats);
                    if (status != 0) message = Utf8.Read(Native.llm4all_last_error());
                }
                string a = Utf8.Take(answer), r = Utf8.Take(reasoning);
                cb.RethrowIfFailed();
                if (status != 0) throw new Llm4allException(status, message);
                LastReasoning = r;
                LastStats = GenerateStats.From(stats);
                Session.LastStats = LastStats;
                return a;
            }
        }

        public void Dispose()
        {
            handle.Release();
        }
    }

    /// <summary>JSON string quoting for the messages the binding builds itself.</summary>
    internal static class Json
    {
        internal static string Quote(string s)
        {
            if (s == null) return "null";
            var b = new System.Text.StringBuilder(s.Length + 2);
            b.Append('"');
            foreach (char ch in s)
            {
                switch (ch)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (ch < 0x20) b.Append("\\u").Append(((int)ch).ToString("x4"));
                        else b.Append(ch);
                        break;
                }
            }
            return b.Append('"').ToString();
        }
    }
}
