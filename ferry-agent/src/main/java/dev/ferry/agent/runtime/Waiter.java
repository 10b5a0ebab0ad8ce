package dev.ferry.agent.runtime;

import dev.ferry.agent.port.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Where the agent's loop sleeps when it has nothing to do: one epoll instance over every file
 * descriptor the loop polls (the underlay socket, TAP devices, vhost-user kick eventfds) and an
 * eventfd of its own that other threads write to when they post work. A frame arriving on any of
 * them, or a command posted, ends the sleep within microseconds, where a timed park would leave it
 * waiting out the park; an idle agent costs one wake-up per timer tick.
 *
 * <p>Registration and {@link #await} run on the loop's thread; {@link #wake} on any thread.
 * Level-triggered: what the loop leaves unread keeps the next wait from sleeping.
 */
final class Waiter implements AutoCloseable {
    private static final int EPOLL_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    private static final int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLLIN = 1;
    private static final int EINTR = 4, EBADF = 9, ENOENT = 2;
    /** struct epoll_event is packed on x86-64: 4 bytes of events, then 8 of data. */
    private static final int EVENT_SIZE = 12, MAX_EVENTS = 16;

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
    private static final MethodHandle READ = Libc.downcall("read",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG), false);
    private static final MethodHandle WRITE = Libc.downcall("write",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG), false);
    /** What {@link #wake} writes, from any thread: global, so closing a waiter never races a wake's use of it. */
    private static final MemorySegment ONE = Arena.global().allocate(ValueLayout.JAVA_LONG);

    static {
        ONE.set(ValueLayout.JAVA_LONG, 0, 1L);
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment callState = arena.allocate(Libc.CALL_STATE);
    private final MemorySegment event = arena.allocate(EVENT_SIZE);
    private final MemorySegment events = arena.allocate((long) EVENT_SIZE * MAX_EVENTS);
    private final MemorySegment counter = arena.allocate(ValueLayout.JAVA_LONG);
    private final int epoll;
    private final int eventFd;
    private volatile boolean sleeping;
    /** Guards the eventfd's number between a wake and close: never written once closed (it may be reused). */
    private final Object closing = new Object();
    private boolean closed;
    private long sleeps, wakeups;

    Waiter() {
        try {
            epoll = (int) EPOLL_CREATE1.invokeExact(callState, EPOLL_CLOEXEC);
            if (epoll < 0) throw failure("epoll_create1");
            eventFd = (int) EVENTFD.invokeExact(callState, 0, EFD_NONBLOCK | EFD_CLOEXEC);
            if (eventFd < 0) throw failure("eventfd");
        } catch (IllegalStateException e) {
            arena.close();
            throw e;
        } catch (Throwable t) {
            arena.close();
            throw new IllegalStateException("the agent loop's epoll: " + t, t);
        }
        add(eventFd);
    }

    /** Wakes the loop for readable data on {@code fd}. Loop's thread. */
    void add(int fd) {
        if (control(EPOLL_CTL_ADD, fd) < 0) throw failure("epoll_ctl(add, fd " + fd + ")");
    }

    /**
     * Forgets {@code fd}; called before it is closed, so a reused number is not watched by mistake
     * (one already closed has left the epoll set by itself, and is ignored). Loop's thread.
     */
    void remove(int fd) {
        if (control(EPOLL_CTL_DEL, fd) < 0) {
            int errno = Libc.errno(callState);
            if (errno != EBADF && errno != ENOENT) throw failure("epoll_ctl(del, fd " + fd + ")");
        }
    }

    private int control(int op, int fd) {
        event.set(ValueLayout.JAVA_INT, 0, EPOLLIN);
        event.set(ValueLayout.JAVA_LONG_UNALIGNED, 4, fd);
        int rc;
        try {
            rc = (int) EPOLL_CTL.invokeExact(callState, epoll, op, fd, event);
        } catch (Throwable t) {
            throw new IllegalStateException("epoll_ctl: " + t, t);
        }
        return rc;
    }

    /**
     * Sleeps until a watched descriptor is readable, {@link #wake} is called, or {@code timeoutMillis}
     * pass; returns at once if {@code stillIdle} says work came while it was getting ready. Loop's thread.
     */
    void await(int timeoutMillis, java.util.function.BooleanSupplier stillIdle) {
        sleeping = true;
        try {
            // A poster that missed sleeping == true put its work where stillIdle looks (volatile order).
            if (!stillIdle.getAsBoolean()) return;
            sleeps++;
            int n;
            try {
                n = (int) EPOLL_WAIT.invokeExact(callState, epoll, events, MAX_EVENTS, timeoutMillis);
            } catch (Throwable t) {
                throw new IllegalStateException("epoll_wait: " + t, t);
            }
            if (n < 0 && Libc.errno(callState) != EINTR) throw failure("epoll_wait");
            for (int i = 0; i < n; i++) {
                if ((int) events.get(ValueLayout.JAVA_LONG_UNALIGNED, (long) i * EVENT_SIZE + 4) == eventFd) {
                    wakeups++;
                    try {
                        long ignored = (long) READ.invokeExact(eventFd, counter, 8L);
                    } catch (Throwable t) {
                        throw new IllegalStateException("reading the loop's eventfd: " + t, t);
                    }
                }
            }
        } finally {
            sleeping = false;
        }
    }

    /** Ends the loop's sleep, if it sleeps; any thread, after its work is where the loop looks. */
    void wake() {
        if (!sleeping) return;
        // Only a sleeping loop is woken, so this lock is taken when the agent is idle, never per frame.
        synchronized (closing) {
            if (closed) return;
            try {
                long ignored = (long) WRITE.invokeExact(eventFd, ONE, 8L);
            } catch (Throwable t) {
                // The loop wakes by its timeout at worst.
            }
        }
    }

    /** Times the loop slept, and times a posted command woke it. */
    long sleeps() {
        return sleeps;
    }

    long wakeups() {
        return wakeups;
    }

    private IllegalStateException failure(String call) {
        return new IllegalStateException(call + " failed: " + Libc.strerror(Libc.errno(callState)));
    }

    @Override
    public void close() {
        synchronized (closing) {
            if (closed) return;
            closed = true;
        }
        Libc.close(eventFd);
        Libc.close(epoll);
        arena.close();
    }
}
