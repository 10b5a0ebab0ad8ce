package dev.ferry.agent;

import dev.ferry.board.VmKey;
import dev.ferry.wire.ControlMessage.StreamToken;
import java.util.ArrayList;
import java.util.List;
import org.agrona.collections.Long2ObjectHashMap;

/** One row of the migration table: a VM this agent is migrating out (SOURCE) or in (DESTINATION). */
public final class MigrationEntry {
    public enum Role { SOURCE, DESTINATION }

    /** SOURCE: PRECOPY, STOPPED, HANDED_OVER. DESTINATION: INCOMING, RESUMED (handover asked), RUNNING. */
    public enum Phase { PRECOPY, STOPPED, HANDED_OVER, INCOMING, RESUMED, RUNNING }

    /** A MARKER the source sent at the end of one of the VM's own streams, resent until acknowledged. */
    record SentMarker(long src, long dst, int host, long token, long await, long version) {}

    /**
     * Both agents' name for this migration. A standby copy may be plugged without one (0, as a QMP
     * detector knows none): it then takes the source's from the source's PREPARE_ACK.
     */
    long migrationId;
    final VmKey key;
    /** The VM's port on this host; kept here because the VM may leave (its port unplugged) before the entry settles. */
    LocalPort port;
    /** When its steps happened here (issue 15); every entry has one, made by {@link Migrations}. */
    MigrationTimeline.Record timeline;
    /** DESTINATION: the source answered PREPARE, so {@link #peer} is certain. */
    boolean peerConfirmed;
    final Role role;
    /** Changed by {@link #moveTo} alone. */
    private Phase phase;
    /** The other end: the destination agent for a SOURCE, the source agent for a DESTINATION. */
    int peer;
    private final HeldQueue buffer = new HeldQueue();
    /** DESTINATION: what the resumed VM sent before HANDOVER_ACK named its streams. */
    final HeldQueue egressHold = new HeldQueue();
    boolean lockHeld;
    /**
     * SOURCE: the record's version when the lock was granted, the last version of the VM's stay on
     * this host. A sender's frame stamped with it or older was sent to that stay; a newer stamp to a
     * later one (versions only grow, and the record cannot move while this lock holds it).
     */
    long residentVersion = Long.MAX_VALUE;
    /** SOURCE kept in {@code returned}: the migration that brought the VM back; what it relays is not stale. */
    long returnedBy;
    /**
     * SOURCE kept in {@code returned}: the relaying migrations ({@code via}) whose frames it judged
     * stale. Bounded: a VM's migrations while one entry relays are few; past the bound a path is
     * judged afresh each time, as before it was remembered.
     */
    private final long[] staleVias = new long[8];
    private int staleViaCount;
    long lockRetryAt;
    boolean handoverAsked;
    boolean unlocked;
    /** SOURCE: when a record last showed this migration's lock after its hand-over and it was released again. */
    long unlockedAgainAt = Long.MIN_VALUE / 2;
    /** SOURCE: aborted and out of the table; a lock granted late is released at once. */
    boolean aborted;
    long lastRetryAt;
    long lastActivityAt;
    long handedOverAt;
    /** SOURCE: when the VM stopped here for the last copy. */
    long stoppedAt;
    /** SOURCE: when the board was last asked whether another host claims the VM (design §6.8). */
    long claimantAskedAt;
    /** When the destination's copy resumed (agent clock, ns). */
    long resumedAt;
    /** The destination told the board its copy runs without the source's HANDOVER_ACK (DESIGN §5). */
    boolean reportedRunning;
    /** SOURCE: the VM's streams and their MARKER tokens, sent to the destination in HANDOVER_ACK. */
    final List<StreamToken> streams = new ArrayList<>();
    /** SOURCE: tokens of MARKERs to the VM consumed here, fixed at hand-over. */
    List<Long> consumed = List.of();
    final Long2ObjectHashMap<SentMarker> unackedMarkers = new Long2ObjectHashMap<>();
    long relayed;
    long buffered;
    /** DESTINATION: the board confirmed (by lookup) that {@link #peer} is where the VM runs. */
    long peerRefreshedAt;
    /**
     * DESTINATION: the entry this host had for the same VM when the VM came back before it settled:
     * a SOURCE still waiting for its HANDOVER or relaying stragglers, or a DESTINATION still waiting
     * for its HANDOVER_ACK whose VM has left again. Frames that the incoming migration's source did
     * not relay to us go on taking that entry's path. For a SOURCE kept in {@code returned}: the one
     * kept before it.
     */
    MigrationEntry outgoing;
    /** DESTINATION: a migration out that began before this one's HANDOVER_ACK; started on it. */
    long deferredStart;
    boolean deferredStopped;

    /** Whether frames relayed by migration {@code via} were judged stale here (§6.6: a path keeps its way). */
    boolean judgedStale(long via) {
        for (int i = 0; i < staleViaCount; i++) {
            if (staleVias[i] == via) return true;
        }
        return false;
    }

    void judgeStale(long via) {
        if (staleViaCount < staleVias.length) staleVias[staleViaCount++] = via;
    }

    /** What classification does with a frame for this entry's VM (design §6.2). */
    enum Action { DELIVER, BUFFER, RELAY }

    MigrationEntry(long migrationId, VmKey key, Role role, Phase phase, long now) {
        this.migrationId = migrationId;
        this.key = key;
        this.role = role;
        this.phase = phase;
        this.lastActivityAt = now;
    }

