package dev.ferry.board;

import dev.ferry.board.BoardRequest.Outcome;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The patent's node information table: the rules by which records change. Every applied change
 * gets the next board revision as its version and is reported to {@code changes}; changes held
 * back by a lock are kept as pending updates. Not thread-safe: the {@link Board} serialises calls.
 */
final class NodeTable {
    /** The result of an operation on one record. */
    sealed interface Result {
        record Applied(NodeRecord record) implements Result {}
        record Queued(NodeRecord record) implements Result {}
        record Refused(String reason, NodeRecord record) implements Result {}
    }

    private final Store store;
    private final Map<Long, VmKey> byIp = new HashMap<>();
    private final List<NodeRecord> changes = new ArrayList<>();

    NodeTable(Store store) {
        this.store = store;
        reload();
    }

    /** Forgets changes not committed, and indexes the store's records afresh (after the store took changes back). */
    void reload() {
        changes.clear();
        byIp.clear();
        for (NodeRecord r : store.records()) {
            index(null, r);
        }
    }

    /** Another board changed a record in a shared store: index what it is now. */
    void changedElsewhere(NodeRecord before, NodeRecord after) {
        index(before, after);
    }

    /** Records changed since the last call, in the order their versions were given. */
    List<NodeRecord> drainChanges() {
        List<NodeRecord> out = List.copyOf(changes);
        changes.clear();
        return out;
    }

    NodeRecord get(VmKey key) {
        return store.get(key);
    }

    NodeRecord getByIp(int vni, int ip) {
        VmKey key = byIp.get(ipKey(vni, ip));
        return key == null ? null : store.get(key);
    }

    List<NodeRecord> records(int vni) {
        List<NodeRecord> out = new ArrayList<>();
        for (NodeRecord r : store.records()) {
            if (r.key().vni() == vni) out.add(r);
        }
        return out;
    }

    Result attach(VmKey key, String vmId, List<Integer> ips, int hostId, boolean active) {
        NodeRecord r = store.get(key);
        if (r == null) {
            r = new NodeRecord(key, vmId, ips, NodeRecord.NOWHERE, Set.of(), 0, null, List.of());
        }
        if (!active) {
            if (r.standbys().contains(hostId) || r.hostId() == hostId) {
                return new Result.Applied(r);
            }
            Set<Integer> standbys = new HashSet<>(r.standbys());
            standbys.add(hostId);
            // A standby changes no route: it is stored without a new version, so caches ignore it.
            NodeRecord stored = new NodeRecord(key, r.vmId() == null ? vmId : r.vmId(), r.ips().isEmpty() ? ips : r.ips(),
                    r.hostId(), standbys, r.version(), r.lock(), r.pending());
            store.put(stored);
            return new Result.Applied(stored);
        }
        if (r.isLocked()) {
            if (r.lock().owner() == hostId) {
                return new Result.Refused("record locked by this host's own migration " + r.lock().migrationId(), r);
            }
            PendingUpdate update = new PendingUpdate.Attach(r.lock().migrationId(), hostId, vmId, ips);
            return new Result.Queued(queue(r, update));
        }
        return new Result.Applied(applyAttach(r, hostId, vmId, ips));
    }

    Result detach(VmKey key, int hostId, boolean standby) {
        NodeRecord r = store.get(key);
        if (r == null) {
            return new Result.Applied(null);
        }
        if (standby) {
            if (!r.standbys().contains(hostId)) return new Result.Applied(r);
            Set<Integer> standbys = new HashSet<>(r.standbys());
            standbys.remove(hostId);
            NodeRecord stored = r.with(r.hostId(), r.vmId(), r.ips(), standbys, r.version());
            store.put(stored);
            return new Result.Applied(stored);
        }
        if (r.isLocked()) {
            return new Result.Queued(queue(r, new PendingUpdate.Detach(r.lock().migrationId(), hostId)));
        }
        return new Result.Applied(applyDetach(r, hostId));
    }

