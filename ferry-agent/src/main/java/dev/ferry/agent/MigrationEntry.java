package dev.ferry.agent;

import dev.ferry.board.VmKey;
import dev.ferry.wire.ControlMessage.StreamToken;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import org.agrona.collections.Long2ObjectHashMap;

/** One row of the migration table: a VM this agent is migrating out (SOURCE) or in (DESTINATION). */
public final class MigrationEntry {
    public enum Role { SOURCE, DESTINATION }

    /** SOURCE: PRECOPY, STOPPED, HANDED_OVER. DESTINATION: INCOMING, RESUMED (handover asked), RUNNING. */
    public enum Phase { PRECOPY, STOPPED, HANDED_OVER, INCOMING, RESUMED, RUNNING }

    /** A MARKER the source sent at the end of one of the VM's own streams, resent until acknowledged. */
    record SentMarker(long src, long dst, int host, long token, long await) {}

    final long migrationId;
    final VmKey key;
    final Role role;
    Phase phase;
    /** The other end: the destination agent for a SOURCE, the source agent for a DESTINATION. */
    int peer;
    final ArrayDeque<Held> buffer = new ArrayDeque<>();
    long bufferBytes;
    final ArrayDeque<Held> egressHold = new ArrayDeque<>();
    long egressBytes;
    boolean lockHeld;
    long lockRetryAt;
    boolean handoverAsked;
    boolean unlocked;
    long lastRetryAt;
    long lastActivityAt;
    long handedOverAt;
    /** SOURCE: the VM's streams and their MARKER tokens, sent to the destination in HANDOVER_ACK. */
    final List<StreamToken> streams = new ArrayList<>();
    final Long2ObjectHashMap<SentMarker> unackedMarkers = new Long2ObjectHashMap<>();
    long relayed;
    long buffered;
    /** DESTINATION: the board confirmed (by lookup) that {@link #peer} is where the VM runs. */
    long peerRefreshedAt;
    /**
     * DESTINATION: this host's earlier SOURCE entry for the same VM, still relaying stragglers of that
     * migration when the VM comes back; frames that were not relayed to us go on taking its path.
     */
    MigrationEntry previous;
    /** DESTINATION: a migration out that began before this one's HANDOVER_ACK; started on it. */
    long deferredStart;
    boolean deferredStopped;

    MigrationEntry(long migrationId, VmKey key, Role role, Phase phase, long now) {
        this.migrationId = migrationId;
        this.key = key;
        this.role = role;
        this.phase = phase;
        this.lastActivityAt = now;
    }

    public long migrationId() { return migrationId; }
    public VmKey key() { return key; }
    public Role role() { return role; }
    public Phase phase() { return phase; }
    public int peer() { return peer; }
    public int buffered() { return buffer.size(); }
}
