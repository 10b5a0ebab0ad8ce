package dev.ferry.agent.port.vhost;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Frames for the VM that its receive queue could not take yet (the guest offered no buffer, or the
 * queue is stopped for a migration): fixed slots, oldest first, copied in and out. A slot's array is
 * made the first time it is needed and kept, so the queue costs memory only as deep as it has been,
 * and nothing is allocated per frame after that. A frame longer than a slot (a jumbo frame) gets an
 * array of its own, dropped when it leaves, within a bound of bytes: slots of jumbo size would cost
 * their size times the queue's depth. Agent's thread only.
 */
final class FrameQueue {
    private final byte[][] slots;
    private final int[] lengths;
    private final int slotBytes, maxFrame;
    private final long maxLongBytes;
    private long longBytes;
    private int head, count;

    /** {@code capacity} frames of up to {@code slotBytes}, and longer ones up to {@code maxFrame} within {@code maxLongBytes} in all. */
    FrameQueue(int capacity, int slotBytes, int maxFrame, long maxLongBytes) {
        this.slots = new byte[capacity][];
        this.lengths = new int[capacity];
        this.slotBytes = slotBytes;
        this.maxFrame = maxFrame;
        this.maxLongBytes = maxLongBytes;
    }

    /** Copies a frame in; false when the queue is full or the frame too long (or the long ones' bytes at their bound). */
    boolean offer(byte[] b, int off, int len) {
        if (count == slots.length || len > maxFrame) return false;
        int at = (head + count) % slots.length;
        if (len > slotBytes) {
            if (longBytes + len > maxLongBytes) return false;
            longBytes += len;
            slots[at] = new byte[len];
        } else if (slots[at] == null || slots[at].length != slotBytes) {
            slots[at] = new byte[slotBytes];
        }
        System.arraycopy(b, off, slots[at], 0, len);
        lengths[at] = len;
        count++;
        return true;
    }

    boolean isEmpty() {
        return count == 0;
    }

    int size() {
        return count;
    }

    /** The oldest frame's bytes (valid until {@link #remove}); its length is {@link #firstLength}. */
    byte[] first() {
        return slots[head];
    }

    int firstLength() {
        return lengths[head];
    }

    void remove() {
        if (lengths[head] > slotBytes) {
            longBytes -= lengths[head];
            slots[head] = null;
        }
        head = (head + 1) % slots.length;
        count--;
    }

    /** Hands every frame out, oldest first, as its own array, and empties the queue. */
    int drainTo(Consumer<byte[]> frames) {
        int n = count;
        while (count > 0) {
            frames.accept(Arrays.copyOf(first(), firstLength()));
            remove();
        }
        return n;
    }
}
