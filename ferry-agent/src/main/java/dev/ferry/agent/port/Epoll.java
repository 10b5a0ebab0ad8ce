package dev.ferry.agent.port;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * An epoll set and eventfds through the JDK's foreign function API: what the agent's loop sleeps
 * on. Level-triggered. Public for the runtime and port packages; not an API of Ferry. One thread
 * uses a set ({@link #signal} excepted), so the set's buffers need no lock.
 */
public final class Epoll implements AutoCloseable {
    private static final int EPOLL_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLLIN = 1, EPOLLET = 1 << 31;
    private static final int EINTR = 4, EBADF = 9, ENOENT = 2;
    /** struct epoll_event is packed on x86-64: 4 bytes of events, then 8 of data (here the descriptor). */
    private static final int EVENT_SIZE = 12;

    private static final MethodHandle EPOLL_CREATE1 = Libc.downcall("epoll_create1",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), true);
    private static final MethodHandle EPOLL_CTL = Libc.downcall("epoll_ctl",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS), true);
    private static final MethodHandle EPOLL_WAIT = Libc.downcall("epoll_wait",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT), true);
    private static final MethodHandle EVENTFD = Libc.downcall("eventfd",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), true);

    private final Arena arena = Arena.ofShared();
    private final MemorySegment callState = arena.allocate(Libc.CALL_STATE);
    private final MemorySegment event = arena.allocate(EVENT_SIZE);
    private final MemorySegment events;
    private final MemorySegment counter = arena.allocate(ValueLayout.JAVA_LONG);
    private final int maxEvents;
    private final int fd;

    /** A new epoll set reporting up to {@code maxEvents} ready descriptors per wait. */
    public Epoll(int maxEvents) {
        this.maxEvents = maxEvents;
        this.events = arena.allocate((long) EVENT_SIZE * maxEvents);
        int f;
        try {
            f = (int) EPOLL_CREATE1.invokeExact(callState, EPOLL_CLOEXEC);
        } catch (Throwable t) {
            arena.close();
            throw new IllegalStateException("epoll_create1: " + t, t);
        }
        if (f < 0) {
            IllegalStateException e = failure("epoll_create1");
            arena.close();
            throw e;
        }
        this.fd = f;
    }

    /** Watches {@code target} for readable data. */
    public void add(int target) {
        if (control(EPOLL_CTL_ADD, target, EPOLLIN) < 0) throw failure("epoll_ctl(add, fd " + target + ")");
    }

    /**
     * Watches {@code target} for new data only: each write to it makes the set ready once, until the
     * next {@link #await} on this set. For descriptors the set's owner never reads (a guest's kick
     * eventfd, owned by another thread that may close it at any time).
     */
    public void addEdgeTriggered(int target) {
        if (control(EPOLL_CTL_ADD, target, EPOLLIN | EPOLLET) < 0) throw failure("epoll_ctl(add, fd " + target + ", edge)");
    }

    /** The set's own descriptor: readable while something in it is ready, so one set can sleep on another. */
    public int fd() {
        return fd;
    }

    /**
     * Stops watching {@code target}; called before it is closed, so a reused number is not watched by
     * mistake (one already closed has left the set by itself, and is ignored).
     */
    public void remove(int target) {
        if (control(EPOLL_CTL_DEL, target, 0) < 0) {
            int errno = Libc.errno(callState);
            if (errno != EBADF && errno != ENOENT) throw failure("epoll_ctl(del, fd " + target + ")");
        }
    }

    private int control(int op, int target, int events) {
        event.set(ValueLayout.JAVA_INT, 0, events);
        event.set(ValueLayout.JAVA_LONG_UNALIGNED, 4, target);
        try {
            return (int) EPOLL_CTL.invokeExact(callState, fd, op, target, event);
        } catch (Throwable t) {
            throw new IllegalStateException("epoll_ctl: " + t, t);
        }
    }

    /** Waits up to {@code timeoutMillis} (0: not at all) for ready descriptors; how many, see {@link #ready}. */
    public int await(int timeoutMillis) {
        int n;
        try {
            n = (int) EPOLL_WAIT.invokeExact(callState, fd, events, maxEvents, timeoutMillis);
        } catch (Throwable t) {
            throw new IllegalStateException("epoll_wait: " + t, t);
        }
        if (n < 0) {
            if (Libc.errno(callState) == EINTR) return 0;
            throw failure("epoll_wait");
        }
        return n;
    }

    /** The {@code i}th descriptor the last {@link #await} found ready. */
    public int ready(int i) {
        return (int) events.get(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * EVENT_SIZE + 4);
    }

    /** Reads an eventfd's counter back to zero; on a blocking one, call only when it is readable (it would wait). */
    public void drain(int eventFd) {
        try {
            long ignored = (long) Libc.READ.invokeExact(callState, eventFd, counter, 8L);
        } catch (Throwable t) {
            throw new IllegalStateException("reading eventfd " + eventFd + ": " + t, t);
        }
    }

    /** A new non-blocking eventfd; its owner closes it ({@link Libc#close}). */
    public static int eventFd() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Libc.CALL_STATE);
            int f = (int) EVENTFD.invokeExact(state, 0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (f < 0) throw new IllegalStateException("eventfd failed: " + Libc.strerror(Libc.errno(state)));
            return f;
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("eventfd: " + t, t);
        }
    }

    /** Makes eventfd {@code eventFd} readable; any thread. Best effort: a failed write only delays its reader. */
    public static void signal(int eventFd) {
        try {
            long ignored = (long) Libc.WRITE.invokeExact(eventFd, Libc.ONE, 8L);
        } catch (Throwable t) {
            // The reader's own timeout or poll comes round anyway.
        }
    }

    private IllegalStateException failure(String call) {
        return new IllegalStateException(call + " failed: " + Libc.strerror(Libc.errno(callState)));
    }

    @Override
    public void close() {
        Libc.close(fd);
        arena.close();
    }
}
