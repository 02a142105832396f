// Utf8.cs — UTF-8 strings across the C boundary: NUL-terminated byte arrays in, library-owned
// buffers out (copied, then freed with llm4all_free), and native copies for struct fields.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Llm4all
{
    internal static class Utf8
    {
        static readonly UTF8Encoding Encoding = new UTF8Encoding(false, false);

        /// <summary>NUL-terminated UTF-8 bytes of s (null stays null).</summary>
        internal static byte[] Z(string s)
        {
            if (s == null) return null;
            int n = Encoding.GetByteCount(s);
            byte[] b = new byte[n + 1];
            Encoding.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        internal static byte[] Bytes(string s) { return Encoding.GetBytes(s); }

        internal static int Strlen(IntPtr p)
        {
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return n;
        }

        /// <summary>A static or borrowed NUL-terminated string.</summary>
        internal static string Read(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            return Decode(ReadBytes(p, Strlen(p)));
        }

        internal static byte[] ReadBytes(IntPtr p, int n)
        {
            byte[] b = new byte[n];
            if (n > 0) Marshal.Copy(p, b, 0, n);
            return b;
        }

        internal static string Decode(byte[] b) { return Encoding.GetString(b); }

        /// <summary>A library-owned string (out-parameter): copied, then freed.</summary>
        internal static string Take(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            try { return Read(p); } finally { Native.llm4all_free(p); }
        }

        internal static byte[] TakeBytes(IntPtr p, UIntPtr len)
        {
            if (p == IntPtr.Zero) return new byte[0];
            try { return ReadBytes(p, checked((int)len.ToUInt64())); } finally { Native.llm4all_free(p); }
        }
    }

    /// <summary>Native UTF-8 copies of strings for struct fields, freed together on Dispose.</summary>
    internal sealed class NativeStrings : IDisposable
    {
        readonly List<IntPtr> owned = new List<IntPtr>();

        internal IntPtr Add(string s)
        {
            if (s == null) return IntPtr.Zero;
            byte[] b = Utf8.Z(s);
            IntPtr p = Marshal.AllocHGlobal(b.Length);
            owned.Add(p);
            Marshal.Copy(b, 0, p, b.Length);
            return p;
        }

        /// <summary>A native array of pointers to copies of items.</summary>
        internal IntPtr AddArray(IList<string> items)
        {
            IntPtr arr = Marshal.AllocHGlobal(IntPtr.Size * Math.Max(1, items.Count));
            owned.Add(arr);
            for (int i = 0; i < items.Count; i++) Marshal.WriteIntPtr(arr, i * IntPtr.Size, Add(items[i]));
            return arr;
        }

        public void Dispose()
        {
            foreach (IntPtr p in owned) Marshal.FreeHGlobal(p);
            owned.Clear();
        }
    }
}
