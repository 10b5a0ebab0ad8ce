package dev.ferry.rpc;

import dev.ferry.board.Board;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.HostRecord;
import dev.ferry.board.NodeRecord;
import dev.ferry.security.Identity;

/**
 * What each member of the cluster may ask the board, decided from the identity in its certificate,
 * never from the request's own fields: an agent speaks for its own host only (registers itself,
 * attaches, detaches and locks what is on it, unlocks the locks it holds, watches the VNIs it
 * registered, and
 * numbers its requests with its host id so that no one else's answer can be replayed to it); an
 * operator reads everything and registers static VTEPs; anyone may read.
 */
public final class Authority {
    private Authority() {}

    /**
     * Why {@code who} may not ask {@code request}, or null when it may. The board service asks this
     * before the board sees a request; the simulation asks it too, so that its board answers agents
     * as the service would.
     */
    public static String refusal(Identity who, BoardRequest request, Board board) {
        if (BoardRequest.isRead(request)) return null;
        return switch (who) {
            case Identity.Operator o -> request instanceof BoardRequest.RegisterHost r && r.leaseMs() == 0 ? null
                    : "an operator may read, and register static VTEPs (lease 0), not " + kind(request);
            case Identity.Board b -> "a board replica asks other boards nothing but reads, not " + kind(request);
            case Identity.Host h -> forHost(h.hostId(), request, board);
        };
    }

    private static String forHost(int host, BoardRequest request, Board board) {
        if (request.requestId() >>> 48 != host) {
            return "host " + host + "'s request ids carry its host id in their top 16 bits, this one " + (request.requestId() >>> 48);
        }
        String self = "host " + host + " may ";
        return switch (request) {
            case BoardRequest.RegisterHost r -> r.hostId() == host && r.leaseMs() > 0 ? null
                    : self + "register itself as an agent, not " + (r.leaseMs() == 0 ? "a static VTEP" : "host " + r.hostId());
            case BoardRequest.Heartbeat r -> r.hostId() == host ? null : self + "renew its own lease only, not host " + r.hostId() + "'s";
            case BoardRequest.Attach r -> r.hostId() == host ? null : self + "attach copies of VMs on itself only, not on host " + r.hostId();
            case BoardRequest.Detach r -> r.hostId() == host ? null : self + "detach copies on itself only, not on host " + r.hostId();
            case BoardRequest.LockRecord r -> r.owner() == host ? null : self + "lock records for its own migrations only, not host " + r.owner() + "'s";
            case BoardRequest.Unlock r -> {
                NodeRecord record = board.record(r.key());
                // Unlocked already (a retry, or the lease ran out): harmless, answered as the board would.
                if (record == null || !record.isLocked() || record.lock().migrationId() != r.migrationId()) yield null;
                yield record.lock().owner() == host ? null
                        : self + "release its own locks only; migration " + r.migrationId() + "'s is host " + record.lock().owner() + "'s";
            }
            case BoardRequest.Watch r -> {
                if (r.hostId() != host) yield self + "watch for itself only, not for host " + r.hostId();
                // The VNIs a host serves are those it registered; it follows no other network's moves.
                HostRecord registered = board.host(host);
                if (registered == null) yield self + "watch once registered (RegisterHost first)";
                yield registered.vnis().contains(r.vni()) ? null
                        : self + "watch the VNIs it registered " + registered.vnis() + " only, not " + r.vni();
            }
            default -> null;
        };
    }

    /** The refusal's label for {@code ferry_board_refused_total{reason}}. */
    static String kind(BoardRequest r) {
        return r.getClass().getSimpleName();
    }
}
