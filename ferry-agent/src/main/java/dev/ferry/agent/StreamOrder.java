package dev.ferry.agent;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.agrona.collections.Long2LongHashMap;

/**
 * The ordering stage in front of classification: frames that travel a stream's new path wait here
 * until the MARKER that ends the stream's old path has passed this agent (or their bounded wait
 * ends). A stream is (source VM, destination VM); once a stream holds a frame, its later frames
 * queue behind it whatever their flags, so a stream leaves this stage in the order it arrived.
 */
final class StreamOrder {
    private record Stream(long src, long dst) {}

    /** Token to the time (ns) its MARKER passed; entries are forgotten after {@link #forgetAfterNanos}. */
    private final Long2LongHashMap seen = new Long2LongHashMap(Long.MIN_VALUE);
    /** Token to the last time an acknowledgement for it was sent because of a flagged frame. */
    private final Long2LongHashMap acked = new Long2LongHashMap(Long.MIN_VALUE);
    private final Map<Stream, ArrayDeque<Held>> held = new HashMap<>();
    private final long forgetAfterNanos;
    private int heldFrames;
    private long heldBytes;

    StreamOrder(long forgetAfterNanos) {
        this.forgetAfterNanos = forgetAfterNanos;
    }

    boolean isSeen(long token) {
        return seen.get(token) != Long.MIN_VALUE;
    }

    void markSeen(long token, long now) {
        if (seen.get(token) == Long.MIN_VALUE) seen.put(token, now);
    }

    /** True if an acknowledgement for {@code token} is due (none sent in the last {@code intervalNanos}). */
    boolean ackDue(long token, long now, long intervalNanos) {
        long last = acked.get(token);
        if (last != Long.MIN_VALUE && now - last < intervalNanos) return false;
        acked.put(token, now);
        return true;
    }

    /** True if the stream has frames waiting, so a new frame of it must queue too. Free when nothing is held. */
    boolean isHolding(long src, long dst) {
        return heldFrames > 0 && held.containsKey(new Stream(src, dst));
    }

    void hold(Held h) {
        held.computeIfAbsent(new Stream(h.src(), h.dst()), s -> new ArrayDeque<>()).add(h);
        heldFrames++;
        heldBytes += h.frame().length;
    }

    long heldBytes() { return heldBytes; }
    int heldFrames() { return heldFrames; }

    /**
     * Takes out, in stream order, every held frame that may go on: its MARKER has passed, or it
     * waited longer than {@code maxWaitNanos} (then {@code expired} counts it). Frames behind one that
     * must still wait stay.
     */
    List<Held> releasable(long now, long maxWaitNanos, long[] expired) {
        List<Held> out = new ArrayList<>();
        for (Iterator<ArrayDeque<Held>> it = held.values().iterator(); it.hasNext(); ) {
            ArrayDeque<Held> q = it.next();
            while (!q.isEmpty()) {
                Held h = q.peekFirst();
                boolean waits = (h.flags() & dev.ferry.wire.Geneve.FLAG_AWAIT) != 0 && !isSeen(h.await());
                if (waits && now - h.sinceNanos() < maxWaitNanos) break;
                if (waits) expired[0]++;
                q.pollFirst();
                heldFrames--;
                heldBytes -= h.frame().length;
                out.add(h);
                // A MARKER released here may free frames behind it in other streams: the caller loops.
                if ((h.flags() & dev.ferry.wire.Geneve.FLAG_MARKER) != 0) break;
            }
            if (q.isEmpty()) it.remove();
        }
        return out;
    }

    void forgetOld(long now) {
        seen.entrySet().removeIf(e -> now - e.getValue() > forgetAfterNanos);
        acked.entrySet().removeIf(e -> now - e.getValue() > forgetAfterNanos);
    }
}
