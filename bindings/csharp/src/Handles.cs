// Handles.cs — SafeHandles for the three native objects. Each frees its object exactly once
// (Dispose or, as a safety net, the finalizer); a child (session of a model, chat of a session)
// holds a reference on its parent's handle, so the parent is freed only after its children.
using System;
using System.Runtime.InteropServices;

namespace Llm4all
{
    internal abstract class ChildHandle : SafeHandle
    {
        SafeHandle parent;
        volatile bool released;

        /// <summary>True once its owner disposed it (the native object may live on for its children).</summary>
        internal bool Released { get { return released || IsClosed; } }

        /// <summary>The owner's Dispose: no more calls through it; frees once the last child has gone.</summary>
        internal void Release()
        {
            released = true;
            Dispose();
        }

        protected ChildHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        /// <summary>Keeps parent's native object alive until this handle is released.</summary>
        internal void HoldParent(SafeHandle p)
        {
            bool added = false;
            p.DangerousAddRef(ref added);
            if (added) parent = p;
        }

        protected abstract void Free(IntPtr h);

        protected override bool ReleaseHandle()
        {
            Free(handle);
            SafeHandle p = parent;
            parent = null;
            if (p != null) p.DangerousRelease();
            return true;
        }
    }

    internal sealed class ModelHandle : ChildHandle
    {
        protected override void Free(IntPtr h) { Native.llm4all_model_free(h); }
    }

    internal sealed class SessionHandle : ChildHandle
    {
        protected override void Free(IntPtr h) { Native.llm4all_session_free(h); }
    }

    internal sealed class SamplerHandle : ChildHandle
    {
        protected override void Free(IntPtr h) { Native.llm4all_sampler_free(h); }
    }

    internal sealed class ChatHandle : ChildHandle
    {
        protected override void Free(IntPtr h) { Native.llm4all_chat_free(h); }
    }
}
