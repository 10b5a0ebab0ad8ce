package dev.ferry.agent;

import java.util.ArrayDeque;
import java.util.List;

/**
 * The newest changes this agent made to its {@link LocationCache}: when it learned that a VM is
 * somewhere new (a board push, a look-up's answer, a snapshot). For a migration's timeline: the
 * moment each sender's agent turns to the new path. Agent's thread only; {@link #changes()} copies.
 */
public final class LocationLog {
    /** How many changes are kept, oldest dropped first. */
    public static final int KEPT = 256;

    /** VM {@code mac} of {@code vni} is on {@code host} (location {@code version}) since {@code atNanos}, on the loop's clock. */
    public record Change(int vni, long mac, int host, long version, long atNanos) {}

    private final ArrayDeque<Change> kept = new ArrayDeque<>();

    void add(Change c) {
        if (kept.size() == KEPT) kept.removeFirst();
        kept.addLast(c);
    }

    /** The kept changes, oldest first. */
    public List<Change> changes() {
        return List.copyOf(kept);
    }
}
