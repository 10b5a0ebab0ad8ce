package dev.ferry.agent;

import dev.ferry.board.BoardClient;
import static dev.ferry.wire.Geneve.FLAG_AWAIT;
import static dev.ferry.wire.Geneve.FLAG_FORWARDED;
import static dev.ferry.wire.Geneve.FLAG_MARKER;

import dev.ferry.agent.MigrationEntry.Phase;
import dev.ferry.agent.MigrationEntry.Role;
import dev.ferry.agent.MigrationEntry.SentMarker;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardRequest.Outcome;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.HostRecord;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Arp;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.ControlMessage.StreamToken;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveFrame;
import dev.ferry.wire.GeneveWriter;
import dev.ferry.wire.Malformed;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import org.agrona.collections.Int2ObjectHashMap;
import org.agrona.collections.Long2LongHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data forwarding component of one host. Every method runs on the agent's single event-loop
 * thread (a runner posts commands to it); no state here is shared, so nothing here locks.
 *
 * <p>A received frame passes two stages: {@link StreamOrder} (frames of a stream's new path wait for
 * the MARKER that ends its old path), then classification by the migration table (design §6.2):
 * deliver, buffer, relay, or the stale-sender rule.
 */
public final class Agent {
    private static final Logger log = LoggerFactory.getLogger(Agent.class);
    private static final long MS = 1_000_000L;
    /** EtherType of a MARKER's inner frame: IEEE local experimental. It carries no payload. */
    static final int MARKER_ETHERTYPE = 0x88B5;

    private final AgentConfig config;
    private final int self;
    private final Underlay underlay;
    private final BoardCalls board;
    private final Counters counters = new Counters();
    private final Int2ObjectHashMap<VirtualNetwork> networks = new Int2ObjectHashMap<>();
    private final GeneveFrame rx = new GeneveFrame();
    private final byte[] tx = new byte[65_536];
    private final byte[] scratch = new byte[256];
    private final long[] expired = new long[1];
    private final List<PendingMarker> pendingMarkers = new ArrayList<>();
    /** (origin host, destination MAC) to the last time a LOCATION_HINT went to that origin about it. */
    private final Long2LongHashMap hintsSent = new Long2LongHashMap(Long.MIN_VALUE);
    private final Long2LongHashMap lookupsPending = new Long2LongHashMap(Long.MIN_VALUE);
    private final long retryNanos;
    /**
     * The time of the event being handled, for what runs inside it without a clock of its own:
     * board-call callbacks and control messages an agent sends itself.
     */
    private long lastNow;
    private long tokenSeq;
    private long lastHeartbeat;
    private long lastResync;
    private long lastHostListing;
    private long unknownHostsSeen;
    private long lastForget;
    private boolean started;

    public Agent(AgentConfig config, Underlay underlay, BoardClient boardClient, long incarnation) {
        this.config = config.validate();
        this.self = config.hostId();
        this.underlay = underlay;
        this.retryNanos = config.retryMillis() * MS;
        this.board = new BoardCalls(boardClient, self, incarnation, retryNanos);
        this.tokenSeq = (long) self << 48 | (incarnation & 0xFFFF) << 32;
        for (int vni : config.vnis()) {
            networks.put(vni, new VirtualNetwork(vni, 30_000 * MS));
        }
    }

    // ---------------------------------------------------------------- life cycle and ports

    /** Registers with the board and subscribes to the VNIs served. */
    public void start(long now) {
        started = true;
        lastHeartbeat = now;
        lastResync = now;
        lastForget = now;
        register(now);
        resync(now);
    }

    private void register(long now) {
        board.call(id -> new BoardRequest.RegisterHost(id, self, config.endpoint(), config.vnis(), config.leaseMillis()),
                r -> {}, now);
        listHosts(now);
    }

    /** Where the other agents are; later registrations arrive as HostChanged pushes. */
    private void listHosts(long now) {
        lastHostListing = now;
        board.call(BoardRequest.ListHosts::new, r -> {
            if (r instanceof BoardResponse.Hosts hosts) {
                for (HostRecord h : hosts.hosts()) underlay.learnHost(h.hostId(), h.endpoint());
            }
        }, now);
    }

    /**
     * After the connection to the board came back (the board may have restarted and lost its
     * state): registers again, watches again (snapshot), and attaches every local port again —
     * active, or as a standby for a paused incoming copy. The board ignores what it already has.
     */
    public void resynchronise(long now) {
        lastNow = now;
        register(now);
        for (VirtualNetwork net : networks.values()) {
            for (LocalPort p : net.ports.values()) {
                MigrationEntry m = net.migrations.get(p.mac);
                // Handed over: the VM runs elsewhere, its port here only waits to be unplugged.
                if (m != null && m.role == Role.SOURCE && m.phase == Phase.HANDED_OVER) continue;
                // A destination attaches active only after HANDOVER_ACK, behind the source's lock.
                boolean standby = m != null && m.role == Role.DESTINATION;
                attach(p.key(), p.port, !standby, now);
            }
            for (MigrationEntry m : net.migrations.entries()) {
                // A source not handed over yet is still where the VM is, even once its VM stopped
                // and its port was unplugged; a lock the board forgot is asked for again.
                if (m.role == Role.SOURCE && m.phase != Phase.HANDED_OVER && m.port != null) {
                    attach(m.key, m.port.port, true, now);
                    if (m.lockHeld) {
                        m.lockHeld = false;
                        requestLock(net, m, now);
                    }
                }
            }
        }
        resync(now);
    }

    /** Plugs in a running VM's port and attaches it, active, at the board. */
    public LocalPort addPort(Port port, long now) {
        LocalPort lp = plug(port);
        attach(lp.key(), port, true, now);
        return lp;
    }

    /** The handle of a plugged port (also of a standby copy the agent plugged itself), or null. */
    public LocalPort localPort(VmKey key) {
        VirtualNetwork net = networks.get(key.vni());
        return net == null ? null : net.ports.get(key.mac());
    }

    /** The VM's row of the migration table, or null. */
    public MigrationEntry migration(VmKey key) {
        VirtualNetwork net = networks.get(key.vni());
        return net == null ? null : net.migrations.get(key.mac());
    }

    /** Where this agent believes the VM is (its location cache), or null. */
    public Location location(VmKey key) {
        VirtualNetwork net = networks.get(key.vni());
        return net == null ? null : net.cache.get(key.mac());
    }

    /** Unplugs a port; with {@code detach} the board forgets this host's copy of the VM. */
    public void removePort(VmKey key, boolean detach, long now) {
        VirtualNetwork net = networks.get(key.vni());
        if (net == null) return;
        LocalPort lp = net.ports.remove(key.mac());
        if (lp != null) lp.removed = true;
        if (detach) {
            board.call(id -> new BoardRequest.Detach(id, key, self, false), r -> {}, now);
        }
    }

    private LocalPort plug(Port port) {
        VirtualNetwork net = network(port.key().vni());
        LocalPort lp = new LocalPort(port, net);
        LocalPort old = net.ports.put(lp.mac, lp);
        if (old != null) old.removed = true;
        return lp;
    }

