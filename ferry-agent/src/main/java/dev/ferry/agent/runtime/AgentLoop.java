package dev.ferry.agent.runtime;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.port.PolledPort;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.agrona.concurrent.BackoffIdleStrategy;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.ManyToOneConcurrentArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one thread that owns an {@link Agent}, after Aeron's {@code Receiver}: each turn of
 * {@link #doWork} first runs the commands other threads posted (board answers, port frames,
 * detector events), then drains the underlay socket, then runs the agent's timers. Nothing else
 * touches the agent, so the agent needs no lock.
 *
 * <p>With nothing to do, the loop spins for {@link #SPIN_NANOS} (a frame that follows closely is met
 * at once), then sleeps in a {@link Waiter} on the underlay socket, the ports' descriptors and its
 * command queue, until one of them has something or the next timer tick (a vhost-user port asks its
 * guest to kick before, {@link PolledPort#readyToSleep}). While a port that can only be polled is
 * plugged (a QEMU socket port, or the underlay is NIO's), it parks for growing times up to 200 us instead.
 */
public final class AgentLoop implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AgentLoop.class);
    private static final long TICK_NANOS = 1_000_000;
    /**
     * How long the loop keeps spinning after its last work before it sleeps. Short: on a host with
     * few cores a spinning agent takes the core its VMs and the kernel need (measured with ferry bench
     * tap on 2 vCPUs: 10 us beat 50 us and 500 us for ping at rest and at 5 ms spacing).
     */
    static final long SPIN_NANOS = 10_000;

    private final UnderlaySocket socket;
    private final ManyToOneConcurrentArrayQueue<BiConsumer<Agent, Long>> commands = new ManyToOneConcurrentArrayQueue<>(1 << 16);
    private final IdleStrategy park = new BackoffIdleStrategy(100, 10, 1_000, 200_000);
    private final Waiter waiter;
    /** Sources the waiter cannot watch (ports without a descriptor, a NIO underlay): while any, the loop parks. */
    private int unwatched;
    private long lastWork;
    private final java.util.function.BooleanSupplier noCommands = commands::isEmpty;
    private final List<Polled> polled = new ArrayList<>();
    private final Thread thread;
    private final int nice;
    private volatile Agent agent;
    private volatile HostDirectory hosts;
    private volatile boolean running = true;
    private long lastTick;
    private long commandsDropped;
    private volatile long errors;
    private volatile long portsFaulted;
    private long lastErrorLog;

    /**
     * Binds the underlay socket; the agent is given by {@link #start}, once its underlay exists. The
     * loop's thread runs at nice value {@code nice} ({@link LoopPriority}), or as it inherited with
     * {@link LoopPriority#INHERIT}.
     */
    public AgentLoop(InetSocketAddress bind, UnderlaySocket.Transport transport, String name, int nice) throws IOException {
        this.nice = nice;
        socket = UnderlaySocket.open(bind, transport);
        try {
            waiter = new Waiter();
        } catch (RuntimeException e) {
            socket.close();
            throw e;
        }
        watch(socket.readableFd());
        thread = new Thread(this::run, name);
        thread.setDaemon(true);
    }

    /** Binds the underlay socket with the best transport this machine has; the thread's priority as inherited. */
    public AgentLoop(InetSocketAddress bind, String name) throws IOException {
        this(bind, UnderlaySocket.Transport.AUTO, name, LoopPriority.INHERIT);
    }

    public InetSocketAddress localAddress() {
        return socket.localAddress();
    }

    public UnderlaySocket socket() {
        return socket;
    }

    /** Runs {@code agent}; a datagram's sender is the host {@code hosts} has at its source endpoint. */
    public void start(Agent agent, HostDirectory hosts) {
        this.agent = agent;
        this.hosts = hosts;
        post((a, now) -> a.start(now));
        thread.start();
    }

    /** Runs {@code command} on the agent's thread. Never blocks; a full queue is logged and counted. */
    public void post(BiConsumer<Agent, Long> command) {
        if (!commands.offer(command)) {
            commandsDropped++;
            log.warn("agent loop {}: command queue full, a command was dropped", thread.getName());
            return;
        }
        waiter.wake();
    }

    /** Plugs a running VM's port into the agent (attached active) and polls it on every turn. */
    public void addPort(PolledPort port) {
        post((agent, now) -> poll(port, agent.addPort(port, now)));
    }

    /**
     * Polls a port the agent already has a handle for (e.g. a standby copy plugged by a migration
     * event). Runs on the loop's thread only.
     */
    public void poll(PolledPort port, LocalPort handle) {
        polled.add(new Polled(port, handle));
        watch(port.readableFd());
    }

    /** Stops polling {@code port} and closes it. Runs on the loop's thread only. */
    public void stopPolling(PolledPort port) {
        if (polled.removeIf(p -> p.port == port)) unwatch(port.readableFd());
        Agent a = agent;
        if (a != null) a.onPortUnplugged(port.unread());
        port.close();
    }

    private void watch(int fd) {
        if (fd >= 0) waiter.add(fd);
        else unwatched++;
    }

    private void unwatch(int fd) {
        if (fd >= 0) waiter.remove(fd);
        else unwatched--;
    }

    private record Polled(PolledPort port, LocalPort handle) {}

    private void run() {
        if (nice != LoopPriority.INHERIT) {
            String refused = LoopPriority.setForThisThread(nice);
            if (refused != null) {
                log.warn("agent loop {}: could not run at nice {} ({}): it waits behind busy cores for its turn; give the agent"
                        + " CAP_SYS_NICE, or leave tuning.loop-nice unset", thread.getName(), nice, refused);
            }
        }
        while (running) {
            idle(doWork());
        }
        socket.close();
        waiter.close();
    }

    private void idle(int work) {
        long now = System.nanoTime();
        if (work > 0) {
            lastWork = now;
            park.reset();
        } else if (now - lastWork < SPIN_NANOS) {
            Thread.onSpinWait();
        } else if (unwatched > 0) {
            park.idle();
        } else if (portsReadyToSleep()) {
            // epoll's timeout is in milliseconds: the tick is due within one.
            waiter.await(1, noCommands);
        }
    }

    /** Each port arranges to wake the loop; false when one found work meanwhile (the loop turns again instead). */
    private boolean portsReadyToSleep() {
        for (int i = 0; i < polled.size(); i++) {
            if (!polled.get(i).port.readyToSleep()) return false;
        }
        return true;
    }

    /**
     * One turn; returns how much work it did, so the idle strategy can back off when there is none.
     * An exception from one command, one datagram's handling, one port or the timers is counted and
     * logged, and the turn goes on (after Agrona's {@code AgentRunner} error handler): one bad input
     * or one broken port must not stop the loop that serves every other. A port that throws is
     * faulted: no longer polled, and closed.
     */
    int doWork() {
        Agent a = agent;
        long now = System.nanoTime();
        int work = commands.drain(c -> {
            try {
                c.accept(a, System.nanoTime());
            } catch (RuntimeException e) {
                error("a command", e);
            }
        });
        try {
            work += socket.receive(a, hosts, now);
        } catch (RuntimeException e) {
            error("the underlay's receive", e);
        }
        for (int i = 0; i < polled.size(); i++) {
            Polled p = polled.get(i);
            try {
                work += p.port.poll(a, p.handle, now);
            } catch (RuntimeException e) {
                fault(i--, e);
            }
        }
        if (now - lastTick >= TICK_NANOS) {
            lastTick = now;
            try {
                a.tick(now);
            } catch (RuntimeException e) {
                error("the timers", e);
            }
        }
        // What a port kept back to join (a TAP port's TCP super-frame) reaches the VM before the loop may sleep.
        for (int i = 0; i < polled.size(); i++) {
            try {
                polled.get(i).port.flush();
            } catch (RuntimeException e) {
                fault(i--, e);
            }
        }
        try {
            socket.flush();
        } catch (RuntimeException e) {
            error("the underlay's send", e);
        }
        return work;
    }

    /** The port at {@code index} threw: it is no longer polled, and closed. */
    private void fault(int index, RuntimeException e) {
        Polled p = polled.remove(index);
        error("port " + p.port.vmId(), e);
        unwatch(p.port.readableFd());
        portsFaulted++;
        log.error("agent loop {}: port {} faulted: no longer polled, closed", thread.getName(), p.port.vmId());
        try {
            p.port.close();
        } catch (RuntimeException closing) {
            error("closing port " + p.port.vmId(), closing);
        }
    }

    private void error(String where, RuntimeException e) {
        errors++;
        // The first of a run of errors with its stack; then a line per second at most.
        long now = System.nanoTime();
        if (errors == 1 || now - lastErrorLog >= 1_000_000_000L) {
            lastErrorLog = now;
            log.error("agent loop {}: {} failed ({} errors so far); the loop goes on", thread.getName(), where, errors, e);
        }
    }

    public long commandsDropped() {
        return commandsDropped;
    }

    /** Exceptions the loop caught and survived, in all. */
    public long errors() {
        return errors;
    }

    /** Times the loop slept in its {@link Waiter} (not counting parks while a port cannot be watched). */
    public long sleeps() {
        return waiter.sleeps();
    }

    /** Ports taken out of the loop because they threw. */
    public long portsFaulted() {
        return portsFaulted;
    }

    /** Stops the loop; the socket is closed by the loop's own thread, or here if it never started. */
    @Override
    public void close() {
        running = false;
        if (thread.getState() == Thread.State.NEW) {
            socket.close();
            waiter.close();
            return;
        }
        waiter.wake();
        try {
            thread.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
