package dev.ferry.board;

import java.util.Set;

/**
 * A registered agent: its id, underlay endpoint ("host:port"), the VNIs it serves, its lease, and the
 * public key its underlay is sealed with. A static VTEP (a Geneve endpoint that runs no agent, such as
 * a Linux {@code geneve} device) has lease 0 and {@link #STATIC} as its expiry: it never sends
 * heartbeats and never lapses.
 *
 * <p>{@code underlayKey} is the host's X25519 public key for this boot, base64 of its 32 raw bytes;
 * empty when its datagrams travel in plaintext (a static VTEP, or an agent run with an insecure
 * underlay). The board vouches for it: over mutual TLS only host N may register host N.
 */
public record HostRecord(int hostId, String endpoint, Set<Integer> vnis, long leaseMs, long expiresAt, String underlayKey) {
    /** The expiry of a static VTEP. */
    public static final long STATIC = Long.MAX_VALUE;
    /** The expiry of a host whose lease lapsed. */
    public static final long LAPSED = Long.MIN_VALUE;

    public HostRecord {
        vnis = Set.copyOf(vnis);
        underlayKey = underlayKey == null ? "" : underlayKey;
    }

    /** A host whose datagrams travel in plaintext. */
    public HostRecord(int hostId, String endpoint, Set<Integer> vnis, long leaseMs, long expiresAt) {
        this(hostId, endpoint, vnis, leaseMs, expiresAt, "");
    }

    /** The same host with another expiry (a renewed or lapsed lease). */
    public HostRecord expiring(long at) {
        return new HostRecord(hostId, endpoint, vnis, leaseMs, at, underlayKey);
    }

    /** Its underlay is sealed: it registered a key. */
    public boolean sealed() {
        return !underlayKey.isEmpty();
    }

    /** Its lease runs (or it is a static VTEP). */
    public boolean isAlive() {
        return expiresAt != LAPSED;
    }

    public boolean isStatic() {
        return expiresAt == STATIC;
    }
}
