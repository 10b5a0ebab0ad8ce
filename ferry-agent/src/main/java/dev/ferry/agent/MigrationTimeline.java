package dev.ferry.agent;

import dev.ferry.board.VmKey;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * When each step of a migration happened on this agent: one record per migration entry, the source's
 * and the destination's apart. Hosts' clocks differ, so a record's times are durations from its own
 * first step, compared within one side only. The newest {@link #KEPT} are kept, for {@code ferry ctl
 * migrations --history} and the metrics. Agent's thread only; {@link #history()} copies.
 */
public final class MigrationTimeline {
    /** How many of the newest migrations are kept, ended or not. */
    public static final int KEPT = 64;
    private static final long UNSET = Long.MIN_VALUE;

    /** A step, on the side that sees it. */
    public enum Step {
        /** Source: the migration began (detector). Destination: the incoming copy was plugged. */
        BEGUN,
        /** Source: the lock on the VM's record was asked of the board, and granted. */
        LOCK_ASKED, LOCK_GRANTED,
        /** Destination: PREPARE sent to the source; source: received. */
        PREPARE_SENT, PREPARE_RECEIVED,
        /** Source: the VM stopped (detector, or the destination's HANDOVER said so first). */
        SOURCE_STOPPED,
        /** Source: QEMU took the VM's rings back from this agent's vhost-user back-end (the stop, as the back-end saw it). */
        SOURCE_RINGS_STOPPED,
        /** Source: the first frame for the stopped VM was buffered. */
        FIRST_BUFFERED,
        /** Destination: QEMU gave the copy's rings to this agent's vhost-user back-end (its start, as the back-end saw it). */
        DESTINATION_RINGS_STARTED,
        /** Destination: the copy runs (detector, or its first frame). */
        DESTINATION_RESUMED,
        /** Destination: HANDOVER sent; source: received. */
        HANDOVER_SENT, HANDOVER_RECEIVED,
        /** Source: the buffer relayed to the destination, the unlock asked, and applied. */
        RELAY_FLUSHED, UNLOCK_ASKED, UNLOCK_APPLIED,
        /** Destination: the source's HANDOVER_ACK arrived; the VM runs here, settled. */
        HANDOVER_ACK_RECEIVED,
        /** Destination: the first frame handed to the VM since it resumed (the end of its gap, as the agent sees it). */
        FIRST_DELIVERED,
        /**
         * Destination, vhost-user ports: the first frame written into the guest's receive ring since
         * QEMU started it ({@link #FIRST_DELIVERED} may be into the port's own queue, where frames
         * wait for the rings and the guest's buffers).
         */
        FIRST_IN_RING,
        /** Source: the last frame relayed on to the destination after the hand-over (a sender's cache not yet updated). */
        LAST_RELAYED,
        /** The entry ended: completed or aborted. */
        ENDED
    }

    /** One migration entry's steps, as they happen. */
    static final class Record {
        long migrationId;
        final VmKey key;
        final MigrationEntry.Role role;
        final long[] at = new long[Step.values().length];
        String outcome = "ongoing";
        long relayed;

        Record(long migrationId, VmKey key, MigrationEntry.Role role) {
            this.migrationId = migrationId;
            this.key = key;
            this.role = role;
            Arrays.fill(at, UNSET);
        }

        /** The first time {@code step} happened; later repeats (retries) do not move it. */
        void mark(Step step, long now) {
            if (at[step.ordinal()] == UNSET) at[step.ordinal()] = now;
        }

        /** The latest time {@code step} happened: for steps that repeat, where the last one matters. */
        void markLatest(Step step, long now) {
            at[step.ordinal()] = now;
        }

        void end(String how, long now) {
            if (at[Step.ENDED.ordinal()] != UNSET) return;
            outcome = how;
            mark(Step.ENDED, now);
        }
    }

    /**
     * A migration as this agent saw it: each step's time in nanoseconds after its first step (the map
     * in the steps' declared order); {@code outcome} completed, aborted, ended (a destination entry
     * that left the table another way) or ongoing. {@code begunNanos} is the first step on the loop's
     * clock ({@link System#nanoTime}): comparable only with times taken in the same process (the lab's
     * agents share one), never across hosts.
     */
    public record Past(long migrationId, VmKey key, String role, String outcome, long begunNanos, Map<Step, Long> nanosAfterBegun,
                       long relayed) {}

    private final ArrayDeque<Record> kept = new ArrayDeque<>();

    /** Starts the record of a new entry. */
    Record begin(long migrationId, VmKey key, MigrationEntry.Role role, long now) {
        Record r = new Record(migrationId, key, role);
        r.mark(Step.BEGUN, now);
        if (kept.size() == KEPT) kept.removeFirst();
        kept.addLast(r);
        return r;
    }

    /** The kept migrations, oldest first. */
    public List<Past> history() {
        List<Past> out = new ArrayList<>(kept.size());
        for (Record r : kept) {
            long begun = r.at[Step.BEGUN.ordinal()];
            Map<Step, Long> steps = new EnumMap<>(Step.class);
            for (Step s : Step.values()) {
                if (r.at[s.ordinal()] != UNSET) steps.put(s, r.at[s.ordinal()] - begun);
            }
            out.add(new Past(r.migrationId, r.key, r.role.name().toLowerCase(java.util.Locale.ROOT), r.outcome, begun, steps,
                    r.relayed));
        }
        return out;
    }
}
