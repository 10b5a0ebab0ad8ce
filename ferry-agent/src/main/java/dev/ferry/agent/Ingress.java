package dev.ferry.agent;

import static dev.ferry.wire.Geneve.FLAG_FORWARDED;
import static dev.ferry.wire.Geneve.FLAG_MARKER;

import dev.ferry.board.NodeRecord;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.ControlMessage;
import org.agrona.collections.Long2LongHashMap;

/**
 * Classification of a frame for a VM of this host's networks (design §6.2): deliver, buffer, relay,
 * or the stale-sender rule. Frames received from the underlay come here, and so do frames a local
 * VM sends to another local VM, MARKERs this agent sends itself, and frames released by a MARKER or
 * a migration buffer. Agent's thread only.
 */
final class Ingress implements Markers.Classifier {
    private static final long MS = 1_000_000L;

    /** How the stale-sender rule looks a VM up. */
    interface Lookups {
        void lookup(VirtualNetwork net, long mac, long now);
    }

    private final int self;
    private final AgentConfig config;
    private final Counters counters;
    private final Wire wire;
    private final Markers markers;
    private final Lookups lookups;
    private final boolean relaysStaleFrames;
    private final long retryNanos;
    /** (origin host, destination MAC) to the last time a LOCATION_HINT went to that origin about it. */
    private final Long2LongHashMap hintsSent = new Long2LongHashMap(Long.MIN_VALUE);

    Ingress(AgentConfig config, Counters counters, Wire wire, Markers markers, Lookups lookups, boolean relaysStaleFrames) {
        this.self = config.hostId();
        this.config = config;
        this.counters = counters;
        this.wire = wire;
        this.markers = markers;
        this.lookups = lookups;
        this.relaysStaleFrames = relaysStaleFrames;
        this.retryNanos = config.retryMillis() * MS;
    }

    /** The table of design §6.2; ordering first (a flagged frame whose MARKER passed here is unflagged). */
    @Override
    public void classify(VirtualNetwork net, Frame f, long now) {
        Markers.unflagIfSeen(net, f);
        long dst = f.dst();
        if (!net.returned.isEmpty() && relayIfStale(net, dst, f, now)) return;
        MigrationEntry m = net.migrations.get(dst);
        if (m == null) {
            LocalPort p = net.ports.get(dst);
            if (p != null) {
                deliver(net, p, f, now);
            } else {
                notHere(net, f, now);
            }
            return;
        }
        m = m.governing(f);
        switch (m.action()) {
            case DELIVER -> {
                LocalPort p = net.ports.get(dst);
                if (p != null) {
                    deliver(net, p, f, now);
                } else {
                    counters.inc(Counter.DROP_PORT_NOT_RUNNING);
                }
            }
            case BUFFER -> buffer(m, f, now);
            case RELAY -> {
                wire.relay(net, m.peer, f, m.migrationId);
                m.relayed(now);
                hint(net, f.origin, dst, now);
            }
        }
    }

    /**
     * For a VM that came back while this host still relayed for it: a frame of a path that the
     * migration out relayed goes on that way, behind the frames its sender sent before it (relayed,
     * so it cannot overtake them). A sender's own frame belongs to that path if it was sent to the
     * stay the migration out ended (its stamp is that stay's version or older); a relayed one if
     * another migration than the one that brought the VM back relayed it, and only where the VM runs
     * and has settled (elsewhere the table decides, and a stale sender's frame relayed once, via 0,
     * is delivered where it lands). Both tests are fixed, never read from the cache: a path keeps its
     * way for as long as it carries frames (design §6.6). A relayed path once judged stale stays so
     * when the VM starts to leave again: its later frames must not overtake those still going round.
     */
    private boolean relayIfStale(VirtualNetwork net, long dst, Frame f, long now) {
        MigrationEntry r = net.returned.get(dst);
        if (r == null) return false;
        boolean stale;
        if (f.has(FLAG_FORWARDED)) {
            if (f.via == 0 || f.via == r.returnedBy) {
                stale = false;
            } else if (r.judgedStale(f.via)) {
                stale = true;
            } else {
                stale = net.migrations.get(dst) == null && net.ports.get(dst) != null;
                if (stale) r.judgeStale(f.via);
            }
        } else {
            long stamp = f.has(FLAG_MARKER) ? Markers.version(f) : f.token;
            stale = stamp <= r.residentVersion;
        }
        if (!stale) return false;
        wire.relay(net, r.peer, f, r.migrationId);
        r.relayed(now);
        hint(net, f.origin, dst, now);
        return true;
    }

    private void deliver(VirtualNetwork net, LocalPort p, Frame f, long now) {
        if (markers.holdIfAwaiting(net, f, now)) return;
        if (f.has(FLAG_MARKER)) {
            markers.consume(net, p, f, now);
            return;
        }
        markers.ackFlagged(net, p, f, now);
        deliverToPort(p, f.buf, f.off, f.len, now);
    }