    private VirtualNetwork network(int vni) {
        VirtualNetwork net = networks.get(vni);
        if (net == null) {
            throw new IllegalArgumentException("VNI " + vni + " is not served by agent " + self + " (serves " + config.vnis() + ")");
        }
        return net;
    }

    private void attach(VmKey key, Port port, boolean active, long now) {
        board.call(id -> new BoardRequest.Attach(id, key, port.vmId(), port.ips(), self, active), r -> {}, now);
    }

    // ---------------------------------------------------------------- underlay receive

    /** One datagram from the underlay. Never throws for what the datagram holds. */
    public void onUnderlay(byte[] buf, int offset, int length, long now) {
        lastNow = now;
        counters.inc(Counter.UNDERLAY_IN);
        Malformed bad = rx.wrap(buf, offset, length);
        if (bad != null) {
            counters.countMalformed(bad);
            return;
        }
        VirtualNetwork net = networks.get(rx.vni());
        if (net == null) {
            counters.countMalformed(Malformed.UNKNOWN_VNI);
            return;
        }
        if (rx.protocol() == Geneve.PROTOCOL_FERRY_CONTROL) {
            ControlMessage m = rx.isControl() ? ControlCodec.decode(buf, rx.payloadOffset(), rx.payloadLength()) : null;
            if (m == null) {
                counters.countMalformed(Malformed.BAD_CONTROL);
                return;
            }
            counters.inc(Counter.CONTROL_IN);
            onControl(net, rx.origin(), m, now);
            return;
        }
        int frame = rx.payloadOffset();
        int len = rx.payloadLength();
        if (Ethernet.isGroup(Ethernet.dst(buf, frame))) {
            counters.inc(Counter.BROADCAST_IN);
            deliverBroadcast(net, buf, frame, len, null);
            return;
        }
        classify(net, buf, frame, len, rx.origin(), rx.flags(), rx.token(), rx.await(), rx.via(), now);
    }

    private void releaseHeld(VirtualNetwork net, long now) {
        if (net.order.heldFrames() == 0) return;
        List<Held> ready;
        do {
            expired[0] = 0;
            ready = net.order.releasable(now, config.holdMillis() * MS, expired);
            counters.add(Counter.MARKER_WAIT_EXPIRED, expired[0]);
            for (Held h : ready) {
                // Its MARKER was consumed here (or its wait ran out): the order is kept from here on.
                classify(net, h.frame(), 0, h.frame().length, h.origin(), h.flags() & ~FLAG_AWAIT, h.token(), 0, h.via(), now);
            }
        } while (!ready.isEmpty());
    }

    /** Classification by the migration table (design §6.2). */
    private void classify(VirtualNetwork net, byte[] b, int off, int len, int origin, int flags, long token, long await,
                          long via, long now) {
        if ((flags & FLAG_AWAIT) != 0 && net.order.isSeen(await)) {
            // Its MARKER was consumed here: the order is met, and hosts further on may not know the token.
            flags &= ~FLAG_AWAIT;
            await = 0;
        }
        long dst = Ethernet.dst(b, off);
        if (!net.returned.isEmpty() && relayIfStale(net, dst, b, off, len, origin, flags, token, await, via, now)) {
            return;
        }
        MigrationEntry m = net.migrations.get(dst);
        if (m == null) {
            LocalPort p = net.ports.get(dst);
            if (p != null) {
                deliver(net, p, b, off, len, origin, flags, token, await, via, now);
            } else {
                notHere(net, b, off, len, origin, flags, token, await, now);
            }
            return;
        }
        while (m.outgoing != null && !((flags & FLAG_FORWARDED) != 0 && via == m.migrationId)) {
            // Not relayed by this incoming migration's source: sent here before the VM left last
            // time, so it goes the way of the frames sent then (its path must not change under it).
            m = m.outgoing;
        }
        if (m.phase == Phase.RESUMED && m.deferredStopped) {
            // Resumed here, and already stopped again for its next migration: keep for that one.
            buffer(net, m, b, off, len, origin, flags, token, await, via, now);
            return;
        }
        switch (m.phase) {
            case PRECOPY, RESUMED, RUNNING -> {
                LocalPort p = net.ports.get(dst);
                if (p != null) {
                    deliver(net, p, b, off, len, origin, flags, token, await, via, now);
                } else {
                    counters.inc(Counter.DROP_PORT_NOT_RUNNING);
                }
            }
            case STOPPED, INCOMING -> buffer(net, m, b, off, len, origin, flags, token, await, via, now);
            case HANDED_OVER -> {
                relay(net, m.peer, b, off, len, origin, flags, token, await, m.migrationId);
                m.relayed++;
                m.lastActivityAt = now;
                hint(net, origin, dst, now);
            }
        }
    }

    /**
     * The ordering stage ({@link StreamOrder}) for a frame about to be delivered here: true if it
     * must wait for its MARKER, and then it is held. Frames passing through (relayed, or buffered
     * for a migration) are not held: the host that delivers them checks.
     */
    /**
     * For a VM that came back while this host still relayed for it: a frame of a path that the
     * migration out relayed goes on that way, behind the frames its sender sent before it (relayed,
     * so it cannot overtake them). A sender's own frame belongs to that path if it was sent to the
     * stay the migration out ended (its stamp is that stay's version or older); a relayed one unless
     * the migration that brought the VM back relayed it. Both tests are fixed, never read from the
     * cache: a path must keep its way for as long as it carries frames, or its later frames overtake
     * its earlier ones (and a resent MARKER its frames). Frames of newer paths are delivered here.
     */
    private boolean relayIfStale(VirtualNetwork net, long dst, byte[] b, int off, int len, int origin, int flags, long token,
                                 long await, long via, long now) {
        MigrationEntry r = net.returned.get(dst);
        if (r == null) return false;
        boolean stale;
        if ((flags & FLAG_FORWARDED) != 0) {
            // Only where the VM runs and has settled: elsewhere the table's entries decide, and a
            // frame a stale sender's host relayed once (via 0) is delivered where it lands.
            stale = via != 0 && via != r.returnedBy && net.migrations.get(dst) == null && net.ports.get(dst) != null;
        } else {
            long stamp = (flags & FLAG_MARKER) != 0 ? markerVersion(b, off, len) : token;
            stale = stamp <= r.residentVersion;
        }
        if (!stale) return false;
        relay(net, r.peer, b, off, len, origin, flags, token, await, r.migrationId);
        r.relayed++;
        r.lastActivityAt = now;
        hint(net, origin, dst, now);
        return true;
    }

    private static long markerVersion(byte[] b, int off, int len) {
        return len >= Ethernet.HEADER_LENGTH + 8 ? dev.ferry.wire.Bytes.i64(b, off + Ethernet.HEADER_LENGTH) : 0;
    }

    private boolean holdIfAwaiting(VirtualNetwork net, byte[] b, int off, int len, int origin, int flags, long token,
                                   long await, long via, long now) {
        if ((flags & FLAG_AWAIT) == 0) return false;
        if (net.order.heldBytes() + len > config.holdBytes()) {
            counters.inc(Counter.DROP_HOLD_FULL);
            return true;
        }
        traceFrame("holds", b, off, len, flags, await);
        net.order.hold(new Held(Arrays.copyOfRange(b, off, off + len), origin, flags, token, await, via, now));
        counters.inc(Counter.HELD);
        return true;
    }

