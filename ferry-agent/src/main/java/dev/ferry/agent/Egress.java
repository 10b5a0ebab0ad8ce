package dev.ferry.agent;

import static dev.ferry.wire.Geneve.FLAG_AWAIT;

import dev.ferry.board.NodeRecord;
import dev.ferry.wire.Arp;
import dev.ferry.wire.Ethernet;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;

/**
 * Frames local VMs send: each goes to its destination's cached location (a look-up first when
 * there is none, frames waiting in order), or is delivered here through classification when the
 * destination is local. A stream whose destination moved changes path with a MARKER (design §6.5).
 * Broadcasts are flooded to the VNI's hosts; ARP requests the board can answer are answered here.
 * Agent's thread only.
 */
final class Egress {
    private static final long MS = 1_000_000L;
    /** Frames kept for one destination the cache does not know yet, while the board is asked. */
    private static final int AWAITING_LOOKUP_MAX = 1_024;
    /**
     * Per VNI: destinations waiting for a look-up at once, and the bytes kept for them. A guest that
     * sends to random MACs would otherwise grow both, and the board's look-ups with them.
     */
    static final int AWAITING_DESTINATIONS_MAX = 1_024;
    static final long AWAITING_BYTES_MAX = 16L << 20;

    private final int self;
    private final AgentConfig config;
    private final Counters counters;
    private final Wire wire;
    private final Markers markers;
    private final Ingress ingress;
    private final BoardSync board;
    private final boolean marksPathChanges;
    /** The frame a VM's send is carried in: not kept, so reused. */
    private final Frame out = new Frame();
    private boolean sending;
    /** A VM's broadcast, flooded as it is: handing it to ports and the wire sends nothing back here. */
    private final Frame broadcastFrame = new Frame();
    private final byte[] arpReply = new byte[64];

    Egress(AgentConfig config, Counters counters, Wire wire, Markers markers, Ingress ingress, BoardSync board,
           boolean marksPathChanges) {
        this.self = config.hostId();
        this.config = config;
        this.counters = counters;
        this.wire = wire;
        this.markers = markers;
        this.ingress = ingress;
        this.board = board;
        this.marksPathChanges = marksPathChanges;
    }

    /** One frame a local VM sent, to its destination's location as this agent knows it. */
    void send(LocalPort port, byte[] b, int off, int len, long now) {
        VirtualNetwork net = port.net;
        long dst = Ethernet.dst(b, off);
        if (Ethernet.isGroup(dst)) {
            broadcast(net, port, b, off, len, now);
            return;
        }
        Location loc = net.cache.get(dst);
        if (loc == null || loc.host == NodeRecord.NOWHERE) {
            // Even a VM with a port here may be only a paused incoming copy: the board decides.
            awaitLookup(net, port, b, off, len, now);
            return;
        }
        if (!net.awaitingLookup.isEmpty() && net.awaitingLookup.containsKey(dst)) {
            // Earlier frames to this destination still wait for the board: keep the order.
            awaitLookup(net, port, b, off, len, now);
            return;
        }
        int host = loc.host;
        OutStream s = port.stream(dst);
        // A newer location is a new path even on the same host: the VM may have left and come back.
        if (marksPathChanges && s.hostUsed != OutStream.UNSET && (s.hostUsed != host || s.versionUsed != loc.version)) {
            markers.switchPath(net, port, s, now);
        }
        s.hostUsed = host;
        s.versionUsed = loc.version;
        int flags = s.awaitToken != 0 ? FLAG_AWAIT : 0;
        // A data frame's token field carries the version of the location it was sent by.
        // A send started from within a send (a local delivery's consequences) gets a frame of its own.
        Frame f = sending ? new Frame() : out;
        f.set(b, off, len, self, flags, loc.version, s.awaitToken, 0);
        boolean outer = !sending;
        sending = true;
        try {
            if (host == self) {
                ingress.classify(net, f, now);
            } else {
                wire.send(net, host, f);
            }
        } finally {
            if (outer) sending = false;
        }
    }

    /** Sends frames a VM sent while they could not leave yet, in order. */
    void sendKept(LocalPort port, Iterable<Held> kept, long now) {
        for (Held h : kept) send(port, h.frame(), 0, h.frame().length, now);
    }

    private void broadcast(VirtualNetwork net, LocalPort from, byte[] b, int off, int len, long now) {
        if (answerArp(net, from, b, off, len, now)) return;
        Frame f = broadcastFrame.set(b, off, len, self, 0, 0, 0, 0);
        ingress.deliverBroadcast(net, f, from, now);
        for (int host : net.hosts) {
            if (host != self) {
                counters.inc(Counter.BROADCAST_OUT);
                wire.send(net, host, f);
            }
        }
    }

