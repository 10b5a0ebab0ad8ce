package dev.ferry.lab;

import java.util.BitSet;

/**
 * The receiving side's account of one sequenced flow: what arrived, what arrived twice, what
 * arrived after a later frame, and the longest silence between two arrivals while frames were due.
 */
public final class FlowStats {
    public final int id;
    private final BitSet seen = new BitSet();
    private long sent;
    private long delivered;
    private long duplicated;
    private long reordered;
    private long maxSeq = -1;
    private long lastArrival = -1;
    private long longestGapNanos;
    private String firstAnomaly;
    /** Arrivals per millisecond from {@link #origin}: the flow's strip in a timeline picture. */
    private final long origin;
    private final int[] perMs;

    public FlowStats(int id) {
        this(id, 0, 0);
    }

    /** A flow that also counts its arrivals per millisecond for {@code millis} from {@code origin} (nanoTime). */
    public FlowStats(int id, long origin, int millis) {
        this.id = id;
        this.origin = origin;
        this.perMs = new int[millis];
    }

    synchronized long nextSeq() {
        return sent++;
    }

    synchronized void received(long seq, long now) {
        if (seq < 0 || seq >= sent) {
            duplicated++; // not a frame this flow sent: counted against the network
            return;
        }
        if (seen.get((int) seq)) {
            duplicated++;
            if (firstAnomaly == null) firstAnomaly = "seq " + seq + " again at " + now / 1e6 + " ms";
            return;
        }
        seen.set((int) seq);
        delivered++;
        if (seq < maxSeq) {
            reordered++;
            if (firstAnomaly == null) firstAnomaly = "seq " + seq + " after " + maxSeq + " at " + now / 1e6 + " ms";
        }
        maxSeq = Math.max(maxSeq, seq);
        if (lastArrival >= 0) longestGapNanos = Math.max(longestGapNanos, now - lastArrival);
        lastArrival = now;
        long ms = (now - origin) / 1_000_000;
        if (ms >= 0 && ms < perMs.length) perMs[(int) ms]++;
    }

    /** The last frame sent arrived: whatever happened before, the flow works again. */
    public synchronized boolean deliveredLast() {
        return sent == 0 || seen.get((int) (sent - 1));
    }

    public synchronized long sent() { return sent; }
    public synchronized long delivered() { return delivered; }
    public synchronized long lost() { return sent - delivered; }
    public synchronized long duplicated() { return duplicated; }
    public synchronized long reordered() { return reordered; }
    public synchronized long longestGapNanos() { return longestGapNanos; }
    /** When the arrival counts start (nanoTime). */
    public long origin() { return origin; }
    /** Arrivals per millisecond from {@link #origin}, a copy. */
    public synchronized int[] arrivalsPerMs() { return perMs.clone(); }
    /** The first duplicate or reordering seen, for a failure message; null if none. */
    public synchronized String firstAnomaly() { return firstAnomaly; }
}
