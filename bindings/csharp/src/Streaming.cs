// Streaming.cs — turns a blocking call with a token callback into IEnumerable<string>: the call
// runs on a worker thread and hands pieces over a queue; disposing the enumerator early (break)
// makes the callback return false and aborts the call, then waits for it to return.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace Llm4all
{
    /// <summary>Wraps a user's token callback for the C call: an exception stops generation
    /// (the callback returns false) and is rethrown once the C call has returned.</summary>
    internal sealed class Callback
    {
        internal readonly OnTokenC Native;
        Exception error;

        internal Callback(Func<string, int, bool> onToken)
        {
            if (onToken == null) return;
            Native = (piece, token, user) =>
            {
                try { return onToken(Utf8.Read(piece) ?? "", token); }
                catch (Exception e) { if (error == null) error = e; return false; }
            };
        }

        internal void RethrowIfFailed()
        {
            GC.KeepAlive(Native);
            if (error != null) ExceptionDispatchInfo.Capture(error).Throw();
        }
    }

    internal static class Streaming
    {
        sealed class State
        {
            public volatile bool Stop;
            public Exception Error;
        }

        internal static IEnumerable<string> Run(Action<Func<string, int, bool>> call, Action abort)
        {
            // Bounded, so generation runs at most a couple of pieces ahead of the reader: a
            // consumer that stops reading (break) stops it within a few tokens, not a queue's worth.
            var queue = new BlockingCollection<string>(2);
            var st = new State();
            var worker = new Thread(() =>
            {
                try
                {
                    call((piece, token) =>
                    {
                        if (piece.Length > 0)
                            while (!queue.TryAdd(piece, 20)) // full: wait for the reader, unless it left
                                if (st.Stop) return false;
                        return !st.Stop;
                    });
                }
                catch (Exception e) { st.Error = e; }
                finally { queue.CompleteAdding(); }
            });
            worker.IsBackground = true;
            worker.Name = "llm4all stream";
            worker.Start();
            try
            {
                foreach (string piece in queue.GetConsumingEnumerable()) yield return piece;
                worker.Join();
                if (st.Error != null) ExceptionDispatchInfo.Capture(st.Error).Throw();
            }
            finally
            {
                if (worker.IsAlive)
                {
                    st.Stop = true;
                    abort();
                    worker.Join();
                }
                queue.Dispose();
            }
        }
    }
}
