package dev.ferry.agent.runtime;

import dev.ferry.agent.port.Epoll;
import dev.ferry.agent.port.Libc;
import java.util.function.BooleanSupplier;

/**
 * Where the agent's loop sleeps when it has nothing to do: one epoll set over every descriptor the
 * loop polls (the underlay socket, TAP devices) and an eventfd of its own that other threads write
 * to when they post work. A frame arriving on any of them, or a command posted, ends the sleep within
 * microseconds, where a timed park would leave it waiting out the park; an idle agent costs one
 * wake-up per timer tick.
 *
 * <p>Registration and {@link #await} run on the loop's thread; {@link #wake} on any thread.
 * Level-triggered: what the loop leaves unread keeps the next wait from sleeping.
 */
final class Waiter implements AutoCloseable {
    private static final int MAX_EVENTS = 16;

    private final Epoll epoll = new Epoll(MAX_EVENTS);
    private final int eventFd;
    private volatile boolean sleeping;
    /** Guards the eventfd's number between a wake and close: never written once closed (it may be reused). */
    private final Object closing = new Object();
    private boolean closed;
    private long sleeps, wakeups;

    Waiter() {
        try {
            eventFd = Epoll.eventFd();
            epoll.add(eventFd);
        } catch (RuntimeException e) {
            epoll.close();
            throw e;
        }
    }

    /** Wakes the loop for readable data on {@code fd}. Loop's thread. */
    void add(int fd) {
        epoll.add(fd);
    }

    /** Forgets {@code fd}, before it is closed. Loop's thread. */
    void remove(int fd) {
        epoll.remove(fd);
    }

    /**
     * Sleeps until a watched descriptor is readable, {@link #wake} is called, or {@code timeoutMillis}
     * pass; returns at once if {@code stillIdle} says work came while it was getting ready. Loop's thread.
     */
    void await(int timeoutMillis, BooleanSupplier stillIdle) {
        sleeping = true;
        try {
            // A poster that missed sleeping == true put its work where stillIdle looks (volatile order).
            if (!stillIdle.getAsBoolean()) return;
            sleeps++;
            int n = epoll.await(timeoutMillis);
            for (int i = 0; i < n; i++) {
                if (epoll.ready(i) == eventFd) {
                    wakeups++;
                    epoll.drain(eventFd);
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
            if (!closed) Epoll.signal(eventFd);
        }
    }

    /** Times the loop slept, and times a posted command woke it. */
    long sleeps() {
        return sleeps;
    }

    long wakeups() {
        return wakeups;
    }

    @Override
    public void close() {
        synchronized (closing) {
            if (closed) return;
            closed = true;
        }
        Libc.close(eventFd);
        epoll.close();
    }
}
