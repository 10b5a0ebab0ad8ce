package dev.ferry.agent;

import static dev.ferry.wire.Geneve.FLAG_FORWARDED;
import static dev.ferry.wire.Geneve.FLAG_MARKER;

import dev.ferry.agent.seal.Seal;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's side of the underlay: encapsulates frames and control messages in Geneve with Ferry's
 * option and sends them to other agents. A control message to this agent itself goes straight back
 * in, as a message from another agent would. Agent's thread only; one transmit buffer, reused.
 */
final class Wire {
    private static final Logger log = LoggerFactory.getLogger(Wire.class);

    /** Takes a control message this agent sent itself. */
    interface Loopback {
        void onControl(VirtualNetwork net, int origin, ControlMessage m, long now);
    }

    private final int self;
    private final Underlay underlay;
    private final Seal seal;
    private final KeyWait keyWait;
    private final Counters counters;
    private final Clock clock;
    private final byte[] tx = new byte[65_536];
    private Loopback loopback;

    /** The time of the event being handled, for what runs inside it without a clock of its own. */
    interface Clock {
        long now();
    }

    Wire(int self, Underlay underlay, Seal seal, KeyWait keyWait, Counters counters, Clock clock) {
        this.self = self;
        this.underlay = underlay;
        this.seal = seal;
        this.keyWait = keyWait;
        this.counters = counters;
        this.clock = clock;
    }

    void loopback(Loopback loopback) {
        this.loopback = loopback;
    }

    /** Sends {@code f} as it is to agent {@code to}. */
    void send(VirtualNetwork net, int to, Frame f) {
        send(net, to, f, f.flags, f.via);
    }

    /** Sends {@code f} on from an old location, on behalf of migration {@code via} (0: a stale sender's, relayed once). */
    void relay(VirtualNetwork net, int to, Frame f, long via) {
        trace("relays to " + to, f);
        if (!f.has(FLAG_MARKER)) counters.inc(Counter.RELAYED);
        send(net, to, f, f.flags | FLAG_FORWARDED, via);
    }

    private void send(VirtualNetwork net, int to, Frame f, int flags, long via) {
        boolean control = (flags & FLAG_MARKER) != 0;
        if (f.len > tx.length - Geneve.FERRY_HEADER_LENGTH) {
            // Ports bound what VMs send; this bounds everything else (a relayed datagram) too.
            counters.inc(Counter.DROP_FRAME_TOO_LONG);
            return;
        }
        int at = GeneveWriter.writeHeader(tx, 0, net.vni, control, Geneve.PROTOCOL_ETHERNET, flags, f.origin, f.token, f.await, via);
        System.arraycopy(f.buf, f.off, tx, at, f.len);
        counters.inc(Counter.UNDERLAY_OUT);
        out(to, at + f.len);
    }

    void sendControl(VirtualNetwork net, int to, ControlMessage m) {
        if (to == self) {
            loopback.onControl(net, self, m, clock.now());
            return;
        }
        int at = GeneveWriter.writeHeader(tx, 0, net.vni, true, Geneve.PROTOCOL_FERRY_CONTROL, 0, self, 0, 0);
        int n = ControlCodec.encode(m, tx, at);
        counters.inc(Counter.CONTROL_OUT);
        out(to, at + n);
    }

    private void out(int to, int length) {
        out(to, tx, length);
    }

    /**
     * Seals a datagram for {@code to} (design §7b) and sends it; without {@code to}'s key it waits for
     * it, and so does what follows it there.
     */
    void out(int to, byte[] datagram, int length) {
        long now = clock.now();
        if (keyWait.outgoingTo(to)) {
            keyWait.hold(to, false, datagram, 0, length, now);
            return;
        }
        switch (seal.seal(to, datagram, 0, length, now)) {
            case SEALED -> underlay.send(to, seal.sealed(), 0, seal.sealedLength());
            case PLAIN -> underlay.send(to, datagram, 0, length);
            case NO_KEY -> keyWait.hold(to, false, datagram, 0, length, now);
            case INSECURE_PEER -> counters.inc(Counter.DROP_PEER_INSECURE);
        }
    }

    /** A trace line about a frame; the head of its payload identifies it (the lab's traffic puts flow and sequence there). */
    void trace(String what, Frame f) {
        if (!log.isTraceEnabled()) return;
        StringBuilder head = new StringBuilder();
        for (int i = f.off + Ethernet.HEADER_LENGTH; i < Math.min(f.off + f.len, f.off + Ethernet.HEADER_LENGTH + 12); i++) {
            head.append(String.format("%02x", f.buf[i]));
        }
        log.trace("{} agent {} {} frame {}->{} payload {} flags {} await {}", ms(clock.now()), self, what,
                Ethernet.format(f.src()), Ethernet.format(f.dst()), head, f.flags, f.await);
    }

    /** A time for trace lines: milliseconds, which in a simulation are simulated. */
    static String ms(long nanos) {
        return String.format(Locale.ROOT, "%9.3f ms", nanos / 1e6);
    }
}
