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

    /**
     * Records of a watched VNI, as of board revision {@code version}, ordered by key: those changed
     * since the watch's version, or with {@code whole} every record there is (what a cache holds and
     * no page of it shows was forgotten). One page of at most {@link #PAGE_RECORDS}, so that it stays
     * far under gRPC's 4 MiB message limit; when {@code next} is not null more follow, asked for
     * after that key.
     */
    record Snapshot(long requestId, int vni, long version, List<NodeRecord> records, VmKey next, boolean whole)
            implements BoardResponse {
        /** Records in one page: with at most 64 IPs and a 253-character name each, about 1.5 MiB. */
        public static final int PAGE_RECORDS = 2_048;

        /** A last (or only) page of changed records. */
        public Snapshot(long requestId, int vni, long version, List<NodeRecord> records) {
            this(requestId, vni, version, records, null, false);
        }
    }

    /** The registered hosts, by host id; a host whose lease lapsed has {@code expiresAt == HostRecord.LAPSED}. */
    record Hosts(long requestId, List<HostRecord> hosts) implements BoardResponse {}
}
