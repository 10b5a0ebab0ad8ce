package dev.ferry.board;

import java.util.List;

/** The board's answer to the request with the same {@code requestId}. */
public sealed interface BoardResponse {
    long requestId();

    /** Done; {@code record} is the record as it now stands (null where there is none). */
    record Ok(long requestId, NodeRecord record) implements BoardResponse {}

    /** The request was queued behind a migration lock and will be applied at unlock. */
    record Queued(long requestId, NodeRecord record) implements BoardResponse {}

    /** Refused; {@code reason} says why, {@code record} is the record as it stands (e.g. the lock's holder). */
    record Refused(long requestId, String reason, NodeRecord record) implements BoardResponse {}

    /** Every record of a watched VNI, as of board revision {@code version}. */
    record Snapshot(long requestId, int vni, long version, List<NodeRecord> records) implements BoardResponse {}

    /** The registered hosts, by host id; a host whose lease lapsed has {@code expiresAt == HostRecord.LAPSED}. */
    record Hosts(long requestId, List<HostRecord> hosts) implements BoardResponse {}
}