    /**
     * Hands a frame to a local VM's port; one the port cannot take is counted where it outlives the
     * port. While the VM moves between two copies on this host it waits for the new one (§6.7).
     */
    void deliverToPort(LocalPort p, byte[] b, int off, int len, long now) {
        if (len > p.maxFrame) {
            // A real switch port drops what its MTU cannot carry; the VM could not take it either.
            counters.inc(Counter.DROP_FRAME_TOO_LONG);
            return;
        }
        if (p.local != null && p.local.holding()) {
            counters.inc(p.local.hold(b, off, len, now, config.bufferBytes()) ? Counter.BUFFERED : Counter.DROP_BUFFER_FULL);
            return;
        }
        if (!p.port.deliver(b, off, len)) {
            counters.inc(Counter.DROP_PORT_FULL);
            return;
        }
        counters.inc(Counter.DELIVERED);
        if (p.arrival != null) {
            p.arrival.mark(MigrationTimeline.Step.FIRST_DELIVERED, now);
            p.arrival = null;
        }
    }

    /** One queue, in arrival order, flags and all: whoever delivers these checks their MARKERs. */
    private void buffer(MigrationEntry m, Frame f, long now) {
        wire.trace("buffers", f);
        if (!m.keep(f.keep(now), config.bufferBytes())) {
            counters.inc(Counter.DROP_BUFFER_FULL);
        } else {
            counters.inc(Counter.BUFFERED);
            m.timeline.mark(MigrationTimeline.Step.FIRST_BUFFERED, now);
        }
    }

    /** A frame for a VM neither here nor in the migration table: a stale sender's (design §6.2). */
    private void notHere(VirtualNetwork net, Frame f, long now) {
        long dst = f.dst();
        if (!relaysStaleFrames) {
            counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
            return;
        }
        if (f.has(FLAG_FORWARDED)) {
            counters.inc(Counter.DROP_NOT_HERE_FORWARDED);
            return;
        }
        Location loc = net.cache.get(dst);
        if (loc == null || loc.host == NodeRecord.NOWHERE || loc.host == self) {
            counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
            lookups.lookup(net, dst, now);
            return;
        }
        wire.relay(net, loc.host, f, 0);
        hint(net, f.origin, dst, now);
    }

    /** Tells a sender's agent (at most once per retry interval) that it sends to an old location. */
    void hint(VirtualNetwork net, int origin, long dst, long now) {
        if (origin == self || origin == 0) return;
        long key = ((long) origin << 48) | dst;
        long last = hintsSent.get(key);
        if (last != Long.MIN_VALUE && now - last < retryNanos) return;
        hintsSent.put(key, now);
        counters.inc(Counter.HINTS_SENT);
        wire.sendControl(net, origin, new ControlMessage.LocationHint(dst));
    }

    /**
     * A broadcast, to every local VM of the VNI. A migrating VM takes it from the copy that owns the
     * VM when it arrives (design §6.2): the source until hand-over, which keeps it in the buffer while
     * its copy is stopped (relayed with the rest, in order), and the destination from its resume. The
     * copy that does not own the VM leaves it alone, uncounted: the VM gets it at the other.
     */
    void deliverBroadcast(VirtualNetwork net, Frame f, LocalPort from, long now) {
        long sender = f.src();
        for (LocalPort p : net.ports.values()) {
            // Nor to another copy of the sender (a migrated VM's announcements reach its old port here),
            // nor to a copy that was handed over and waits to be unplugged: the VM runs elsewhere.
            if (p == from || p.mac == sender || p.departed) continue;
            MigrationEntry m = net.migrations.get(p.mac);
            if (m == null) {
                deliverToPort(p, f.buf, f.off, f.len, now);
                continue;
            }
            switch (m.action()) {
                case DELIVER -> deliverToPort(p, f.buf, f.off, f.len, now);
                case BUFFER -> {
                    // A paused incoming copy is not the VM's yet: its source keeps this one.
                    if (!m.is(MigrationEntry.Phase.INCOMING)) buffer(m, f, now);
                }
                case RELAY -> { } // handed over: the flood reaches the destination itself
            }
        }
    }

    /**
     * A broadcast a source kept for its stopped VM and relayed with its buffer: for that VM alone,
     * the one arriving here by the migration the frame names ({@code via}), never for the other VMs
     * of the VNI (the flood gave them their own copy).
     */
    void deliverRelayedBroadcast(VirtualNetwork net, Frame f, long now) {
        MigrationEntry m = net.migrations.arrivingBy(f.via);
        LocalPort p = m == null ? null : net.portOf(m);
        if (p == null) {
            counters.inc(Counter.DROP_NOT_HERE_FORWARDED);
            return;
        }
        if (m.action() == MigrationEntry.Action.DELIVER) {
            deliverToPort(p, f.buf, f.off, f.len, now);
        } else {
            buffer(m, f, now);
        }
    }

    /** Delivers, through classification now that the entry allows it, what a migration buffer kept. */
    void flushLocally(VirtualNetwork net, MigrationEntry e, long now) {
        Frame f = new Frame();
        LocalPort vm = net.portOf(e);
        for (Held h : e.takeBuffer()) {
            f.of(h);
            if (!Ethernet.isGroup(f.dst())) {
                classify(net, f, now);
            } else if (vm != null) {
                // A broadcast kept for this VM alone (the others of the VNI had theirs).
                deliverToPort(vm, f.buf, f.off, f.len, now);
            } else {
                counters.inc(Counter.DROP_PORT_UNPLUGGED);
            }
        }
    }

    /** Only rate-limits: forgetting costs at most one more hint. */
    void forgetHints() {
        hintsSent.clear();
    }
}
