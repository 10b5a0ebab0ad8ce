package dev.ferry.agent;

import java.util.List;

/**
 * A VM moving between two copies on this host, as QEMU's local migration does for a hypervisor
 * upgrade (design §6.7). The VM's location does not change, so neither the board nor any peer takes
 * part: its port keeps delivering to the old copy until that copy stops, holds the VM's frames
 * while neither copy runs, and at the new copy's resumption hands them to it, ahead of anything
 * newer. The VM's {@link LocalPort} (its streams, its MARKER state) stays the same throughout.
 * Agent's thread only.
 */
final class LocalMigration {
    final long migrationId;
    /** The paused incoming copy; receives the VM's frames once it resumes. */
    final Port standby;
    private boolean stopped;
    private boolean ended;
    private final HeldQueue held = new HeldQueue();

    LocalMigration(long migrationId, Port standby) {
        this.migrationId = migrationId;
        this.standby = standby;
    }

    /** The old copy stopped: from now on frames wait here. */
    void stop() {
        stopped = true;
    }

    boolean holding() {
        return stopped;
    }

    /** Keeps a frame at the tail; false (nothing kept) when {@code boundBytes} would be passed. */
    boolean hold(byte[] b, int off, int len, long now, long boundBytes) {
        // Checked before copying: a frame that does not fit costs nothing.
        if (!held.fits(len, boundBytes)) return false;
        held.add(new Held(java.util.Arrays.copyOfRange(b, off, off + len), 0, 0, 0, 0, 0, now));
        return true;
    }

    /** Frames the old copy was given and never read: older than anything held, so they lead. */
    void holdFirst(List<byte[]> unread, long now) {
        held.addAllFirst(unread.stream().map(f -> new Held(f, 0, 0, 0, 0, 0, now)).toList());
    }

    /** Switched to the new copy, or given up: later steps of this migration change nothing. */
    boolean ended() {
        return ended;
    }

    /** Ends the migration, emptying the held frames, oldest first. */
    List<Held> release() {
        ended = true;
        stopped = false;
        return held.takeAll();
    }

    /** Drops, oldest first, what waited longer than {@code maxNanos}; returns how many. */
    int expire(long now, long maxNanos) {
        return held.expire(now, maxNanos);
    }

    int heldFrames() {
        return held.size();
    }
}
