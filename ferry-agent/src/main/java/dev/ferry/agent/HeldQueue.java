package dev.ferry.agent;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Frames kept in arrival order with their bytes counted: a migration's buffer, a resumed VM's own
 * frames, a local migration's hold. The caller bounds it ({@link #offer}) and expires it; every frame
 * it drops it counts. Agent's thread only.
 */
final class HeldQueue {
    private final ArrayDeque<Held> frames = new ArrayDeque<>();
    private long bytes;

    /** Whether a frame of {@code frameLength} bytes fits under {@code boundBytes}: asked before copying one. */
    boolean fits(int frameLength, long boundBytes) {
        return bytes + Held.cost(frameLength) <= boundBytes;
    }

    /** Keeps {@code h} at the tail; false (nothing kept) when {@code boundBytes} would be passed. */
    boolean offer(Held h, long boundBytes) {
        if (!fits(h.frame().length, boundBytes)) return false;
        add(h);
        return true;
    }

    /** Keeps {@code h} at the tail, whatever the bound: frames another queue of this host already kept. */
    void add(Held h) {
        frames.add(h);
        bytes += h.cost();
    }

    /** Keeps {@code older}, in their order, ahead of everything kept so far. */
    void addAllFirst(List<Held> older) {
        for (int i = older.size() - 1; i >= 0; i--) {
            frames.addFirst(older.get(i));
            bytes += older.get(i).cost();
        }
    }

    /** Empties the queue, oldest first. */
    List<Held> takeAll() {
        List<Held> out = new ArrayList<>(frames);
        frames.clear();
        bytes = 0;
        return out;
    }

    /** Drops, oldest first, what waited longer than {@code maxNanos}; returns how many. */
    int expire(long now, long maxNanos) {
        int n = 0;
        while (!frames.isEmpty() && now - frames.peekFirst().sinceNanos() > maxNanos) {
            bytes -= frames.pollFirst().cost();
            n++;
        }
        return n;
    }

    /** Forgets everything kept; returns how many frames that was. */
    int clear() {
        int n = frames.size();
        frames.clear();
        bytes = 0;
        return n;
    }

    int size() { return frames.size(); }

    long bytes() { return bytes; }
}
