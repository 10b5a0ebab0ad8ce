package dev.ferry.board;

import java.util.List;
import java.util.Set;

/**
 * A request to the board. Every request carries a {@code requestId} unique to its sender; a retried
 * request (same id) gets the answer of the first, so any request may be sent again until answered.
 */
public sealed interface BoardRequest {
    long requestId();

    /**
     * An agent announces itself (again): its underlay endpoint, the VNIs it serves, its lease. Lease
     * 0 registers a static VTEP instead: a Geneve endpoint running no agent, which never lapses.
     * {@code underlayKey}: as {@link HostRecord#underlayKey()}, empty for a plaintext underlay.
     */
    record RegisterHost(long requestId, int hostId, String endpoint, Set<Integer> vnis, long leaseMs, String underlayKey)
            implements BoardRequest {
        public RegisterHost {
            underlayKey = underlayKey == null ? "" : underlayKey;
        }

        /** A host whose datagrams travel in plaintext. */
        public RegisterHost(long requestId, int hostId, String endpoint, Set<Integer> vnis, long leaseMs) {
            this(requestId, hostId, endpoint, vnis, leaseMs, "");
        }
    }

    /** Renews the host's lease and the leases of the locks it holds. */
    record Heartbeat(long requestId, int hostId) implements BoardRequest {}

    /**
     * The VM's copy on {@code hostId} exists. {@code active=false}: a paused incoming copy (standby),
     * which never changes where traffic goes. {@code active=true}: it runs and takes the traffic, at
     * once if the record is unlocked, else as a pending update of the lock's migration.
     */
    record Attach(long requestId, VmKey key, String vmId, List<Integer> ips, int hostId, boolean active) implements BoardRequest {}

    /**
     * The VM's copy on {@code hostId} is gone. {@code standby=true}: only the paused incoming copy
     * there (an aborted migration's destination), never the record's active location, even if it is
     * on the same host. Otherwise the active copy, with the same locking rule as an active attach.
     */
    record Detach(long requestId, VmKey key, int hostId, boolean standby) implements BoardRequest {}

    record Lookup(long requestId, VmKey key) implements BoardRequest {}

    record LookupIp(long requestId, int vni, int ip) implements BoardRequest {}

    /** Locks the record for a migration out of {@code owner}, which must be where the record points. */
    record LockRecord(long requestId, VmKey key, long migrationId, int owner, long leaseMs) implements BoardRequest {}

    record Unlock(long requestId, VmKey key, long migrationId, Outcome outcome) implements BoardRequest {}

    /**
     * Subscribes {@code hostId} to every change in {@code vni}; answered with a snapshot of the records
     * changed after {@code sinceVersion} (all of them for 0): a watcher that reconnects resumes from the
     * last version it saw instead of reloading the VNI. When the board has forgotten records since
     * (detached ones, after their grace period), the answer is the whole VNI instead, marked so. A
     * snapshot comes in pages ({@link BoardResponse.Snapshot#next}): the next page is asked with
     * {@code after} the last key of this one, {@code null} for the first.
     */
    record Watch(long requestId, int hostId, int vni, long sinceVersion, VmKey after) implements BoardRequest {
        /** A first watch: the whole VNI. */
        public Watch(long requestId, int hostId, int vni) {
            this(requestId, hostId, vni, 0);
        }

        /** The first page of the records changed after {@code sinceVersion}. */
        public Watch(long requestId, int hostId, int vni, long sinceVersion) {
            this(requestId, hostId, vni, sinceVersion, null);
        }
    }

    /** Every registered host with its endpoint and lease; answered with {@link BoardResponse.Hosts}. */
    record ListHosts(long requestId) implements BoardRequest {}

    /**
     * Every record of {@code vni}, or of all VNIs when {@code vni} is {@link #ALL_VNIS}, without
     * subscribing; answered with a {@link BoardResponse.Snapshot} in pages, as a watch is.
     */
    record ListNodes(long requestId, int vni, VmKey after) implements BoardRequest {
        /** The first page. */
        public ListNodes(long requestId, int vni) {
            this(requestId, vni, null);
        }
    }

    /** {@link ListNodes#vni()} meaning every VNI. */
    int ALL_VNIS = -1;

    /** A request that only reads: it changes nothing, so asking it again is harmless and anyone may. */
    static boolean isRead(BoardRequest r) {
        return r instanceof ListHosts || r instanceof ListNodes || r instanceof Lookup || r instanceof LookupIp;
    }

    /** How a migration ended, as its source reports it at unlock. */
    enum Outcome { COMPLETED, ABORTED }
}
