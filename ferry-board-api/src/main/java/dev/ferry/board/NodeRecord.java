package dev.ferry.board;

import java.util.List;
import java.util.Set;

/**
 * One VM port in the node table. {@code hostId} is where traffic for the VM goes ({@link #NOWHERE}
 * once detached); {@code standbys} are hosts holding a paused incoming copy, which never receive
 * traffic; {@code version} is the board revision of the last applied change and is what every cache
 * compares; {@code lock} and {@code pending} are the migration state.
 */
public record NodeRecord(VmKey key, String vmId, List<Integer> ips, int hostId, Set<Integer> standbys,
                         long version, Lock lock, List<PendingUpdate> pending) {
    public static final int NOWHERE = 0;

    public NodeRecord {
        ips = List.copyOf(ips);
        standbys = Set.copyOf(standbys);
        pending = List.copyOf(pending);
    }

    public boolean isLocked() {
        return lock != null;
    }

    public boolean isAttached() {
        return hostId != NOWHERE;
    }

    NodeRecord with(int newHost, String newVmId, List<Integer> newIps, Set<Integer> newStandbys, long newVersion) {
        return new NodeRecord(key, newVmId, newIps, newHost, newStandbys, newVersion, lock, pending);
    }

    NodeRecord withLock(Lock newLock, List<PendingUpdate> newPending) {
        return new NodeRecord(key, vmId, ips, hostId, standbys, version, newLock, newPending);
    }
}
