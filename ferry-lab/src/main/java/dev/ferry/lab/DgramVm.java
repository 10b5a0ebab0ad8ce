package dev.ferry.lab;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stand-in VM that speaks what QEMU's {@code -netdev dgram} speaks (one Ethernet frame per UDP
 * datagram), for tests and labs against real agent processes. Like a migrating QEMU VM it may have
 * two copies, each its own socket; only the running copy sends and reads. As with QEMU, a paused
 * copy's frames wait in its socket until it runs, and those a stopped copy never read are lost:
 * {@link #settle} counts them in {@link #lostAtCopy}.
 */
public final class DgramVm implements AutoCloseable {
    public enum State { PAUSED, RUNNING, STOPPED }

    /** One copy: its socket (QEMU's local) and the agent port's socket it sends to (QEMU's remote). */
    public final class Copy {
        final DatagramChannel channel;
        final InetSocketAddress agentSide;
        volatile State state = State.PAUSED;

        Copy(InetSocketAddress agentSide, InetAddress own) throws IOException {
            this.agentSide = agentSide;
            channel = DatagramChannel.open();
            channel.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
            channel.bind(new InetSocketAddress(own, 0));
            channel.configureBlocking(false);
        }

        /** Where this copy listens: the agent port's {@code remote}. */
        public InetSocketAddress address() throws IOException {
            return (InetSocketAddress) channel.getLocalAddress();
        }

        public InetSocketAddress agentSide() {
            return agentSide;
        }
    }

    public final String id;
    public final long mac;
    public final AtomicLong lostAtCopy = new AtomicLong();
    private final List<Copy> copies = new CopyOnWriteArrayList<>();
    private final Map<Integer, FlowStats> inbound = new ConcurrentHashMap<>();
    private final ByteBuffer rx = ByteBuffer.allocate(65_536);
    private final ByteBuffer tx = ByteBuffer.allocate(Vm.FRAME_LENGTH);
    private volatile Copy running;

    public DgramVm(String id, long mac) {
        this.id = id;
        this.mac = mac;
    }

    /** A new, paused copy on loopback whose agent port listens at {@code agentSide}. */
    public Copy newCopy(InetSocketAddress agentSide) throws IOException {
        return newCopy(agentSide, InetAddress.getLoopbackAddress());
    }

    /** A new, paused copy listening on {@code own} (an agent in another namespace reaches it there). */
    public Copy newCopy(InetSocketAddress agentSide, InetAddress own) throws IOException {
        Copy c = new Copy(agentSide, own);
        copies.add(c);
        return c;
    }

    /** {@code copy} runs (the first start, or the destination resuming): reads its socket and sends from now on. */
    public synchronized void resume(Copy copy) {
        copy.state = State.RUNNING;
        running = copy;
    }

    /**
     * The running copy stops. What its agent delivered before the stop was read by a running VM, so
     * the socket is drained first; call it once the agent has been told.
     */
    public synchronized void stop() {
        Copy c = running;
        if (c == null) return;
        drain(c);
        c.state = State.STOPPED;
        running = null;
    }

    /** Counts traffic of {@code flow} that reaches this VM. */
    public void expect(FlowStats flow) {
        inbound.put(flow.id, flow);
    }

    /** Sends the flow's next frame to {@code dstMac} from the running copy; false (nothing sent) while none runs. */
    public synchronized boolean send(long dstMac, FlowStats flow) throws IOException {
        Copy c = running;
        if (c == null) return false;
        byte[] b = tx.array();
        Vm.writeFrame(b, dstMac, mac, flow.id, flow.nextSeq());
        tx.clear().limit(Vm.FRAME_LENGTH);
        c.channel.send(tx, c.agentSide);
        return true;
    }

    /** Reads the running copy's socket; returns how many frames. */
    public synchronized int poll() {
        Copy c = running;
        return c == null ? 0 : drain(c);
    }

    /** At the end of a run: what stopped copies never read is lost (their QEMU exits with it unread). */
    public synchronized void settle() {
        for (Copy c : copies) if (c.state == State.STOPPED) drain(c);
    }

    private int drain(Copy c) {
        int n = 0;
        while (true) {
            rx.clear();
            try {
                if (c.channel.receive(rx) == null) break;
            } catch (IOException e) {
                break;
            }
            n++;
            Vm.arrived(inbound, lostAtCopy, c.state == State.RUNNING, rx.array(), 0, rx.position(), System.nanoTime());
        }
        return n;
    }

    @Override
    public void close() throws IOException {
        for (Copy c : copies) c.channel.close();
    }
}
