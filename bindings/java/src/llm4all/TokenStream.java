// TokenStream.java — a generation as an Iterator<String> of pieces (or a Stream<String>):
// the C call runs on a background thread and hands pieces over through a bounded queue
// (generation waits for a slow reader instead of running ahead); close()
// (or try-with-resources, or closing the Stream) aborts it and waits for it to end.
package llm4all;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

public final class TokenStream implements Iterator<String>, AutoCloseable {
    /** A failed generation while iterating: the cause is the Llm4allException with the C message. */
    public static final class GenerationException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        GenerationException(Llm4allException cause) { super(cause.getMessage(), cause); }
        @Override public synchronized Llm4allException getCause() { return (Llm4allException) super.getCause(); }
    }

    private static final Object END = new Object();
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>(64);
    private final Session session;
    private final Thread worker;
    private volatile boolean closed;
    private volatile GenerateResult result;
    private volatile Throwable failure;
    private Object next;

    TokenStream(Session session, String prompt, GenerateOptions opts) {
        this.session = session;
        worker = new Thread(() -> {
            try {
                result = session.generate(prompt, opts, piece -> {
                    if (closed) return false;
                    try {
                        queue.put(piece);
                    } catch (InterruptedException e) {
                        return false;
                    }
                    return !closed;
                });
            } catch (Throwable t) {
                failure = t;
            } finally {
                try {
                    queue.put(END);
                } catch (InterruptedException e) {
                    // only close() interrupts, and it no longer reads the queue
                }
            }
        }, "llm4all-stream");
        worker.setDaemon(true);
        worker.start();
    }

    @Override
    public boolean hasNext() {
        if (closed) return false;
        if (next == null) {
            try {
                next = queue.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                next = END;
            }
        }
        if (next == END) {
            Throwable f = failure;
            failure = null;
            if (f instanceof Llm4allException) throw new GenerationException((Llm4allException) f);
            if (f instanceof RuntimeException) throw (RuntimeException) f;
            if (f instanceof Error) throw (Error) f;
            return false;
        }
        return true;
    }

    @Override
    public String next() {
        if (!hasNext()) throw new NoSuchElementException();
        String s = (String) next;
        next = null;
        return s;
    }

    /** The pieces as a Stream; closing the Stream closes this. */
    public Stream<String> stream() {
        return StreamSupport.stream(Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED), false)
                .onClose(this::close);
    }

    /** Why and how generation ended; null until the iteration is over. */
    public GenerateResult result() { return result; }

    /** Stops the generation if it still runs and waits for it to end. */
    @Override
    public void close() {
        closed = true;
        if (worker.isAlive()) session.abort();
        boolean interrupted = false;
        while (worker.isAlive()) {
            queue.clear(); // lets a worker blocked on a full queue see the close
            try {
                worker.join(10);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