    private void deliver(VirtualNetwork net, LocalPort p, byte[] b, int off, int len, int origin, int flags, long token,
                         long await, long via, long now) {
        if (holdIfAwaiting(net, b, off, len, origin, flags, token, await, via, now)) return;
        if ((flags & FLAG_MARKER) != 0) {
            if (log.isTraceEnabled()) {
                log.trace("{} agent {} consumes marker {} ({}->{}) from origin {}", ms(now), self, token,
                        Ethernet.format(Ethernet.src(b, off)), Ethernet.format(p.mac), origin);
            }
            counters.inc(Counter.MARKERS_CONSUMED);
            net.order.markSeen(token, p.mac, now);
            sendControl(net, origin, new ControlMessage.MarkerAck(Ethernet.src(b, off), p.mac, token));
            releaseHeld(net, now);
            return;
        }
        if ((flags & FLAG_AWAIT) != 0 && origin != self && net.order.ackDue(await, now, retryNanos)) {
            // The sender still flags this stream: tell it its MARKER is through so it can stop.
            sendControl(net, origin, new ControlMessage.MarkerAck(Ethernet.src(b, off), p.mac, await));
        }
        portDeliver(p, b, off, len);
    }

    private void portDeliver(LocalPort p, byte[] b, int off, int len) {
        counters.inc(p.port.deliver(b, off, len) ? Counter.DELIVERED : Counter.DROP_PORT_FULL);
    }

    private void buffer(VirtualNetwork net, MigrationEntry m, byte[] b, int off, int len, int origin, int flags, long token,
                        long await, long via, long now) {
        traceFrame("buffers", b, off, len, flags, await);
        // One queue, in arrival order, flags and all: whoever delivers these checks their MARKERs.
        if (m.bufferBytes + len > config.bufferBytes()) {
            counters.inc(Counter.DROP_BUFFER_FULL);
            return;
        }
        m.buffer.add(new Held(Arrays.copyOfRange(b, off, off + len), origin, flags, token, await, via, now));
        m.bufferBytes += len;
        m.buffered++;
        counters.inc(Counter.BUFFERED);
    }

    /** A frame for a VM neither here nor in the migration table: a stale sender's (design §6.2). */
    private void notHere(VirtualNetwork net, byte[] b, int off, int len, int origin, int flags, long token, long await,
                         long now) {
        long dst = Ethernet.dst(b, off);
        if (config.mode() != Mode.FERRY) {
            counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
            return;
        }
        if ((flags & FLAG_FORWARDED) != 0) {
            counters.inc(Counter.DROP_NOT_HERE_FORWARDED);
            return;
        }
        Location loc = net.cache.get(dst);
        if (loc == null || loc.host == NodeRecord.NOWHERE || loc.host == self) {
            counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
            lookup(net, dst, now);
            return;
        }
        relay(net, loc.host, b, off, len, origin, flags, token, await, 0);
        hint(net, origin, dst, now);
    }

    private void traceFrame(String what, byte[] b, int off, int len, int flags, long await) {
        if (log.isTraceEnabled()) {
            // The head of the payload identifies a frame (the lab's traffic puts flow and sequence there).
            StringBuilder head = new StringBuilder();
            for (int i = off + Ethernet.HEADER_LENGTH; i < Math.min(off + len, off + Ethernet.HEADER_LENGTH + 12); i++) {
                head.append(String.format("%02x", b[i]));
            }
            log.trace("{} agent {} {} frame {}->{} payload {} flags {} await {}", ms(lastNow), self, what,
                    Ethernet.format(Ethernet.src(b, off)), Ethernet.format(Ethernet.dst(b, off)), head, flags, await);
        }
    }

    /** Sends a frame on from an old location; {@code via} names the migration it is relayed for (0: a stale sender's, relayed once). */
    private void relay(VirtualNetwork net, int to, byte[] b, int off, int len, int origin, int flags, long token, long await,
                       long via) {
        traceFrame("relays to " + to, b, off, len, flags, await);
        if ((flags & FLAG_MARKER) == 0) counters.inc(Counter.RELAYED);
        send(net, to, b, off, len, origin, flags | FLAG_FORWARDED, token, await, via);
    }

    private void hint(VirtualNetwork net, int origin, long dst, long now) {
        if (origin == self || origin == 0) return;
        long key = ((long) origin << 48) | dst;
        long last = hintsSent.get(key);
        if (last != Long.MIN_VALUE && now - last < retryNanos) return;
        hintsSent.put(key, now);
        counters.inc(Counter.HINTS_SENT);
        sendControl(net, origin, new ControlMessage.LocationHint(dst));
    }

    private void deliverBroadcast(VirtualNetwork net, byte[] b, int off, int len, LocalPort from) {
        for (LocalPort p : net.ports.values()) {
            if (p == from) continue;
            MigrationEntry m = net.migrations.get(p.mac);
            // The copy that owns the VM right now: the source until HANDOVER, the destination after.
            if (m == null || m.phase == Phase.PRECOPY || m.phase == Phase.RESUMED || m.phase == Phase.RUNNING) {
                portDeliver(p, b, off, len);
            } else {
                counters.inc(Counter.DROP_PORT_NOT_RUNNING);
            }
        }
    }

    // ---------------------------------------------------------------- frames from local VMs

    /** One frame sent by a local VM. */
    public void onPortFrame(LocalPort port, byte[] b, int off, int len, long now) {
        counters.inc(Counter.PORT_IN);
        if (len < Ethernet.HEADER_LENGTH) {
            counters.inc(Counter.DROP_RUNT_FRAME);
            return;
        }
        if (port.removed) {
            counters.inc(Counter.DROP_PORT_NOT_RUNNING);
            return;
        }
        VirtualNetwork net = port.net;
        MigrationEntry m = net.migrations.get(port.mac);
        if (m != null && m.role == Role.DESTINATION && m.phase != Phase.RUNNING) {
            if (m.phase == Phase.INCOMING) {
                // A paused incoming copy cannot send: one that speaks has resumed. This is the
                // announce detector (QEMU's RARP after a migration), and it also covers a detector
                // that reports the resume a little after the VM's first frames.
                onEvent(new MigrationEvent.DestinationResumed(net.vni, port.mac, m.migrationId), now);
            }
            // Until the source's HANDOVER_ACK names the VM's streams, its frames wait (bounded).
            if (m.egressBytes + len > config.bufferBytes()) {
                counters.inc(Counter.DROP_EGRESS_HOLD_FULL);
                return;
            }
            m.egressHold.add(new Held(Arrays.copyOfRange(b, off, off + len), self, 0, 0, 0, 0, now));
            m.egressBytes += len;
            return;
        }
        send(port, b, off, len, now);
    }

