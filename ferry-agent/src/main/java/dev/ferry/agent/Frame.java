package dev.ferry.agent;

import dev.ferry.wire.Ethernet;
import dev.ferry.wire.GeneveFrame;
import java.util.Arrays;

/**
 * One frame on its way through the agent: a view of an inner Ethernet frame and the fields of
 * Ferry's Geneve option that travel with it (design §4). Mutable and reused, so the packet path
 * allocates nothing: the receive path has one, a frame from a VM another. A frame the agent keeps
 * (buffered, held, waiting) is copied into a {@link Held}, and replayed through a frame of its own.
 * Used on the agent's thread only.
 */
final class Frame {
    byte[] buf;
    int off;
    int len;
    /** The agent that first sent it into the underlay. */
    int origin;
    int flags;
    /** A data frame's stamp (the location version it was sent by), or a MARKER's token. */
    long token;
    /** The MARKER it waits behind, when flagged {@code AWAIT}. */
    long await;
    /** The migration an old location relayed it for; 0 if none did. */
    long via;

    Frame set(byte[] buf, int off, int len, int origin, int flags, long token, long await, long via) {
        this.buf = buf;
        this.off = off;
        this.len = len;
        this.origin = origin;
        this.flags = flags;
        this.token = token;
        this.await = await;
        this.via = via;
        return this;
    }

    /** The inner frame and option of a received Geneve packet. */
    Frame of(GeneveFrame rx) {
        return set(rx.buffer(), rx.payloadOffset(), rx.payloadLength(), rx.origin(), rx.flags(), rx.token(), rx.await(), rx.via());
    }

    /** A kept frame, as it was kept. */
    Frame of(Held h) {
        return set(h.frame(), 0, h.frame().length, h.origin(), h.flags(), h.token(), h.await(), h.via());
    }

    boolean has(int flag) {
        return (flags & flag) != 0;
    }

    long dst() {
        return Ethernet.dst(buf, off);
    }

    long src() {
        return Ethernet.src(buf, off);
    }

    /** A copy to keep: the receive buffer is reused for the next datagram. */
    Held keep(long now) {
        return new Held(Arrays.copyOfRange(buf, off, off + len), origin, flags, token, await, via, now);
    }
}
