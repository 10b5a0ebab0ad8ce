package dev.ferry.agent;

import static dev.ferry.wire.Geneve.FLAG_AWAIT;
import static dev.ferry.wire.Geneve.FLAG_MARKER;

import dev.ferry.agent.MigrationEntry.SentMarker;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Ethernet;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MARKER ordering (design §6.5), both ends of it. The sending side ends a stream's old path with a
 * MARKER, flags the new path's frames to await it, and resends it until acknowledged. The receiving
 * side, where the VM runs, holds flagged frames (in {@link StreamOrder}) until their MARKER is
 * consumed, consumes MARKERs, and acknowledges them. Agent's thread only.
 */
final class Markers {
    private static final Logger log = LoggerFactory.getLogger(Markers.class);
    private static final long MS = 1_000_000L;
    /** EtherType of a MARKER's inner frame: IEEE local experimental. Its payload is the old path's version. */
    static final int MARKER_ETHERTYPE = 0x88B5;

    /** Where a MARKER (or a released frame) goes once decided: classification, as a received frame. */
    interface Classifier {
        void classify(VirtualNetwork net, Frame f, long now);
    }

    private final int self;
    private final AgentConfig config;
    private final Counters counters;
    private final Wire wire;
    private final long retryNanos;
    private final List<PendingMarker> pending = new ArrayList<>();
    private final byte[] scratch = new byte[64];
    private final Frame marker = new Frame();
    private final long[] expired = new long[1];
    private Classifier classifier;
    private long tokenSeq;

    Markers(AgentConfig config, long incarnation, Counters counters, Wire wire) {
        this.self = config.hostId();
        this.config = config;
        this.counters = counters;
        this.wire = wire;
        this.retryNanos = config.retryMillis() * MS;
        // Unique across restarts (the random incarnation), so a token of a dead process matches nothing.
        this.tokenSeq = (long) self << 48 | (Long.rotateLeft(incarnation, 24) & 0xFFFF_FFFF_FFFFL);
    }

    void classifier(Classifier classifier) {
        this.classifier = classifier;
    }

    long nextToken() {
        return ++tokenSeq;
    }

    // ------------------------------------------------------------ sending side

    /**
     * The stream's destination moved: end the old path with a MARKER (itself waiting behind the
     * previous one, if that is not acknowledged yet) and flag the new path's frames to wait for it.
     */
    void switchPath(VirtualNetwork net, LocalPort port, OutStream s, long now) {
        long token = nextToken();
        long previous = s.awaitToken;
        // Flagged before the MARKER leaves: one to a local VM is acknowledged while it is being sent.
        s.awaitToken = token;
        sendPending(net, port, s, token, previous, now);
    }

    /** A MARKER a stream's first frames waited for a look-up behind: it leaves after them, resent like any. */
    void sendQueued(VirtualNetwork net, LocalPort port, OutStream s, long token, long now) {
        sendPending(net, port, s, token, s.awaitToken, now);
    }

    /** Ends {@code s}'s old path with MARKER {@code token}, waiting behind {@code await}; resent until acknowledged. */
    private void sendPending(VirtualNetwork net, LocalPort port, OutStream s, long token, long await, long now) {
        PendingMarker m = new PendingMarker(net, port.mac, s.dst, s.hostUsed, token, await, s.versionUsed, now);
        pending.add(m);
        send(net, m.host, m.src, m.dst, m.token, m.await, m.version, now);
    }

    /** A MARKER: its inner frame carries the version of the location its old path went by. */
    void send(VirtualNetwork net, int host, long src, long dst, long token, long await, long version, long now) {
        if (log.isTraceEnabled()) {
            log.trace("{} agent {} sends marker {} ({}->{}) await {} to {}", Wire.ms(now), self, token, Ethernet.format(src),
                    Ethernet.format(dst), await, host);
        }
        counters.inc(Counter.MARKERS_SENT);
        int at = Ethernet.writeHeader(scratch, 0, dst, src, MARKER_ETHERTYPE);
        Bytes.put64(scratch, at, version);
        marker.set(scratch, 0, at + 8, self, FLAG_MARKER | (await != 0 ? FLAG_AWAIT : 0), token, await, 0);
        if (host == self) {
            classifier.classify(net, marker, now);
        } else {
            wire.send(net, host, marker);
        }
    }

    /** The MARKERs a stopped source sent at the end of its VM's streams, again. */
    void resend(VirtualNetwork net, MigrationEntry e, long now) {
        for (SentMarker m : e.unackedMarkers.values()) {
            send(net, m.host(), m.src(), m.dst(), m.token(), m.await(), m.version(), now);
        }
    }