    private void send(LocalPort port, byte[] b, int off, int len, long now) {
        VirtualNetwork net = port.net;
        long dst = Ethernet.dst(b, off);
        if (Ethernet.isGroup(dst)) {
            broadcastFromPort(net, port, b, off, len, now);
            return;
        }
        Location loc = net.cache.get(dst);
        int host;
        if (loc != null && loc.host != NodeRecord.NOWHERE) {
            host = loc.host;
        } else {
            // Even a VM with a port here may be only a paused incoming copy: the board decides.
            awaitLookup(net, port, b, off, len, now);
            return;
        }
        if (!net.awaitingLookup.isEmpty() && net.awaitingLookup.containsKey(dst)) {
            // Earlier frames to this destination still wait for the board: keep the order.
            awaitLookup(net, port, b, off, len, now);
            return;
        }
        OutStream s = port.stream(dst);
        // A newer location is a new path even on the same host: the VM may have left and come back.
        if (config.mode() == Mode.FERRY && s.hostUsed != OutStream.UNSET && (s.hostUsed != host || s.versionUsed != loc.version)) {
            switchPath(net, port, s, host, now);
        }
        s.hostUsed = host;
        s.versionUsed = loc.version;
        int flags = s.awaitToken != 0 ? FLAG_AWAIT : 0;
        // A data frame's token field carries the version of the location it was sent by.
        if (host == self) {
            classify(net, b, off, len, self, flags, loc.version, s.awaitToken, 0, now);
        } else {
            send(net, host, b, off, len, self, flags, loc.version, s.awaitToken, 0);
        }
    }

    /**
     * The stream's destination moved: end the old path with a MARKER (itself waiting behind the
     * previous one, if that is not acknowledged yet) and flag the new path's frames to wait for it.
     */
    private void switchPath(VirtualNetwork net, LocalPort port, OutStream s, int newHost, long now) {
        PendingMarker m = new PendingMarker(net, port.mac, s.dst, s.hostUsed, nextToken(), s.awaitToken, s.versionUsed, now);
        s.awaitToken = m.token;
        pendingMarkers.add(m);
        sendMarker(net, m.host, m.src, m.dst, m.token, m.await, m.version, now);
    }

    /** A MARKER: its inner frame carries the version of the location its old path went by. */
    private void sendMarker(VirtualNetwork net, int host, long src, long dst, long token, long await, long version, long now) {
        if (log.isTraceEnabled()) {
            log.trace("{} agent {} sends marker {} ({}->{}) await {} to {}", ms(now), self, token, Ethernet.format(src),
                    Ethernet.format(dst), await, host);
        }
        counters.inc(Counter.MARKERS_SENT);
        int at = Ethernet.writeHeader(scratch, 0, dst, src, MARKER_ETHERTYPE);
        dev.ferry.wire.Bytes.put64(scratch, at, version);
        int len = at + 8;
        int flags = FLAG_MARKER | (await != 0 ? FLAG_AWAIT : 0);
        if (host == self) {
            classify(net, scratch, 0, len, self, flags, token, await, 0, now);
        } else {
            send(net, host, scratch, 0, len, self, flags, token, await, 0);
        }
    }

    private void broadcastFromPort(VirtualNetwork net, LocalPort from, byte[] b, int off, int len, long now) {
        if (answerArp(net, from, b, off, len)) return;
        deliverBroadcast(net, b, off, len, from);
        for (int host : net.hosts) {
            if (host != self) {
                counters.inc(Counter.BROADCAST_OUT);
                send(net, host, b, off, len, self, 0, 0, 0, 0);
            }
        }
    }

    /** Answers an ARP request from the board's ip-to-mac table when it knows the answer. */
    private boolean answerArp(VirtualNetwork net, LocalPort from, byte[] b, int off, int len) {
        int at = off + Ethernet.HEADER_LENGTH;
        if (Ethernet.etherType(b, off) != Ethernet.TYPE_ARP || !Arp.isValid(b, at, len - Ethernet.HEADER_LENGTH)
                || Arp.op(b, at) != Arp.OP_REQUEST || Arp.senderIp(b, at) == Arp.targetIp(b, at)) {
            return false;
        }
        long mac = net.cache.macOf(Arp.targetIp(b, at));
        if (mac < 0) return false;
        int n = Arp.write(scratch, 0, Ethernet.TYPE_ARP, Arp.OP_REPLY, Arp.senderMac(b, at), mac, Arp.targetIp(b, at),
                Arp.senderMac(b, at), Arp.senderIp(b, at));
        counters.inc(Counter.ARP_ANSWERED);
        portDeliver(from, scratch, 0, n);
        return true;
    }

    private void send(VirtualNetwork net, int to, byte[] b, int off, int len, int origin, int flags, long token, long await,
                      long via) {
        boolean control = (flags & FLAG_MARKER) != 0;
        int at = GeneveWriter.writeHeader(tx, 0, net.vni, control, Geneve.PROTOCOL_ETHERNET, flags, origin, token, await, via);
        System.arraycopy(b, off, tx, at, len);
        counters.inc(Counter.UNDERLAY_OUT);
        underlay.send(to, tx, 0, at + len);
    }

    private void sendControl(VirtualNetwork net, int to, ControlMessage m) {
        if (to == self) {
            onControl(net, self, m, lastNow);
            return;
        }
        int at = GeneveWriter.writeHeader(tx, 0, net.vni, true, Geneve.PROTOCOL_FERRY_CONTROL, 0, self, 0, 0);
        int n = ControlCodec.encode(m, tx, at);
        counters.inc(Counter.CONTROL_OUT);
        underlay.send(to, tx, 0, at + n);
    }

    /** A time for trace lines: milliseconds, which in a simulation are simulated. */
    private static String ms(long nanos) {
        return String.format(java.util.Locale.ROOT, "%9.3f ms", nanos / 1e6);
    }

    private long nextToken() {
        return ++tokenSeq;
    }

    // ---------------------------------------------------------------- control messages

    private void onControl(VirtualNetwork net, int origin, ControlMessage m, long now) {
        if (log.isTraceEnabled()) log.trace("{} agent {} from {}: {}", ms(now), self, origin, m);
        switch (m) {
            case ControlMessage.Prepare p -> {
                // Only the real source answers: a host the record pointed at earlier stays silent.
                // A PREPARE without an id (a standby plugged without one) learns the source's, but
                // only from a migration not already promised to another destination: in a quick
                // chain the record may still name an earlier source, whose VM went elsewhere.
                MigrationEntry e = p.migrationId() != 0 ? net.source(p.mac(), p.migrationId()) : net.ongoingSource(p.mac());
                if (e != null && p.migrationId() == 0 && e.peer != 0 && e.peer != origin) e = null;
                if (e == null && p.migrationId() == 0 && log.isDebugEnabled()) {
                    log.debug("agent {}: PREPARE without an id from {} for {} left unanswered; entry here: {}", self, origin,
                            Ethernet.format(p.mac()), net.migrations.get(p.mac()));
                }
                if (e != null) {
                    e.peer = origin;
                    sendControl(net, origin, new ControlMessage.PrepareAck(e.migrationId, p.mac()));
                }
            }
            case ControlMessage.PrepareAck a -> {
                MigrationEntry e = net.incoming(a.mac(), a.migrationId());
                if (e == null) e = net.incoming(a.mac(), 0);
                if (e != null) {
                    e.migrationId = a.migrationId();
                    e.peer = origin;
                    e.peerConfirmed = true;
                }
            }
            case ControlMessage.Handover h -> onHandover(net, origin, h.migrationId(), h.mac(), now);
            case ControlMessage.HandoverAck a -> onHandoverAck(net, a, now);
            case ControlMessage.MarkerAck a -> onMarkerAck(net, a);
            case ControlMessage.LocationHint h -> lookup(net, h.mac(), now);
        }
    }

