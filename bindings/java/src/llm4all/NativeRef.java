// NativeRef.java — a C object's pointer with a reference count, so that a parent (a model)
// is freed only after every child (its sessions, their chats) has been freed, whichever of
// close() and the Cleaner safety net runs first.
package llm4all;

import com.sun.jna.Pointer;
import java.lang.ref.Cleaner;
import java.util.function.Consumer;

final class NativeRef {
    static final Cleaner CLEANER = Cleaner.create();

    private Pointer ptr;
    private int refs = 1; // the owning Java object's reference
    private final Consumer<Pointer> free;
    private final NativeRef parent;

    NativeRef(Pointer ptr, Consumer<Pointer> free, NativeRef parent) {
        this.ptr = ptr;
        this.free = free;
        this.parent = parent;
        if (parent != null) parent.retain();
    }

    synchronized void retain() { refs++; }

    /** Drops one reference; the last one frees the C object, then releases the parent. */
    void release() {
        boolean freed = false;
        synchronized (this) {
            if (refs > 0 && --refs == 0 && ptr != null) {
                free.accept(ptr);
                ptr = null;
                freed = true;
            }
        }
        if (freed && parent != null) parent.release();
    }

    /** Runs f with the pointer while holding this object's lock, so that it cannot be freed
     *  meanwhile (for quick calls from other threads, such as abort). */
    synchronized void with(Consumer<Pointer> f) {
        if (ptr != null) f.accept(ptr);
    }

    synchronized Pointer get() { return ptr; }
}
