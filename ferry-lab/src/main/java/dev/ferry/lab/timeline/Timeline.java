package dev.ferry.lab.timeline;

import java.util.List;

/**
 * One migration as a picture sees it: lanes of marked instants and spans on one clock (the lab's
 * process, where its agents and its QEMU observer run), and the frames that reached the VM as a
 * strip of counts per bucket. Times are {@link System#nanoTime} values of that one process.
 *
 * @param title    what the picture is of (the migration's number, VM, hosts)
 * @param caption  one line under it: the figures the picture shows
 * @param fromNanos where the picture's time axis starts
 * @param toNanos   where it ends
 */
public record Timeline(String title, String caption, long fromNanos, long toNanos, List<Lane> lanes, Strip strip) {
    public Timeline {
        if (toNanos <= fromNanos) throw new IllegalArgumentException("toNanos must be after fromNanos");
        lanes = List.copyOf(lanes);
    }

    /** An instant with its name: a step of the migration as one side saw it. */
    public record Mark(String label, long atNanos) {}

    /** A stretch of time with its name, e.g. QEMU's downtime (source stopped to destination resumed). */
    public record Span(String label, long fromNanos, long toNanos) {}

    /** One row of the picture: a host's agent, or QEMU. {@code color} is an SVG color for its marks and spans. */
    public record Lane(String name, String color, List<Mark> marks, List<Span> spans) {
        public Lane {
            marks = List.copyOf(marks);
            spans = List.copyOf(spans);
        }
    }

    /**
     * Frames that reached the VM: {@code counts[i]} in the bucket starting {@code startNanos + i *
     * bucketNanos}.
     */
    public record Strip(String name, long startNanos, long bucketNanos, long[] counts) {
        public Strip {
            if (bucketNanos <= 0) throw new IllegalArgumentException("bucketNanos must be positive");
            counts = counts.clone();
        }

        /** The buckets from {@code fromNanos} to {@code toNanos} only (a picture's window of a whole run's strip). */
        public Strip within(long fromNanos, long toNanos) {
            int a = (int) Math.max(0, Math.min(counts.length, (fromNanos - startNanos) / bucketNanos));
            int b = (int) Math.max(a, Math.min(counts.length, (toNanos - startNanos) / bucketNanos + 1));
            return new Strip(name, startNanos + a * bucketNanos, bucketNanos, java.util.Arrays.copyOfRange(counts, a, b));
        }

        /** {@link #longestGap} of the buckets from {@code fromNanos} to {@code toNanos}. */
        public Span longestGapWithin(long fromNanos, long toNanos) {
            return within(fromNanos, toNanos).longestGap();
        }

        /**
         * The longest run of empty buckets between two that had frames, as a span (from the end of the
         * last bucket with frames before it to the start of the first after it); null when the strip has
         * no such run. Its length is known to within one bucket.
         */
        public Span longestGap() {
            int lastFull = -1, bestFrom = -1, bestTo = -1;
            for (int i = 0; i < counts.length; i++) {
                if (counts[i] == 0) continue;
                if (lastFull >= 0 && i - lastFull - 1 > bestTo - bestFrom) {
                    bestFrom = lastFull + 1;
                    bestTo = i;
                }
                lastFull = i;
            }
            if (bestFrom < 0 || bestTo == bestFrom) return null;
            long from = startNanos + bestFrom * bucketNanos, to = startNanos + bestTo * bucketNanos;
            return new Span(String.format(java.util.Locale.ROOT, "gap %.0f ms", (to - from) / 1e6), from, to);
        }
    }
}