    /** The version of the old path a MARKER ends (its payload). */
    static long version(Frame f) {
        return f.len >= Ethernet.HEADER_LENGTH + 8 ? Bytes.i64(f.buf, f.off + Ethernet.HEADER_LENGTH) : 0;
    }

    void onAck(VirtualNetwork net, ControlMessage.MarkerAck a) {
        LocalPort port = net.ports.get(a.srcMac());
        OutStream flagged = port == null ? null : port.streams.get(a.dstMac());
        if (flagged != null && flagged.awaitToken == a.token()) flagged.awaitToken = 0;
        // By token: the VM that sent the MARKER may have left this host since.
        pending.removeIf(m -> m.token == a.token());
        for (MigrationEntry e = net.migrations.get(a.srcMac()); e != null; e = e.outgoing) {
            e.unackedMarkers.remove(a.token());
        }
        for (MigrationEntry r = net.returned.get(a.srcMac()); r != null; r = r.outgoing) {
            r.unackedMarkers.remove(a.token());
        }
    }

    /** Resent until acknowledged, also after the VM has moved on: its frames still wait for them. */
    void tick(long now) {
        for (int i = 0; i < pending.size(); i++) {
            PendingMarker m = pending.get(i);
            if (now - m.firstSentAt >= 10 * config.graceMillis() * MS) {
                counters.inc(Counter.MARKERS_ABANDONED);
                pending.remove(i--);
            } else if (now - m.sentAt >= retryNanos) {
                m.sentAt = now;
                send(m.net, m.host, m.src, m.dst, m.token, m.await, m.version, now);
            }
        }
    }

    // ------------------------------------------------------------ receiving side

    /** A flagged frame whose MARKER has passed here: the order is met, and hosts further on may not know the token. */
    static void unflagIfSeen(VirtualNetwork net, Frame f) {
        if (f.has(FLAG_AWAIT) && net.order.isSeen(f.await)) {
            f.flags &= ~FLAG_AWAIT;
            f.await = 0;
        }
    }

    /** True if {@code f}, about to be delivered, must wait for its MARKER; it is then held (or dropped, counted, if the hold is full). */
    boolean holdIfAwaiting(VirtualNetwork net, Frame f, long now) {
        if (!f.has(FLAG_AWAIT)) return false;
        if (net.order.heldBytes() + f.len > config.holdBytes()) {
            counters.inc(Counter.DROP_HOLD_FULL);
            return true;
        }
        wire.trace("holds", f);
        net.order.hold(f.keep(now));
        counters.inc(Counter.HELD);
        return true;
    }

    /** A MARKER reached the VM it ends a stream to: consumed, acknowledged, and what waited for it goes on. */
    void consume(VirtualNetwork net, LocalPort p, Frame f, long now) {
        if (log.isTraceEnabled()) {
            log.trace("{} agent {} consumes marker {} ({}->{}) from origin {}", Wire.ms(now), self, f.token,
                    Ethernet.format(f.src()), Ethernet.format(p.mac), f.origin);
        }
        counters.inc(Counter.MARKERS_CONSUMED);
        int origin = f.origin;
        long src = f.src();
        long token = f.token;
        if (!net.order.markSeen(token, p.mac, now)) counters.inc(Counter.MARKER_TOKENS_REFUSED);
        wire.sendControl(net, origin, new ControlMessage.MarkerAck(src, p.mac, token));
        releaseHeld(net, now);
    }

    /** A delivered frame still flagged: its sender goes on flagging until told its MARKER is through. */
    void ackFlagged(VirtualNetwork net, LocalPort p, Frame f, long now) {
        if (f.has(FLAG_AWAIT) && f.origin != self && net.order.ackDue(f.await, now, retryNanos)) {
            wire.sendControl(net, f.origin, new ControlMessage.MarkerAck(f.src(), p.mac, f.await));
        }
    }

    /** Frames whose MARKER has passed (or whose wait ran out, counted) are classified again, now free to go. */
    void releaseHeld(VirtualNetwork net, long now) {
        if (net.order.heldFrames() == 0) return;
        List<Held> ready;
        do {
            expired[0] = 0;
            ready = net.order.releasable(now, config.holdMillis() * MS, expired);
            counters.add(Counter.MARKER_WAIT_EXPIRED, expired[0]);
            Frame f = new Frame();
            for (Held h : ready) {
                f.of(h);
                f.flags &= ~FLAG_AWAIT;
                f.await = 0;
                classifier.classify(net, f, now);
            }
        } while (!ready.isEmpty());
    }
}
