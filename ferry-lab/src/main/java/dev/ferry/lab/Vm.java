package dev.ferry.lab;

import dev.ferry.agent.LocalPort;
import dev.ferry.agent.Port;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.Ethernet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * A simulated VM: an identity, and its copies on hosts. During a live migration it has two, the
 * source copy and a paused destination copy; only a running copy sends, and a frame delivered to a
 * copy that is not running is lost, as it is for a real stopped or paused VM.
 */
public final class Vm {
    /** EtherType of the test traffic: IEEE local experimental 2. */
    public static final int TRAFFIC_ETHERTYPE = 0x88B6;
    public static final int FRAME_LENGTH = Ethernet.HEADER_LENGTH + 12 + 50;

    public enum State { PAUSED, RUNNING, STOPPED, GONE }

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Vm.class);
    public final String id;
    public final VmKey key;
    public final int ip;
    /** Frames delivered to a copy that was not running: lost inside the hypervisor. */
    public final AtomicLong lostAtCopy = new AtomicLong();
    private final Map<Integer, FlowStats> inbound = new ConcurrentHashMap<>();
    volatile Copy running;
    volatile boolean migrating;
    int host;
    private final LongSupplier clock;

    public Vm(String id, VmKey key, int ip, int host, LongSupplier clock) {
        this.clock = clock;
        this.id = id;
        this.key = key;
        this.ip = ip;
        this.host = host;
    }

    void expect(FlowStats flow) {
        inbound.put(flow.id, flow);
    }

    public int host() { return host; }

    /** One copy of the VM on one host: the port its host's agent sees. */
    public final class Copy implements Port {
        public final int host;
        volatile State state;
        volatile LocalPort handle;
        /** The source of a migration in its pre-copy: it runs, and is being copied away. */
        volatile boolean migratingOut;

        Copy(int host, State state) {
            this.host = host;
            this.state = state;
        }

        @Override public VmKey key() { return key; }
        @Override public String vmId() { return id; }
        @Override public List<Integer> ips() { return List.of(ip); }
        public Vm vm() { return Vm.this; }

        @Override
        public boolean deliver(byte[] buf, int offset, int length) {
            FlowStats flow = arrived(inbound, lostAtCopy, state == State.RUNNING, buf, offset, length, clock.getAsLong());
            if (flow != null && log.isTraceEnabled()) {
                log.trace("{} ms: flow {} delivers seq {} at host {}", clock.getAsLong() / 1e6, flow.id,
                        Bytes.i64(buf, offset + Ethernet.HEADER_LENGTH + 4), host);
            }
            // A copy that does not run loses the frame inside the hypervisor, as a real one does: counted there.
            return true;
        }
    }

    Copy newCopy(int host, State state) {
        return new Copy(host, state);
    }

    /**
     * A frame reached a copy of a VM: test traffic of an expected flow counts as received, or as
     * lost when the copy does not run (a paused or stopped VM reads nothing). Returns the flow that
     * received it, or null.
     */
    static FlowStats arrived(Map<Integer, FlowStats> inbound, AtomicLong lostAtCopy, boolean running, byte[] buf, int offset,
                             int length, long now) {
        if (length < FRAME_LENGTH || Ethernet.etherType(buf, offset) != TRAFFIC_ETHERTYPE) return null;
        if (!running) {
            lostAtCopy.incrementAndGet();
            return null;
        }
        int at = offset + Ethernet.HEADER_LENGTH;
        FlowStats flow = inbound.get(Bytes.i32(buf, at));
        if (flow != null) flow.received(Bytes.i64(buf, at + 4), now);
        return flow;
    }

    /** Writes one traffic frame from this VM to {@code dst}. */
    static int writeFrame(byte[] b, long dstMac, long srcMac, int flowId, long seq) {
        int at = Ethernet.writeHeader(b, 0, dstMac, srcMac, TRAFFIC_ETHERTYPE);
        Bytes.put32(b, at, flowId);
        Bytes.put64(b, at + 4, seq);
        return FRAME_LENGTH;
    }
}
