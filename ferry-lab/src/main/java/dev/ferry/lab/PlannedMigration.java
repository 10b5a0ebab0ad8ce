package dev.ferry.lab;

/**
 * One live migration of a scenario: VM {@code vm} to host {@code toHost} (or the next host round
 * robin when 0; to the host it is on when {@link #SAME_HOST}, as QEMU's local migration for an upgrade does), starting no earlier than {@code atNanos}, with a pre-copy and a stop-and-copy of the
 * given lengths, and how it ends.
 */
public record PlannedMigration(int vm, int toHost, long atNanos, long precopyNanos, long stopNanos, Ending ending) {
    /** {@link #toHost} of a migration to the host the VM is on when it starts. */
    public static final int SAME_HOST = -1;

    public enum Ending {
        /** The destination copy resumes. */
        COMPLETED,
        /** Cancelled during pre-copy: the source never stops. */
        CANCELLED_IN_PRECOPY,
        /** Failed at the end: the source copy resumes after stopping. */
        FAILED_AFTER_STOP
    }
}