    private void onHandover(VirtualNetwork net, int from, long migrationId, long mac, long now) {
        MigrationEntry e = net.source(mac, migrationId);
        if (e == null) {
            log.debug("agent {}: HANDOVER for unknown migration {} of {}", self, migrationId, Ethernet.format(mac));
            return;
        }
        e.peer = from;
        e.handoverAsked = true;
        if (e.phase == Phase.PRECOPY) {
            // The destination runs, so the source has stopped even if its event has not reached us.
            sourceStopped(net, e, now);
        }
        maybeHandOver(net, e, now);
    }

    /** design §6.3 step 5, once the destination asked and the lock is held. */
    private void maybeHandOver(VirtualNetwork net, MigrationEntry e, long now) {
        if (!e.handoverAsked) return;
        if (e.phase == Phase.STOPPED && e.lockHeld) {
            // Frames still waiting here for a MARKER wait at the destination now, behind the buffer.
            moveHeldToBuffer(net, e);
            for (Held h : e.buffer) {
                relay(net, e.peer, h.frame(), 0, h.frame().length, h.origin(), h.flags(), h.token(), h.await(), e.migrationId);
                e.relayed++;
            }
            e.buffer.clear();
            e.bufferBytes = 0;
            e.consumed = net.order.consumedFor(e.key.mac());
            e.phase = Phase.HANDED_OVER;
            e.handedOverAt = now;
            e.lastActivityAt = now;
            counters.inc(Counter.MIGRATIONS_COMPLETED);
            board.call(id -> new BoardRequest.Unlock(id, e.key, e.migrationId, Outcome.COMPLETED), r -> e.unlocked = true, now);
        }
        if (e.phase == Phase.HANDED_OVER) {
            sendControl(net, e.peer, new ControlMessage.HandoverAck(e.migrationId, e.key.mac(), e.streams, e.consumed));
        }
    }

    private void onHandoverAck(VirtualNetwork net, ControlMessage.HandoverAck a, long now) {
        MigrationEntry e = net.incoming(a.mac(), a.migrationId());
        if (e == null || e.phase != Phase.RESUMED) {
            log.debug("agent {}: HANDOVER_ACK of migration {} not taken; entry here: {}", self, a.migrationId(),
                    net.migrations.get(a.mac()));
            return;
        }
        // The VM may already have come back again: then a newer entry stands before this one.
        MigrationEntry newer = net.newerThan(e);
        LocalPort port = e.port;
        port.streams.clear();
        for (StreamToken s : a.streams()) {
            port.stream(s.dstMac()).awaitToken = s.token();
        }
        for (long token : a.consumed()) net.order.markSeen(token, e.key.mac(), now);
        if (e.outgoing != null && e.outgoing.phase == Phase.HANDED_OVER) net.keepReturned(e.outgoing, e.migrationId);
        e.phase = Phase.RUNNING;
        // The VM runs here now; the entry of its earlier migration out (e.outgoing) ends with this one.
        if (newer == null) {
            net.migrations.remove(e);
        } else {
            newer.outgoing = null;
        }
        // What the VM sent meanwhile goes out now, even if the VM has already moved on again.
        for (Held h : e.egressHold) {
            send(port, h.frame(), 0, h.frame().length, now);
        }
        e.egressHold.clear();
        e.egressBytes = 0;
        // Queued behind the source's lock: the board applies it when the source unlocks.
        board.call(id -> new BoardRequest.Attach(id, e.key, port.port.vmId(), port.port.ips(), self, true), r -> {}, now);
        if (e.deferredStart != 0) {
            MigrationEntry next = startSource(net, e.key, port, e.deferredStart, newer, now);
            if (e.deferredStopped) {
                sourceStopped(net, next, now);
                next.buffer.addAll(e.buffer);
                next.bufferBytes = e.bufferBytes;
            }
        }
        releaseHeld(net, now);
    }

    private void onMarkerAck(VirtualNetwork net, ControlMessage.MarkerAck a) {
        LocalPort port = net.ports.get(a.srcMac());
        OutStream flagged = port == null ? null : port.streams.get(a.dstMac());
        if (flagged != null && flagged.awaitToken == a.token()) flagged.awaitToken = 0;
        // By token: the VM that sent the MARKER may have left this host since.
        pendingMarkers.removeIf(m -> m.token == a.token());
        for (MigrationEntry e = net.migrations.get(a.srcMac()); e != null; e = e.outgoing) {
            e.unackedMarkers.remove(a.token());
        }
        for (MigrationEntry r = net.returned.get(a.srcMac()); r != null; r = r.outgoing) {
            r.unackedMarkers.remove(a.token());
        }
    }

    // ---------------------------------------------------------------- migration events (detectors)

    /** A migration step reported by a detector. */
    public void onEvent(MigrationEvent event, long now) {
        if (log.isTraceEnabled()) log.trace("{} agent {} event {}", ms(now), self, event);
        VirtualNetwork net = network(event.vni());
        VmKey key = new VmKey(event.vni(), event.mac());
        MigrationEntry e = net.migrations.get(event.mac());
        Mode mode = config.mode();
        switch (event) {
            case MigrationEvent.StandbyAppeared s -> {
                LocalPort port = plug(s.port());
                boolean returning = e != null && e.hasLeft();
                if (mode == Mode.FERRY && (e == null || returning)) {
                    MigrationEntry d = new MigrationEntry(s.migrationId(), key, Role.DESTINATION, Phase.INCOMING, now);
                    d.outgoing = returning ? e : null;
                    d.port = port;
                    net.migrations.put(d);
                    board.call(id -> new BoardRequest.Attach(id, key, s.port().vmId(), s.port().ips(), self, false), r -> {
                        if (r instanceof BoardResponse.Ok ok && ok.record() != null && ok.record().isAttached()
                                && ok.record().hostId() != self && net.incoming(key.mac(), d.migrationId) == d) {
                            if (!d.peerConfirmed) d.peer = ok.record().hostId();
                            sendControl(net, d.peer, new ControlMessage.Prepare(d.migrationId, key.mac()));
                        }
                    }, now);
                } else if (mode == Mode.EAGER) {
                    attach(key, port.port, true, now);
                }
            }
            case MigrationEvent.Started s -> {
                if (mode != Mode.FERRY) return;
                if (e == null) {
                    startSource(net, key, net.ports.get(key.mac()), s.migrationId(), null, now);
                } else if (e.role == Role.DESTINATION && e.phase == Phase.RESUMED) {
                    e.deferredStart = s.migrationId();
                }
            }
            case MigrationEvent.SourceStopped s -> {
                if (e != null && e.role == Role.SOURCE && e.migrationId == s.migrationId() && e.phase == Phase.PRECOPY) {
                    sourceStopped(net, e, now);
                } else if (e != null && e.role == Role.DESTINATION && e.deferredStart == s.migrationId()) {
                    e.deferredStopped = true;
                    moveHeldToBuffer(net, e);
                }
            }
            case MigrationEvent.DestinationResumed r -> {
                if (mode == Mode.NAIVE) {
                    LocalPort port = net.ports.get(key.mac());
                    if (port != null) attach(key, port.port, true, now);
                } else if (e != null && e.role == Role.DESTINATION && e.migrationId == r.migrationId()
                        && e.phase == Phase.INCOMING) {
                    e.phase = Phase.RESUMED;
                    e.resumedAt = now;
                    e.lastRetryAt = now;
                    if (e.peer != 0) sendControl(net, e.peer, new ControlMessage.Handover(e.migrationId, key.mac()));
                    flushBufferLocally(net, e, now);
                }
            }
            case MigrationEvent.Aborted a -> {
                if (mode != Mode.FERRY) {
                    LocalPort port = net.ports.get(key.mac());
                    if (port != null && mode == Mode.EAGER) attach(key, port.port, true, now);
                    return;
                }
                if (e != null && e.role == Role.DESTINATION && e.deferredStart == a.migrationId()) {
                    // Aborted before it could start: the VM goes on running here.
                    e.deferredStart = 0;
                    e.deferredStopped = false;
                    flushBufferLocally(net, e, now);
                    counters.inc(Counter.MIGRATIONS_ABORTED);
                    return;
                }
                if (e == null || e.role != Role.SOURCE || e.migrationId != a.migrationId() || e.phase == Phase.HANDED_OVER) {
                    return;
                }
                net.migrations.remove(e);
                e.aborted = true;
                counters.inc(Counter.MIGRATIONS_ABORTED);
                flushBufferLocally(net, e, now);
                unlockAborted(e, now);
            }
            case MigrationEvent.StandbyGone g -> {
                if (e != null && e.role == Role.DESTINATION && e.migrationId == g.migrationId()) {
                    net.migrations.remove(e);
                    if (e.outgoing != null) net.migrations.put(e.outgoing);
                }
                removePort(key, false, now);
                board.call(id -> new BoardRequest.Detach(id, key, self, true), r -> {}, now);
            }
            case MigrationEvent.SourceGone g -> removePort(key, false, now);
        }
    }

