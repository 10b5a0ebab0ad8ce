package dev.ferry.agent;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * The ordering stage, just before a frame is handed to a local VM. A stream (one VM's frames to
 * another) whose path changes is cut into segments: the sender ends the old path with a MARKER and
 * flags the new path's frames to await that MARKER's token; a MARKER itself awaits the previous one
 * while that is not acknowledged. Every path is FIFO up to the VM, so a frame may be delivered
 * exactly when the MARKER it awaits has been consumed here; holding by awaited token, in arrival
 * order, keeps every stream in the order it was sent. When the VM migrates, the tokens consumed
 * here travel to its destination in HANDOVER_ACK, and the frames still held are relayed there.
 */
final class StreamOrder {
    /** Token to the time (ns) its MARKER passed; entries are forgotten after {@link #forgetAfterNanos}. */
    private final Long2LongHashMap seen = new Long2LongHashMap(Long.MIN_VALUE);
    /** Token to the VM (MAC) whose stream it ended. */
    private final Long2LongHashMap seenDst = new Long2LongHashMap(-1);
    /** Token to the last time an acknowledgement for it was sent because of a flagged frame. */
    private final Long2LongHashMap acked = new Long2LongHashMap(Long.MIN_VALUE);
    /** Awaited token to the packets waiting for it, in arrival order. */
    private final Long2ObjectHashMap<ArrayDeque<Held>> held = new Long2ObjectHashMap<>();
    /**
     * Tokens remembered per VNI, consumed and acknowledged each: a sender on the underlay can plant
     * one with every MARKER or flagged frame, and each is kept for {@link #forgetAfterNanos}.
     */
    static final int MAX_TOKENS = 65_536;

    private final long forgetAfterNanos;
    private int heldFrames;
    private long heldBytes;

    StreamOrder(long forgetAfterNanos) {
        this.forgetAfterNanos = forgetAfterNanos;
    }

    boolean isSeen(long token) {
        return seen.get(token) != Long.MIN_VALUE;
    }

    /** Remembers a consumed MARKER's token; false (not remembered) when {@link #MAX_TOKENS} are already. */
    boolean markSeen(long token, long dst, long now) {
        if (seen.get(token) != Long.MIN_VALUE) return true;
        if (seen.size() >= MAX_TOKENS) return false;
        seen.put(token, now);
        seenDst.put(token, dst);
        return true;
    }

    /** Tokens of MARKERs to {@code dst} consumed here (and not yet forgotten). */
    List<Long> consumedFor(long dst) {
        List<Long> out = new ArrayList<>();
        seenDst.forEach((token, d) -> {
            if (d == dst) out.add(token);
        });
        return out;
    }

    /** Takes out, in arrival order per token, every held packet addressed to {@code dst}. */
    List<Held> takeHeldFor(long dst) {
        List<Held> out = new ArrayList<>();
        Long2ObjectHashMap<ArrayDeque<Held>>.KeyIterator it = held.keySet().iterator();
        while (it.hasNext()) {
            ArrayDeque<Held> q = held.get(it.nextLong());
            for (java.util.Iterator<Held> hi = q.iterator(); hi.hasNext(); ) {
                Held h = hi.next();
                if (h.dst() == dst) {
                    hi.remove();
                    heldFrames--;
                    heldBytes -= h.cost();
                    out.add(h);
                }
            }
            if (q.isEmpty()) it.remove();
        }
        return out;
    }

    /** True if an acknowledgement for {@code token} is due (none sent in the last {@code intervalNanos}). */
    boolean ackDue(long token, long now, long intervalNanos) {
        long last = acked.get(token);
        if (last != Long.MIN_VALUE && now - last < intervalNanos) return false;
        // Full: no acknowledgement (the sender resends its MARKER, or gives up, counted there).
        if (last == Long.MIN_VALUE && acked.size() >= MAX_TOKENS) return false;
        acked.put(token, now);
        return true;
    }

    void hold(Held h) {
        ArrayDeque<Held> q = held.get(h.await());
        if (q == null) {
            q = new ArrayDeque<>();
            held.put(h.await(), q);
        }
        q.add(h);
        heldFrames++;
        heldBytes += h.cost();
    }

    long heldBytes() { return heldBytes; }
    int heldFrames() { return heldFrames; }

    /**
     * Takes out every packet whose token has passed, and those of a token whose oldest packet waited
     * longer than {@code maxWaitNanos} ({@code expired} counts them: the order may have been lost).
     */
    List<Held> releasable(long now, long maxWaitNanos, long[] expired) {
        List<Held> out = new ArrayList<>();
        Long2ObjectHashMap<ArrayDeque<Held>>.KeyIterator it = held.keySet().iterator();
        while (it.hasNext()) {
            long token = it.nextLong();
            ArrayDeque<Held> q = held.get(token);
            boolean passed = isSeen(token);
            if (!passed && now - q.peekFirst().sinceNanos() < maxWaitNanos) continue;
            if (!passed) expired[0] += q.size();
            heldFrames -= q.size();
            for (Held h : q) heldBytes -= h.cost();
            out.addAll(q);
            it.remove();
        }
        return out;
    }

    void forgetOld(long now) {
        seen.entrySet().removeIf(e -> {
            boolean old = now - e.getValue() > forgetAfterNanos;
            if (old) seenDst.remove(e.getKey().longValue());
            return old;
        });
        acked.entrySet().removeIf(e -> now - e.getValue() > forgetAfterNanos);
    }
}
