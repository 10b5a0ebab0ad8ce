package dev.ferry.agent;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.agrona.collections.Int2IntHashMap;

/**
 * Datagrams waiting for a host's underlay key (design §7b): to a host whose registration this agent
 * has not seen yet, or from a host that sealed them under a key this agent does not know yet (it
 * started, or restarted, a moment ago; the board's push is on its way). They wait, in order, until
 * the key arrives, and go on then; bounded in count and bytes and in time, and counted when that
 * runs out. Without the wait, every agent start would lose what the first milliseconds carried.
 * Incoming and outgoing datagrams have a budget each: anyone who can send from a member's address can
 * fill the incoming one with datagrams under made-up keys, and must not thereby stop this agent's own
 * frames to a host that just joined. Agent's thread only.
 */
final class KeyWait {
    static final int MAX_DATAGRAMS = 1_024;
    static final long MAX_BYTES = 4L << 20;
    static final long WAIT_NANOS = 2_000_000_000L;

    /** One waiting datagram: to {@code host}, or (incoming) from it. */
    record Waiting(int host, boolean incoming, byte[] datagram, long since) {}

    private final ArrayDeque<Waiting> queue = new ArrayDeque<>();
    /** How many datagrams wait to go to each host: asked on every send, so not found by walking the queue. */
    private final Int2IntHashMap outgoing = new Int2IntHashMap(0);
    private final Counters counters;
    /** Datagrams and bytes waiting, [0] outgoing, [1] incoming: a budget each. */
    private final int[] count = new int[2];
    private final long[] bytes = new long[2];

    KeyWait(Counters counters) {
        this.counters = counters;
    }

    /** Keeps a copy of the datagram; false (counted) when its direction's wait is full. */
    boolean hold(int host, boolean incoming, byte[] buf, int off, int len, long now) {
        int d = incoming ? 1 : 0;
        if (count[d] >= MAX_DATAGRAMS || bytes[d] + len + Held.OVERHEAD_BYTES > MAX_BYTES) {
            counters.inc(Counter.DROP_KEY_WAIT_FULL);
            return false;
        }
        queue.add(new Waiting(host, incoming, Arrays.copyOfRange(buf, off, off + len), now));
        count[d]++;
        bytes[d] += len + Held.OVERHEAD_BYTES;
        if (!incoming) outgoing.put(host, outgoing.get(host) + 1);
        counters.inc(Counter.KEY_WAITED);
        return true;
    }

    /** Whether anything waits to go to {@code host}: what is sent to it after must queue behind. */
    boolean outgoingTo(int host) {
        return outgoing.get(host) > 0;
    }

    /** Takes out, in order, everything waiting for {@code host}'s key. */
    List<Waiting> release(int host) {
        List<Waiting> out = new ArrayList<>();
        for (Iterator<Waiting> it = queue.iterator(); it.hasNext(); ) {
            Waiting w = it.next();
            if (w.host != host) continue;
            it.remove();
            forget(w);
            out.add(w);
        }
        return out;
    }

    /** Drops, counted, what waited longer than {@link #WAIT_NANOS}. */
    void expire(long now) {
        while (!queue.isEmpty() && now - queue.peek().since > WAIT_NANOS) {
            forget(queue.poll());
            counters.inc(Counter.DROP_KEY_WAIT_EXPIRED);
        }
    }

    /** What a datagram taken out of the queue counted for. */
    private void forget(Waiting w) {
        int d = w.incoming ? 1 : 0;
        count[d]--;
        bytes[d] -= w.datagram.length + Held.OVERHEAD_BYTES;
        if (w.incoming) return;
        int left = outgoing.get(w.host) - 1;
        if (left > 0) outgoing.put(w.host, left); else outgoing.remove(w.host);
    }

    int size() {
        return queue.size();
    }
}