    /** A migration out; {@code newer} is the entry of the VM's return here, if it came back before this one began. */
    private MigrationEntry startSource(VirtualNetwork net, VmKey key, LocalPort port, long migrationId, MigrationEntry newer,
                                       long now) {
        MigrationEntry src = new MigrationEntry(migrationId, key, Role.SOURCE, Phase.PRECOPY, now);
        src.port = port;
        if (newer == null) {
            net.migrations.put(src);
        } else {
            newer.outgoing = src;
        }
        requestLock(net, src, now);
        return src;
    }

    private void requestLock(VirtualNetwork net, MigrationEntry e, long now) {
        board.call(id -> new BoardRequest.LockRecord(id, e.key, e.migrationId, self, config.leaseMillis()), r -> {
            if (e.aborted && r instanceof BoardResponse.Ok) {
                // Granted after the migration was aborted (the unlock overtook it): release it again.
                unlockAborted(e, lastNow);
                return;
            }
            if (net.source(e.key.mac(), e.migrationId) != e) return;
            if (r instanceof BoardResponse.Ok ok) {
                e.lockHeld = true;
                if (ok.record() != null) e.residentVersion = ok.record().version();
                maybeHandOver(net, e, lastNow);
            } else {
                // Still held by the previous migration, or the record does not point here yet.
                e.lockRetryAt = lastNow + retryNanos;
            }
        }, now);
    }

    /** Frames held here for the VM are older than any that will be buffered: they lead the buffer. */
    private void moveHeldToBuffer(VirtualNetwork net, MigrationEntry e) {
        for (Held h : net.order.takeHeldFor(e.key.mac())) {
            e.buffer.add(h);
            e.bufferBytes += h.frame().length;
        }
    }

    private void unlockAborted(MigrationEntry e, long now) {
        board.call(id -> new BoardRequest.Unlock(id, e.key, e.migrationId, Outcome.ABORTED), r -> {}, now);
    }

    /**
     * The source copy stopped: buffer from now on, and end each of the VM's own streams with a
     * MARKER on the path it took, whose tokens the destination will flag its first frames with.
     */
    private void sourceStopped(VirtualNetwork net, MigrationEntry e, long now) {
        e.phase = Phase.STOPPED;
        moveHeldToBuffer(net, e);
        takeBackUnread(net, e, now);
        LocalPort port = e.port;
        if (port == null) return;
        for (OutStream s : port.streams.values()) {
            if (s.hostUsed == OutStream.UNSET || net.awaitingLookup.containsKey(s.dst)) continue;
            long token = nextToken();
            e.streams.add(new StreamToken(s.dst, token));
            e.unackedMarkers.put(token, new SentMarker(port.mac, s.dst, s.hostUsed, token, s.awaitToken, s.versionUsed));
            sendMarker(net, s.hostUsed, port.mac, s.dst, token, s.awaitToken, s.versionUsed, now);
        }
        // Streams whose first frames still wait for a look-up: their MARKER waits behind them.
        net.awaitingLookup.forEach((dst, q) -> {
            if (q.stream().anyMatch(w -> w.port() == port)) {
                long token = nextToken();
                e.streams.add(new StreamToken(dst, token));
                q.add(new VirtualNetwork.AwaitingLookup(port, null, token, now));
            }
        });
    }

    /**
     * Frames the source's port gave the VM that the paused VM never read (they waited in the
     * hypervisor's socket, see {@link Port#takeBackUnread}): they go to the VM's new place ahead of
     * everything buffered, being older. Runs when the source stops, whichever way it learns it.
     */
    private void takeBackUnread(VirtualNetwork net, MigrationEntry e, long now) {
        if (e.port == null) return;
        List<byte[]> unread = new ArrayList<>();
        e.port.port.takeBackUnread(unread::add);
        for (int i = unread.size() - 1; i >= 0; i--) {
            byte[] f = unread.get(i);
            // The host that sent it, as far as this agent knows: its sender's location.
            long src = Ethernet.src(f, 0);
            Location from = net.cache.get(src);
            int origin = from != null && from.host != NodeRecord.NOWHERE && !net.ports.containsKey(src) ? from.host : self;
            e.buffer.addFirst(new Held(f, origin, 0, 0, 0, 0, now));
            e.bufferBytes += f.length;
            e.buffered++;
        }
        counters.add(Counter.TAKEN_BACK, unread.size());
    }

    /** Delivers (through classification, now that the entry allows it) what a migration buffer kept. */
    private void flushBufferLocally(VirtualNetwork net, MigrationEntry e, long now) {
        List<Held> kept = new ArrayList<>(e.buffer);
        e.buffer.clear();
        e.bufferBytes = 0;
        for (Held h : kept) {
            classify(net, h.frame(), 0, h.frame().length, h.origin(), h.flags(), h.token(), h.await(), h.via(), now);
        }
    }

    // ---------------------------------------------------------------- board

    /** An answer from the board. */
    public void onBoardResponse(BoardResponse response, long now) {
        lastNow = now;
        if (response instanceof BoardResponse.Snapshot s) {
            VirtualNetwork net = networks.get(s.vni());
            if (net != null) {
                for (NodeRecord r : s.records()) learn(net, r);
                net.watchedVersion = Math.max(net.watchedVersion, s.version());
            }
        } else if (response instanceof BoardResponse.Ok ok && ok.record() != null) {
            VirtualNetwork net = networks.get(ok.record().key().vni());
            if (net != null) {
                learn(net, ok.record());
                lookupsPending.remove(ok.record().key().mac());
            }
        }
        board.onResponse(response);
    }

