package dev.ferry.board;

import java.util.Set;

/** A registered agent: its id, underlay endpoint ("host:port"), the VNIs it serves, and its lease. */
public record HostRecord(int hostId, String endpoint, Set<Integer> vnis, long leaseMs, long expiresAt) {
    public HostRecord {
        vnis = Set.copyOf(vnis);
    }
}
