package dev.ferry.board;

import java.util.List;

/**
 * A change to a locked record, held back (the patent's buffered update request) until its lock is
 * released: applied in arrival order on COMPLETED, discarded on ABORTED.
 */
public sealed interface PendingUpdate {
    /** The migration whose lock the update waited behind. */
    long migrationId();

    int hostId();

    /** The VM's copy on {@code hostId} is active (runs) and should receive its traffic. */
    record Attach(long migrationId, int hostId, String vmId, List<Integer> ips) implements PendingUpdate {}

    /** The VM's copy on {@code hostId} is gone. */
    record Detach(long migrationId, int hostId) implements PendingUpdate {}
}
