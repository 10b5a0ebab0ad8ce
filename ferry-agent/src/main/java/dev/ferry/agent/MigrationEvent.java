package dev.ferry.agent;

/**
 * What a migration detector (hypervisor events, announcements, the operator's API, the simulated
 * model) tells the agent about one of its VMs. Events are idempotent: a repeated one is ignored.
 */
public sealed interface MigrationEvent {
    long mac();

    int vni();

    /** The hypervisor's name for the migration; 0 when the detector knows none. */
    long migrationId();

    /** A paused incoming copy of the VM appeared on {@code port} of this (destination) agent. */
    record StandbyAppeared(Port port, long migrationId) implements MigrationEvent {
        public long mac() { return port.key().mac(); }
        public int vni() { return port.key().vni(); }
    }

    /** Migration of a local VM out of this (source) agent began: pre-copy. */
    record Started(int vni, long mac, long migrationId) implements MigrationEvent {}

    /** The source copy stopped for the final copy. */
    record SourceStopped(int vni, long mac, long migrationId) implements MigrationEvent {}

    /** The destination copy resumed (or announced itself). */
    record DestinationResumed(int vni, long mac, long migrationId) implements MigrationEvent {}

    /** The source copy runs again: the migration failed or was cancelled. */
    record Aborted(int vni, long mac, long migrationId) implements MigrationEvent {}

    /** The paused incoming copy is gone (the migration was aborted). */
    record StandbyGone(int vni, long mac, long migrationId) implements MigrationEvent {}

    /** The source copy is gone for good after a completed migration. */
    record SourceGone(int vni, long mac, long migrationId) implements MigrationEvent {}
}