    /** Forgets a record detached from every host (the board's grace period has passed). */
    void forget(NodeRecord r) {
        store.remove(r.key());
        index(r, null);
    }

    Result lock(VmKey key, long migrationId, int owner, long leaseMs, long now) {
        NodeRecord r = store.get(key);
        if (r == null) {
            return new Result.Refused("no such record", null);
        }
        if (r.isLocked()) {
            if (r.lock().migrationId() == migrationId && r.lock().owner() == owner) {
                return new Result.Applied(r);
            }
            return new Result.Refused("locked by host " + r.lock().owner() + " for migration " + r.lock().migrationId(), r);
        }
        if (r.hostId() != owner) {
            return new Result.Refused("record points at host " + r.hostId() + ", not at the lock's owner " + owner, r);
        }
        NodeRecord locked = r.withLock(new Lock(migrationId, owner, leaseMs, now + leaseMs), List.of());
        store.put(locked);
        return new Result.Applied(locked);
    }

    Result unlock(VmKey key, long migrationId, Outcome outcome) {
        NodeRecord r = store.get(key);
        if (r == null || !r.isLocked() || r.lock().migrationId() != migrationId) {
            // Already released (a retry, or the lease ran out first): nothing left to do.
            return new Result.Applied(r);
        }
        NodeRecord current = r.withLock(null, List.of());
        store.put(current);
        if (outcome == Outcome.COMPLETED) {
            for (PendingUpdate p : r.pending()) {
                current = switch (p) {
                    case PendingUpdate.Attach a -> applyAttach(current, a.hostId(), a.vmId(), a.ips());
                    case PendingUpdate.Detach d -> applyDetach(current, d.hostId());
                };
            }
        }
        return new Result.Applied(current);
    }

    void renewLocks(int owner, long now) {
        for (NodeRecord r : List.copyOf(store.records())) {
            if (r.isLocked() && r.lock().owner() == owner) {
                store.put(r.withLock(r.lock().renewed(now), r.pending()));
            }
        }
    }

    private NodeRecord queue(NodeRecord r, PendingUpdate update) {
        if (r.pending().contains(update)) {
            return r;
        }
        List<PendingUpdate> pending = new ArrayList<>(r.pending());
        pending.add(update);
        NodeRecord queued = r.withLock(r.lock(), pending);
        store.put(queued);
        return queued;
    }

    private NodeRecord applyAttach(NodeRecord r, int hostId, String vmId, List<Integer> ips) {
        Set<Integer> standbys = new HashSet<>(r.standbys());
        standbys.remove(hostId);
        if (r.hostId() == hostId && r.ips().equals(ips) && standbys.equals(r.standbys())) {
            return r;
        }
        return apply(r, r.with(hostId, vmId, ips, standbys, 0));
    }

    private NodeRecord applyDetach(NodeRecord r, int hostId) {
        if (r.hostId() != hostId) {
            return r;
        }
        return apply(r, r.with(NodeRecord.NOWHERE, r.vmId(), r.ips(), r.standbys(), 0));
    }

    private NodeRecord apply(NodeRecord before, NodeRecord after) {
        long version = store.revision() + 1;
        store.revision(version);
        NodeRecord stored = after.with(after.hostId(), after.vmId(), after.ips(), after.standbys(), version);
        store.put(stored);
        index(before, stored);
        changes.add(stored);
        return stored;
    }

    private void index(NodeRecord before, NodeRecord after) {
        if (before != null) {
            for (int ip : before.ips()) byIp.remove(ipKey(before.key().vni(), ip), before.key());
        }
        if (after != null && after.isAttached()) {
            for (int ip : after.ips()) byIp.put(ipKey(after.key().vni(), ip), after.key());
        }
    }

    private static long ipKey(int vni, int ip) {
        return ((long) vni << 32) | (ip & 0xFFFFFFFFL);
    }
}
