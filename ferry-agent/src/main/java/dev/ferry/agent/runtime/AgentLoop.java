package dev.ferry.agent.runtime;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.port.PolledPort;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
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
 */
public final class AgentLoop implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AgentLoop.class);
    private static final int MAX_DATAGRAMS_PER_TURN = 64;
    private static final long TICK_NANOS = 1_000_000;

    private final DatagramChannel channel;
    private final ManyToOneConcurrentArrayQueue<BiConsumer<Agent, Long>> commands = new ManyToOneConcurrentArrayQueue<>(1 << 16);
    private final ByteBuffer rx = ByteBuffer.allocate(65_536);
    private final IdleStrategy idle = new BackoffIdleStrategy(100, 10, 1_000, 200_000);
    private final List<Polled> polled = new ArrayList<>();
    private final Thread thread;
    private volatile Agent agent;
    private volatile boolean running = true;
    private long lastTick;
    private long commandsDropped;

    /** Binds the underlay socket; the agent is given by {@link #start}, once its underlay exists. */
    public AgentLoop(InetSocketAddress bind, String name) throws IOException {
        channel = DatagramChannel.open();
        channel.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
        channel.setOption(StandardSocketOptions.SO_SNDBUF, 4 << 20);
        channel.bind(bind);
        channel.configureBlocking(false);
        thread = new Thread(this::run, name);
        thread.setDaemon(true);
    }

    public InetSocketAddress localAddress() throws IOException {
        return (InetSocketAddress) channel.getLocalAddress();
    }

    public DatagramChannel channel() {
        return channel;
    }

    public void start(Agent agent) {
        this.agent = agent;
        post((a, now) -> a.start(now));
        thread.start();
    }

    /** Runs {@code command} on the agent's thread. Never blocks; a full queue is logged and counted. */
    public void post(BiConsumer<Agent, Long> command) {
        if (!commands.offer(command)) {
            commandsDropped++;
            log.warn("agent loop {}: command queue full, a command was dropped", thread.getName());
        }
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
    }

    /** Stops polling {@code port} and closes it. Runs on the loop's thread only. */
    public void stopPolling(PolledPort port) {
        polled.removeIf(p -> p.port == port);
        port.close();
    }

    private record Polled(PolledPort port, LocalPort handle) {}

    private void run() {
        while (running) {
            idle.idle(doWork());
        }
    }

    /** One turn; returns how much work it did, so the idle strategy can back off when there is none. */
    int doWork() {
        Agent a = agent;
        long now = System.nanoTime();
        int work = commands.drain(c -> c.accept(a, System.nanoTime()));
        for (int i = 0; i < MAX_DATAGRAMS_PER_TURN; i++) {
            rx.clear();
            try {
                if (channel.receive(rx) == null) break;
            } catch (IOException e) {
                log.warn("agent loop {}: receive failed: {}", thread.getName(), e.toString());
                break;
            }
            a.onUnderlay(rx.array(), 0, rx.position(), now);
            work++;
        }
        for (int i = 0; i < polled.size(); i++) {
            Polled p = polled.get(i);
            work += p.port.poll(a, p.handle, now);
        }
        if (now - lastTick >= TICK_NANOS) {
            lastTick = now;
            a.tick(now);
        }
        return work;
    }

    public long commandsDropped() {
        return commandsDropped;
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(2_000);
            channel.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            log.warn("closing underlay socket: {}", e.toString());
        }
    }
}
