package dev.ferry.agent;

import dev.ferry.wire.Malformed;
import java.util.EnumMap;
import java.util.Map;

/**
 * An agent's counters: plain longs written by the agent's event-loop thread only, read by others
 * (metrics, CLI) as a possibly slightly stale snapshot.
 */
public final class Counters {
    private final long[] values = new long[Counter.values().length];
    private final long[] malformed = new long[Malformed.values().length];

    void inc(Counter c) {
        values[c.ordinal()]++;
    }

    void add(Counter c, long n) {
        values[c.ordinal()] += n;
    }

    void countMalformed(Malformed reason) {
        malformed[reason.ordinal()]++;
        values[(reason == Malformed.UNKNOWN_VNI ? Counter.DROP_UNKNOWN_VNI : Counter.DROP_MALFORMED).ordinal()]++;
    }

    public long get(Counter c) {
        return values[c.ordinal()];
    }

    public long malformed(Malformed reason) {
        return malformed[reason.ordinal()];
    }

    /** Sum of every drop counter. */
    public long drops() {
        long sum = 0;
        for (Counter c : Counter.values()) {
            if (c.isDrop()) sum += values[c.ordinal()];
        }
        return sum;
    }

    public Map<Counter, Long> snapshot() {
        Map<Counter, Long> out = new EnumMap<>(Counter.class);
        for (Counter c : Counter.values()) out.put(c, values[c.ordinal()]);
        return out;
    }
}