    /**
     * The VM is no longer here: a SOURCE past its pre-copy, or a DESTINATION whose next migration out
     * already stopped the VM. A standby that appears now is the VM coming back.
     */
    boolean hasLeft() {
        return role == Role.SOURCE ? phase != Phase.PRECOPY : deferredStart != 0 && deferredStopped;
    }

    /** Starts a SOURCE at PRECOPY, a DESTINATION at INCOMING. */
    static MigrationEntry source(long migrationId, VmKey key, long now) {
        return new MigrationEntry(migrationId, key, Role.SOURCE, Phase.PRECOPY, now);
    }

    static MigrationEntry destination(long migrationId, VmKey key, long now) {
        return new MigrationEntry(migrationId, key, Role.DESTINATION, Phase.INCOMING, now);
    }

    /**
     * The one place a phase changes: SOURCE PRECOPY → STOPPED → HANDED_OVER, DESTINATION INCOMING →
     * RESUMED → RUNNING. Anything else is a bug in the caller, not an input to tolerate.
     */
    void moveTo(Phase next) {
        boolean legal = switch (next) {
            case STOPPED -> phase == Phase.PRECOPY;
            case HANDED_OVER -> phase == Phase.STOPPED;
            case RESUMED -> phase == Phase.INCOMING;
            case RUNNING -> phase == Phase.RESUMED;
            case PRECOPY, INCOMING -> false;
        };
        if (!legal) throw new IllegalStateException("migration " + migrationId + " of " + key + ": " + phase + " -> " + next);
        phase = next;
    }

    boolean is(Phase p) {
        return phase == p;
    }

    /** The VM runs on this copy now: the source before it stops, the destination once resumed. */
    boolean ownsVm() {
        return phase == Phase.PRECOPY || phase == Phase.RESUMED || phase == Phase.RUNNING;
    }

    /**
     * The entry of this VM's chain that decides for {@code f}: this one if its own source relayed
     * the frame (or it has nothing behind it), else the older entry's way, as before the VM came
     * back (design §6.6).
     */
    MigrationEntry governing(Frame f) {
        MigrationEntry m = this;
        while (m.outgoing != null && !(f.has(dev.ferry.wire.Geneve.FLAG_FORWARDED) && f.via == m.migrationId)) {
            m = m.outgoing;
        }
        return m;
    }

    /** The row of design §6.2 this entry is in. */
    Action action() {
        // Resumed here, and already stopped again for its next migration: kept for that one.
        if (phase == Phase.RESUMED && deferredStopped) return Action.BUFFER;
        return switch (phase) {
            case PRECOPY, RESUMED, RUNNING -> Action.DELIVER;
            case STOPPED, INCOMING -> Action.BUFFER;
            case HANDED_OVER -> Action.RELAY;
        };
    }

    /** Keeps a frame at the buffer's tail; false (nothing kept) when {@code boundBytes} would be passed. */
    boolean keep(Held h, long boundBytes) {
        if (!buffer.offer(h, boundBytes)) return false;
        buffered++;
        return true;
    }

    /** Keeps frames older than any buffered yet at the buffer's head, in their order. */
    void keepFirst(List<Held> older) {
        buffer.addAllFirst(older);
        buffered += older.size();
    }

    /** Appends frames another queue of this host kept for the VM (held behind MARKERs, or an earlier entry's buffer). */
    void append(List<Held> frames) {
        for (Held h : frames) buffer.add(h);
    }

    /** Empties the buffer, oldest first. */
    List<Held> takeBuffer() {
        return buffer.takeAll();
    }

    /** Drops, oldest first, what waited longer than {@code maxNanos}; returns how many. */
    int expire(long now, long maxNanos) {
        return buffer.expire(now, maxNanos);
    }

    /** Empties the VM's own held frames, oldest first. */
    List<Held> takeEgress() {
        return egressHold.takeAll();
    }

    /** Forgets whatever is still kept; returns how many frames that was. */
    int discard() {
        return buffer.clear() + egressHold.clear();
    }

    void relayed(long now) {
        relayed++;
        lastActivityAt = now;
        if (timeline != null) timeline.markLatest(MigrationTimeline.Step.LAST_RELAYED, now);
    }

    public long migrationId() { return migrationId; }

    /**
     * The migration taking the VM away from this host: this one as a source, or, on a destination
     * whose VM began its next migration before this one settled, that next one's id; 0 for none.
     */
    public long outgoingMigrationId() {
        return role == Role.SOURCE ? migrationId : deferredStart;
    }
    public VmKey key() { return key; }
    public Role role() { return role; }
    public Phase phase() { return phase; }
    public int peer() { return peer; }
    /** Frames in the buffer now. */
    public int buffered() { return buffer.size(); }
    /** Bytes in the buffer now. */
    public long bufferedBytes() { return buffer.bytes(); }
    /** Frames held back for the VM to send once its destination runs. */
    public int egressHeld() { return egressHold.size(); }
    /** Frames this migration relayed to its peer, in all. */
    public long relayedTotal() { return relayed; }
    /** Frames this migration kept in its buffer, in all. */
    public long bufferedTotal() { return buffered; }

    @Override
    public String toString() {
        return role + " " + phase + " migration " + migrationId + " peer " + peer + (peerConfirmed ? " (confirmed)" : "")
                + (deferredStart != 0 ? " next " + deferredStart + (deferredStopped ? " stopped" : "") : "");
    }
}