    /** A push from the board. */
    public void onBoardEvent(BoardEvent event, long now) {
        lastNow = now;
        switch (event) {
            case BoardEvent.Changed c -> {
                VirtualNetwork net = networks.get(c.record().key().vni());
                if (net != null) learn(net, c.record());
            }
            case BoardEvent.LockWaiter w -> log.debug("agent {}: host {} waits behind migration {} of {}", self,
                    w.waitingHost(), w.migrationId(), w.key());
            case BoardEvent.HostChanged h -> underlay.learnHost(h.host().hostId(), h.host().endpoint());
        }
    }

    private void learn(VirtualNetwork net, NodeRecord r) {
        if (net.cache.update(r) && r.isAttached()) {
            net.hosts.add(r.hostId());
            if (!net.awaitingLookup.isEmpty()) flushAwaitingLookup(net, r.key().mac(), lastNow);
        }
    }

    /** Keeps a frame to a destination the cache does not know until the board answers the lookup (bounded). */
    private void awaitLookup(VirtualNetwork net, LocalPort port, byte[] b, int off, int len, long now) {
        long dst = Ethernet.dst(b, off);
        java.util.ArrayDeque<VirtualNetwork.AwaitingLookup> q = net.awaitingLookup.get(dst);
        if (q == null) {
            q = new java.util.ArrayDeque<>();
            net.awaitingLookup.put(dst, q);
        }
        if (q.size() >= 1_024) {
            counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
            return;
        }
        q.add(new VirtualNetwork.AwaitingLookup(port, Arrays.copyOfRange(b, off, off + len), 0, now));
        lookup(net, dst, now);
    }

    /** Sends what waited for {@code mac}'s location, now that the cache has one (or drops it, counted, if it still has none). */
    private void flushAwaitingLookup(VirtualNetwork net, long mac, long now) {
        java.util.ArrayDeque<VirtualNetwork.AwaitingLookup> q = net.awaitingLookup.remove(mac);
        if (q == null) return;
        // Sent also if the VM has moved on since: it sent these while it ran here.
        for (VirtualNetwork.AwaitingLookup w : q) {
            if (w.frame() != null) {
                send(w.port(), w.frame(), 0, w.frame().length, now);
                continue;
            }
            OutStream s = w.port().stream(mac);
            PendingMarker m = new PendingMarker(net, w.port().mac, mac, s.hostUsed, w.markerToken(), s.awaitToken, s.versionUsed, now);
            pendingMarkers.add(m);
            sendMarker(net, m.host, m.src, m.dst, m.token, m.await, m.version, now);
        }
    }

    private void lookup(VirtualNetwork net, long mac, long now) {
        long last = lookupsPending.get(mac);
        if (last != Long.MIN_VALUE && now - last < retryNanos) return;
        lookupsPending.put(mac, now);
        board.call(id -> new BoardRequest.Lookup(id, new VmKey(net.vni, mac)), r -> {
            Location loc = net.cache.get(mac);
            // Not known yet (a VM being attached, a board that restarted): the frames wait, and the
            // timer asks again until their buffer time runs out.
            if (loc != null && loc.host != NodeRecord.NOWHERE) flushAwaitingLookup(net, mac, lastNow);
        }, now);
    }

    private void resync(long now) {
        for (VirtualNetwork net : networks.values()) {
            board.call(id -> new BoardRequest.Watch(id, self, net.vni, net.watchedVersion), r -> {}, now);
        }
    }

    // ---------------------------------------------------------------- time

    /** Timers: retries, bounded waits, grace periods, heartbeats. Call often (every millisecond or so). */
    public void tick(long now) {
        lastNow = now;
        if (!started) return;
        board.tick(now);
        if (now - lastHeartbeat >= config.leaseMillis() * MS / 3) {
            lastHeartbeat = now;
            board.call(id -> new BoardRequest.Heartbeat(id, self), r -> {}, now);
        }
        if (now - lastResync >= config.resyncMillis() * MS) {
            lastResync = now;
            resync(now);
        }
        // A push can be missed (a host that registered while this agent was connecting): sending to
        // a host whose endpoint is not known here asks the board again, at most once per retry.
        long unknown = underlay.unknownHosts();
        if (unknown != unknownHostsSeen && now - lastHostListing >= config.retryMillis() * MS) {
            unknownHostsSeen = unknown;
            listHosts(now);
        }
        for (int i = 0; i < pendingMarkers.size(); i++) {
            PendingMarker m = pendingMarkers.get(i);
            // Resent until acknowledged, also after the VM has moved on: its frames still wait for it.
            if (now - m.firstSentAt >= 10 * config.graceMillis() * MS) {
                counters.inc(Counter.MARKERS_ABANDONED);
                pendingMarkers.remove(i--);
            } else if (now - m.sentAt >= retryNanos) {
                m.sentAt = now;
                sendMarker(m.net, m.host, m.src, m.dst, m.token, m.await, m.version, now);
            }
        }
        for (VirtualNetwork net : networks.values()) {
            if (!net.awaitingLookup.isEmpty()) tickAwaitingLookup(net, now);
            if (!net.returned.isEmpty()) {
                for (MigrationEntry r : new ArrayList<>(net.returned.values())) {
                    MigrationEntry newer = r;
                    for (MigrationEntry o = r.outgoing; o != null; o = o.outgoing) {
                        if (tickEntry(net, o, false, now)) {
                            newer.outgoing = o.outgoing;
                        } else {
                            newer = o;
                        }
                    }
                    if (tickEntry(net, r, false, now)) {
                        net.returned.remove(r.key.mac(), r);
                        if (r.outgoing != null) net.returned.put(r.key.mac(), r.outgoing);
                    }
                }
            }
            tickMigrations(net, now);
            if (net.order.heldFrames() > 0) releaseHeld(net, now);
            if (now - lastForget > 10_000 * MS) net.order.forgetOld(now);
        }
        if (now - lastForget > 10_000 * MS) {
            lastForget = now;
            // Both only rate-limit: forgetting them costs at most one more hint or look-up.
            hintsSent.clear();
            lookupsPending.clear();
        }
    }

    /** Frames waiting for a look-up: asked again, and dropped (counted) past the buffer time. */
    private void tickAwaitingLookup(VirtualNetwork net, long now) {
        for (long mac : new ArrayList<>(net.awaitingLookup.keySet())) {
            var q = net.awaitingLookup.get(mac);
            while (!q.isEmpty() && now - q.peekFirst().sinceNanos() > config.bufferMillis() * MS) {
                if (q.pollFirst().frame() != null) counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
            }
            if (q.isEmpty()) {
                net.awaitingLookup.remove(mac);
            } else {
                lookup(net, mac, now);
            }
        }
    }

