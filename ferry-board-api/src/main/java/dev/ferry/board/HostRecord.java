package dev.ferry.board;

import java.util.Set;

/**
 * A registered agent: its id, underlay endpoint ("host:port"), the VNIs it serves, and its lease. A
 * static VTEP (a Geneve endpoint that runs no agent, such as a Linux {@code geneve} device) has lease 0
 * and {@link #STATIC} as its expiry: it never sends heartbeats and never lapses.
 */
public record HostRecord(int hostId, String endpoint, Set<Integer> vnis, long leaseMs, long expiresAt) {
    /** The expiry of a static VTEP. */
    public static final long STATIC = Long.MAX_VALUE;
    /** The expiry of a host whose lease lapsed. */
    public static final long LAPSED = Long.MIN_VALUE;

    public HostRecord {
        vnis = Set.copyOf(vnis);
    }

    /** Its lease runs (or it is a static VTEP). */
    public boolean isAlive() {
        return expiresAt != LAPSED;
    }

    public boolean isStatic() {
        return expiresAt == STATIC;
    }
}
