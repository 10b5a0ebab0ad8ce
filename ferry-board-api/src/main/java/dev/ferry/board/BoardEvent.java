package dev.ferry.board;

/** What the board pushes to the agents that watch. */
public sealed interface BoardEvent {

    /** A record changed; sent to every watcher of its VNI, once per applied change, in version order. */
    record Changed(NodeRecord record) implements BoardEvent {}

    /** Sent to a lock's owner: {@code waitingHost} queued an update behind the lock (it runs the VM now). */
    record LockWaiter(VmKey key, long migrationId, int waitingHost) implements BoardEvent {}

    /** Sent to every registered host when a host registers with an endpoint not seen before: where to tunnel to it. */
    record HostChanged(HostRecord host) implements BoardEvent {}
}