    private void tickMigrations(VirtualNetwork net, long now) {
        if (net.migrations.size() == 0) return;
        for (MigrationEntry top : new ArrayList<>(net.migrations.entries())) {
            MigrationEntry newer = top;
            for (MigrationEntry e = top.outgoing; e != null; e = e.outgoing) {
                if (tickEntry(net, e, false, now)) {
                    newer.outgoing = e.outgoing;
                    retire(e);
                } else {
                    newer = e;
                }
            }
            if (tickEntry(net, top, true, now)) {
                net.migrations.remove(top);
                retire(top);
                if (top.outgoing != null) succeed(net, top, top.outgoing);
            }
        }
    }

    /** The entry before a finished one takes its place: kept relaying if handed over, the table's row otherwise. */
    private void succeed(VirtualNetwork net, MigrationEntry finished, MigrationEntry older) {
        if (older.role == Role.SOURCE && older.phase == Phase.HANDED_OVER) {
            net.keepReturned(older, finished.role == Role.DESTINATION ? finished.migrationId : 0);
        } else {
            net.migrations.put(older);
        }
    }

    /** An entry leaves the table: what it still keeps can go nowhere any more, and is counted. */
    private void retire(MigrationEntry e) {
        if (!e.buffer.isEmpty() || !e.egressHold.isEmpty()) {
            log.warn("agent {}: migration {} of {} ends with {} frames kept; dropped (drop_migration_ended)", self, e.migrationId,
                    e.key, e.buffer.size() + e.egressHold.size());
            counters.add(Counter.DROP_MIGRATION_ENDED, e.buffer.size() + e.egressHold.size());
            e.buffer.clear();
            e.bufferBytes = 0;
            e.egressHold.clear();
            e.egressBytes = 0;
        }
    }

    /** Timers of one entry; returns true when the entry is done and leaves the table. */
    private boolean tickEntry(VirtualNetwork net, MigrationEntry e, boolean newest, long now) {
        {
            expireBuffer(e, now);
            boolean due = now - e.lastRetryAt >= retryNanos;
            switch (e.phase) {
                case PRECOPY, STOPPED -> {
                    if (!e.lockHeld && e.lockRetryAt != 0 && now >= e.lockRetryAt) {
                        e.lockRetryAt = 0;
                        requestLock(net, e, now);
                    }
                    if (due && e.phase == Phase.STOPPED) {
                        e.lastRetryAt = now;
                        resendSourceMarkers(net, e, now);
                    }
                }
                case HANDED_OVER -> {
                    if (due) {
                        e.lastRetryAt = now;
                        resendSourceMarkers(net, e, now);
                    }
                    boolean quiet = now - e.lastActivityAt >= config.graceMillis() * MS;
                    boolean settled = e.unackedMarkers.isEmpty() && e.unlocked;
                    if (quiet && (settled || now - e.handedOverAt >= 10 * config.graceMillis() * MS)) {
                        if (!settled) log.warn("agent {}: dropping migration {} of {} unsettled", self, e.migrationId, e.key);
                        return true;
                    }
                }
                case INCOMING, RESUMED -> {
                    if (due) {
                        e.lastRetryAt = now;
                        if (!e.peerConfirmed) {
                            refreshPeer(net, e, now);
                            if (e.peer != 0) sendControl(net, e.peer, new ControlMessage.Prepare(e.migrationId, e.key.mac()));
                        }
                        if (e.peer != 0 && e.phase == Phase.RESUMED) {
                            sendControl(net, e.peer, new ControlMessage.Handover(e.migrationId, e.key.mac()));
                        }
                    }
                    // Only where the VM runs: an older entry's VM has moved on since.
                    if (newest && e.phase == Phase.RESUMED && sourceLost(net, e, now)) return true;
                }
                case RUNNING -> { }
            }
        }
        return false;
    }

    /**
     * A destination whose source has not answered its HANDOVER for half a lease may have lost it (the
     * source's host died). It tells the board that its copy runs, queued behind the source's lock:
     * applied at the source's unlock if the source is only slow, or, design §5, when the source's lock
     * lapses, which is then released as COMPLETED. Once the board points here, the VM runs here without
     * the source's streams: returns true, and the entry ends.
     */
    private boolean sourceLost(VirtualNetwork net, MigrationEntry e, long now) {
        if (now - e.resumedAt < config.leaseMillis() * MS / 2) return false;
        LocalPort port = e.port;
        if (!e.reportedRunning) {
            e.reportedRunning = true;
            log.warn("agent {}: the source (host {}) of migration {} of {} has not answered for {} ms; telling the board the VM runs here",
                    self, e.peer, e.migrationId, e.key, (now - e.resumedAt) / MS);
            board.call(id -> new BoardRequest.Attach(id, e.key, port.port.vmId(), port.port.ips(), self, true), r -> {}, now);
            return false;
        }
        Location loc = net.cache.get(e.key.mac());
        if (loc == null || loc.host != self) return false;
        log.warn("agent {}: migration {} of {} ends here without its source's HANDOVER_ACK", self, e.migrationId, e.key);
        e.phase = Phase.RUNNING;
        for (Held h : e.egressHold) send(port, h.frame(), 0, h.frame().length, now);
        e.egressHold.clear();
        e.egressBytes = 0;
        counters.inc(Counter.MIGRATIONS_SOURCE_LOST);
        return true;
    }

    /**
     * The source is where the record points once the updates before ours are applied: in a chain
     * A to B to C, C's standby may first see A. Asked again until the source answers the HANDOVER.
     */
    private void refreshPeer(VirtualNetwork net, MigrationEntry e, long now) {
        if (now - e.peerRefreshedAt < 2 * retryNanos) return;
        e.peerRefreshedAt = now;
        board.call(id -> new BoardRequest.Lookup(id, e.key), r -> {
            if (r instanceof BoardResponse.Ok ok && ok.record() != null && ok.record().isAttached()
                    && ok.record().hostId() != self && net.incoming(e.key.mac(), e.migrationId) == e && !e.peerConfirmed) {
                e.peer = ok.record().hostId();
            }
        }, now);
    }

    private void resendSourceMarkers(VirtualNetwork net, MigrationEntry e, long now) {
        for (SentMarker m : e.unackedMarkers.values()) {
            sendMarker(net, m.host(), m.src(), m.dst(), m.token(), m.await(), m.version(), now);
        }
    }

    private void expireBuffer(MigrationEntry e, long now) {
        while (!e.buffer.isEmpty() && now - e.buffer.peekFirst().sinceNanos() > config.bufferMillis() * MS) {
            Held h = e.buffer.pollFirst();
            e.bufferBytes -= h.frame().length;
            counters.inc(Counter.DROP_BUFFER_EXPIRED);
        }
    }

    // ---------------------------------------------------------------- inspection

    public int hostId() { return self; }
    public AgentConfig config() { return config; }
    public Counters counters() { return counters; }

    public Collection<VirtualNetwork> networks() {
        return networks.values();
    }

    /** Entries of every VNI's migration table. */
    public List<MigrationEntry> migrations() {
        List<MigrationEntry> out = new ArrayList<>();
        for (VirtualNetwork net : networks.values()) out.addAll(net.migrations.entries());
        return out;
    }

    /** Where this agent believes the VM is, or null. */
    public Location locate(int vni, long mac) {
        VirtualNetwork net = networks.get(vni);
        return net == null ? null : net.cache.get(mac);
    }

    public int outstandingBoardCalls() {
        return board.outstanding();
    }
}