    /** Answers an ARP request from the board's ip-to-mac table when it knows the answer. */
    private boolean answerArp(VirtualNetwork net, LocalPort from, byte[] b, int off, int len, long now) {
        int at = off + Ethernet.HEADER_LENGTH;
        if (Ethernet.etherType(b, off) != Ethernet.TYPE_ARP || !Arp.isValid(b, at, len - Ethernet.HEADER_LENGTH)
                || Arp.op(b, at) != Arp.OP_REQUEST || Arp.senderIp(b, at) == Arp.targetIp(b, at)) {
            return false;
        }
        long mac = net.cache.macOf(Arp.targetIp(b, at));
        if (mac < 0) return false;
        int n = Arp.write(arpReply, 0, Ethernet.TYPE_ARP, Arp.OP_REPLY, Arp.senderMac(b, at), mac, Arp.targetIp(b, at),
                Arp.senderMac(b, at), Arp.senderIp(b, at));
        counters.inc(Counter.ARP_ANSWERED);
        ingress.deliverToPort(from, arpReply, 0, n, now);
        return true;
    }

    // ------------------------------------------------------------ destinations the cache does not know

    /** Keeps a frame to a destination the cache does not know until the board answers the look-up (bounded). */
    private void awaitLookup(VirtualNetwork net, LocalPort port, byte[] b, int off, int len, long now) {
        long dst = Ethernet.dst(b, off);
        ArrayDeque<VirtualNetwork.AwaitingLookup> q = net.awaitingLookup.get(dst);
        if (q == null && net.awaitingLookup.size() >= AWAITING_DESTINATIONS_MAX || net.awaitingBytes + Held.cost(len) > AWAITING_BYTES_MAX) {
            counters.inc(Counter.DROP_LOOKUP_WAIT_FULL);
            return;
        }
        if (q == null) {
            q = new ArrayDeque<>();
            net.awaitingLookup.put(dst, q);
        }
        if (q.size() >= AWAITING_LOOKUP_MAX) {
            counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
            return;
        }
        q.add(new VirtualNetwork.AwaitingLookup(port, Arrays.copyOfRange(b, off, off + len), 0, now));
        net.awaitingBytes += Held.cost(len);
        board.lookup(net, dst, now);
    }

    /** The VM stopped to migrate while a stream's first frames waited for a look-up: its MARKER waits behind them. */
    void queueMarkerBehindLookup(VirtualNetwork net, LocalPort port, long dst, long token, long now) {
        net.awaitingLookup.get(dst).add(new VirtualNetwork.AwaitingLookup(port, null, token, now));
    }

    /** Sends what waited for {@code mac}'s location, now that the cache has one. */
    void learned(VirtualNetwork net, long mac, long now) {
        if (net.awaitingLookup.isEmpty()) return;
        ArrayDeque<VirtualNetwork.AwaitingLookup> q = net.awaitingLookup.remove(mac);
        if (q == null) return;
        // Sent also if the VM has moved on since: it sent these while it ran here.
        for (VirtualNetwork.AwaitingLookup w : q) {
            if (w.frame() != null) {
                net.awaitingBytes -= Held.cost(w.frame().length);
                send(w.port(), w.frame(), 0, w.frame().length, now);
            } else {
                markers.sendQueued(net, w.port(), w.port().stream(mac), w.markerToken(), now);
            }
        }
    }

    /** Frames waiting for a look-up: asked again, and dropped (counted) past the buffer time. */
    void tick(VirtualNetwork net, long now) {
        if (net.awaitingLookup.isEmpty()) return;
        for (long mac : new ArrayList<>(net.awaitingLookup.keySet())) {
            ArrayDeque<VirtualNetwork.AwaitingLookup> q = net.awaitingLookup.get(mac);
            while (!q.isEmpty() && now - q.peekFirst().sinceNanos() > config.bufferMillis() * MS) {
                byte[] expired = q.pollFirst().frame();
                if (expired != null) {
                    net.awaitingBytes -= Held.cost(expired.length);
                    counters.inc(Counter.DROP_UNKNOWN_DESTINATION);
                }
            }
            if (q.isEmpty()) {
                net.awaitingLookup.remove(mac);
            } else {
                board.lookup(net, mac, now);
            }
        }
    }
}
