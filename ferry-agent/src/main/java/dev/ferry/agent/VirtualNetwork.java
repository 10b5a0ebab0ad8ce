package dev.ferry.agent;

import org.agrona.collections.IntHashSet;
import org.agrona.collections.Long2ObjectHashMap;

/** Everything an agent keeps for one VNI: its local ports, location cache, migration table and stream order. */
public final class VirtualNetwork {
    final int vni;
    final Long2ObjectHashMap<LocalPort> ports = new Long2ObjectHashMap<>();
    final LocationCache cache = new LocationCache();
    final MigrationTable migrations = new MigrationTable();
    final StreamOrder order;
    /**
     * A frame a local VM sent to a destination the cache did not know yet, and the port it came from;
     * or ({@code frame == null}) the MARKER ending that stream, queued behind them because the VM
     * stopped to migrate before they could leave.
     */
    record AwaitingLookup(LocalPort port, byte[] frame, long markerToken, long sinceNanos) {}

    /** Frames from local VMs to a destination the cache does not know yet, by destination, until the board answers. */
    final Long2ObjectHashMap<java.util.ArrayDeque<AwaitingLookup>> awaitingLookup = new Long2ObjectHashMap<>();
    /** Bytes of the frames in {@link #awaitingLookup}, for its bound. */
    long awaitingBytes;
    /**
     * VMs that came back here while this host still relayed their stale senders' frames to where
     * they had gone: the old SOURCE entry, which keeps relaying frames sent by an older location
     * than the one that brought the VM back, until it falls quiet (usually empty).
     */
    final Long2ObjectHashMap<MigrationEntry> returned = new Long2ObjectHashMap<>();
    /** Ports whose VM is moving between two copies on this host (design §6.7), by MAC: for their timers. */
    final Long2ObjectHashMap<LocalPort> localMigrations = new Long2ObjectHashMap<>();
    /**
     * Locks the board shows held by this host for migrations this agent has no entry of, by MAC:
     * the id, and when first seen. Left by a process of this agent that died (design §6.8).
     */
    final Long2ObjectHashMap<long[]> orphanLocks = new Long2ObjectHashMap<>();
    /** Agents that host VMs of this VNI: where local broadcasts are flooded. */
    final IntHashSet hosts = new IntHashSet();
    /**
     * The board's version at the last snapshot of the VNI: where a new watch resumes. Not a push's
     * version: a push can be lost while later ones arrive, and a snapshot covers all before it.
     */
    long watchedVersion;
    /** A watch of this VNI is unanswered: no second one is asked for meanwhile. */
    boolean watchOutstanding;

    /** A snapshot arriving in pages: the first page's version, whether it is whole, the MACs seen so far when it is. */
    record SnapshotPages(long version, boolean whole, org.agrona.collections.LongHashSet seen) {
        SnapshotPages(long version, boolean whole) {
            this(version, whole, new org.agrona.collections.LongHashSet());
        }
    }

    /** The snapshot whose pages are arriving, or null. */
    SnapshotPages pages;
    /** This process has had a snapshot of the VNI: later ones cannot show what an earlier process left. */
    boolean snapshotSeen;

    /** The VNI's MTU: no port of it sends or is given a longer IP packet, whatever its own MTU. */
    final int mtu;

    VirtualNetwork(int vni, int mtu, long forgetAfterNanos) {
        this.vni = vni;
        this.mtu = mtu;
        this.order = new StreamOrder(forgetAfterNanos);
    }

    public int vni() { return vni; }
    public int mtu() { return mtu; }
    public LocationCache cache() { return cache; }
    public MigrationTable migrations() { return migrations; }
    public int heldFrames() { return order.heldFrames(); }

    /** The port of {@code e}'s VM here: the one the entry kept (its VM may have left it), else the one plugged for its MAC. */
    LocalPort portOf(MigrationEntry e) {
        return e.port != null ? e.port : ports.get(e.key.mac());
    }

    /**
     * The DESTINATION entry of {@code migrationId} for {@code mac}: the table's row, or, when the VM
     * came back here before that migration in was settled, the one behind the newer entry.
     */
    MigrationEntry incoming(long mac, long migrationId) {
        return inChain(mac, MigrationEntry.Role.DESTINATION, migrationId);
    }

    private MigrationEntry inChain(long mac, MigrationEntry.Role role, long migrationId) {
        for (MigrationEntry e = migrations.get(mac); e != null; e = e.outgoing) {
            if (e.role == role && e.migrationId == migrationId) return e;
        }
        return null;
    }

    /** The entry whose {@code outgoing} is {@code e}, or null when {@code e} is the table's row. */
    MigrationEntry newerThan(MigrationEntry e) {
        for (MigrationEntry n = migrations.get(e.key.mac()); n != null; n = n.outgoing) {
            if (n.outgoing == e) return n;
        }
        return null;
    }

    /** Keeps a handed-over SOURCE entry relaying after its VM came back; one already kept goes on behind it. */
    void keepReturned(MigrationEntry r, long returnedBy) {
        r.returnedBy = returnedBy;
        MigrationEntry before = returned.put(r.key.mac(), r);
        if (before != null && before != r) r.outgoing = before;
    }

    /** The entry of this host, in the table or kept relaying, that is migration {@code migrationId} of {@code mac}; null if none. */
    MigrationEntry entry(long mac, long migrationId) {
        for (MigrationEntry e = migrations.get(mac); e != null; e = e.outgoing) {
            if (e.migrationId == migrationId) return e;
        }
        for (MigrationEntry e = returned.get(mac); e != null; e = e.outgoing) {
            if (e.migrationId == migrationId) return e;
        }
        return null;
    }

    /** Whether any entry of this host, in the table or kept relaying, is migration {@code migrationId} of {@code mac}. */
    boolean knows(long mac, long migrationId) {
        return entry(mac, migrationId) != null;
    }

    /**
     * The SOURCE entry of {@code migrationId} for {@code mac}, wherever it stands in the VM's chain:
     * behind the entry of its return here, or behind several (design §6.6).
     */
    MigrationEntry source(long mac, long migrationId) {
        return inChain(mac, MigrationEntry.Role.SOURCE, migrationId);
    }

    /**
     * This host's newest outgoing migration of {@code mac} still under way (not yet handed over):
     * what a standby without an id asks for. A finished one, kept a while for its MARKERs, must not
     * lend a later migration its id.
     */
    MigrationEntry ongoingSource(long mac) {
        for (MigrationEntry e = migrations.get(mac); e != null; e = e.outgoing) {
            if (e.role == MigrationEntry.Role.SOURCE) return e.is(MigrationEntry.Phase.HANDED_OVER) ? null : e;
        }
        return null;
    }
}
