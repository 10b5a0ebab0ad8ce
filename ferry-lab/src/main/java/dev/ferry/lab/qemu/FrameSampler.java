package dev.ferry.lab.qemu;

import dev.ferry.lab.timeline.Timeline;
import java.util.Arrays;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;

/**
 * Counts the frames reaching a VM every millisecond, on a thread of its own, while a migration runs:
 * the lab's timeline strip. Bounded: it stops by itself after {@link #MAX_SECONDS}.
 */
final class FrameSampler {
    static final long BUCKET_NANOS = 1_000_000;
    private static final int MAX_SECONDS = 300;

    private final LongSupplier count;
    private final Thread thread;
    private long[] at = new long[8_192];
    private long[] counts = new long[8_192];
    private int n;
    private volatile boolean running = true;

    private FrameSampler(LongSupplier count) {
        this.count = count;
        this.thread = new Thread(this::run, "lab-frame-sampler");
        thread.setDaemon(true);
    }

    static FrameSampler start(LongSupplier count) {
        FrameSampler s = new FrameSampler(count);
        s.thread.start();
        return s;
    }

    private void run() {
        long deadline = System.nanoTime() + MAX_SECONDS * 1_000_000_000L;
        while (running && System.nanoTime() < deadline) {
            long c = count.getAsLong();
            if (n == at.length) {
                at = Arrays.copyOf(at, n * 2);
                counts = Arrays.copyOf(counts, n * 2);
            }
            at[n] = System.nanoTime();
            counts[n++] = c;
            LockSupport.parkNanos(BUCKET_NANOS / 2);
        }
    }

    /** Stops sampling; the frames counted between samples, put in the millisecond they were seen in. */
    Timeline.Strip stop(String name) throws InterruptedException {
        running = false;
        thread.join();
        if (n < 2) return new Timeline.Strip(name, n == 0 ? System.nanoTime() : at[0], BUCKET_NANOS, new long[0]);
        long start = at[0];
        long[] buckets = new long[(int) ((at[n - 1] - start) / BUCKET_NANOS) + 1];
        for (int i = 1; i < n; i++) buckets[(int) ((at[i] - start) / BUCKET_NANOS)] += Math.max(0, counts[i] - counts[i - 1]);
        return new Timeline.Strip(name, start, BUCKET_NANOS, buckets);
    }
}
