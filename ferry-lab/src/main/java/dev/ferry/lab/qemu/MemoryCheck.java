package dev.ferry.lab.qemu;

import dev.ferry.service.qmp.QmpClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Whether a migrated VM's memory arrived whole: both copies' guest-physical memory, dumped by QEMU
 * ({@code pmemsave}) while neither runs (the source stopped for good, the destination loaded and held
 * paused), compared page by page. A page that differs is one the migration did not copy again after
 * its last write: a write into the guest that the vhost-user back-end did not mark in QEMU's dirty log.
 */
public final class MemoryCheck {
    static final int PAGE = 4096;
    /** Differing pages named, at most. */
    private static final int NAMED = 8;

    /** Bytes of each side shown from the first differing one. */
    private static final int SHOWN = 24;

    /**
     * What the comparison found: how many pages, the first differing ones' guest-physical addresses,
     * and what differs in the very first ({@code ""} when whole): whether it looks like a frame the
     * back-end wrote or the guest's own data is the first clue to who wrote it unlogged.
     */
    public record Outcome(long pages, long differing, List<Long> firstDiffering, String firstDifference) {
        public boolean whole() {
            return differing == 0;
        }

        @Override
        public String toString() {
            if (whole()) return "whole (" + pages + " pages alike)";
            return differing + " of " + pages + " pages differ, first at " + firstDiffering.stream().map(a -> "0x" + Long.toHexString(a)).toList()
                    + "; in the first, " + firstDifference;
        }
    }

    /** Where two pages differ (the span from the first to the last differing byte) and their bytes from the first. */
    static String difference(long address, byte[] x, int n, byte[] y, int m) {
        int from = 0, shared = Math.min(n, m);
        while (from < shared && x[from] == y[from]) from++;
        if (from == shared) return "one dump ends at 0x" + Long.toHexString(address + from);
        int to = shared - 1;
        while (to > from && x[to] == y[to]) to--;
        int count = 0;
        for (int i = from; i <= to; i++) if (x[i] != y[i]) count++;
        return count + " bytes differ in [0x" + Long.toHexString(address + from) + ", 0x" + Long.toHexString(address + to)
                + "]; from 0x" + Long.toHexString(address + from) + " the source has " + hex(x, from, n) + ", the new copy " + hex(y, from, m);
    }

    private static String hex(byte[] b, int from, int length) {
        StringBuilder sb = new StringBuilder();
        for (int i = from; i < Math.min(length, from + SHOWN); i++) {
            if (i > from) sb.append(' ');
            sb.append(Character.forDigit((b[i] >> 4) & 0xF, 16)).append(Character.forDigit(b[i] & 0xF, 16));
        }
        return sb.toString();
    }

    private MemoryCheck() {}

    /**
     * Dumps {@code bytes} of guest memory from both copies at once (each QEMU writes its own file in
     * {@code dir}), compares them and deletes the files.
     */
    public static Outcome compare(QmpClient source, QmpClient destination, long bytes, Path dir, String name) throws Exception {
        Path a = dir.resolve(name + ".source.mem"), b = dir.resolve(name + ".destination.mem");
        try {
            CompletableFuture<Void> one = dump(source, bytes, a), other = dump(destination, bytes, b);
            CompletableFuture.allOf(one, other).get();
            return compare(a, b);
        } finally {
            Files.deleteIfExists(a);
            Files.deleteIfExists(b);
        }
    }

    private static CompletableFuture<Void> dump(QmpClient qemu, long bytes, Path into) {
        return CompletableFuture.runAsync(() -> {
            try {
                qemu.execute("pmemsave", Map.of("val", 0, "size", bytes, "filename", into.toString()));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /** Two dumps compared page by page; a shorter one differs in every page it lacks. */
    static Outcome compare(Path a, Path b) throws IOException {
        long pages = 0, differing = 0;
        List<Long> first = new ArrayList<>();
        String firstDifference = "";
        byte[] x = new byte[PAGE], y = new byte[PAGE];
        try (InputStream one = Files.newInputStream(a); InputStream other = Files.newInputStream(b)) {
            for (;;) {
                int n = one.readNBytes(x, 0, PAGE), m = other.readNBytes(y, 0, PAGE);
                if (n == 0 && m == 0) break;
                if (n != m || !Arrays.equals(x, 0, n, y, 0, m)) {
                    if (differing == 0) firstDifference = difference(pages * PAGE, x, n, y, m);
                    differing++;
                    if (first.size() < NAMED) first.add(pages * PAGE);
                }
                pages++;
            }
        }
        return new Outcome(pages, differing, List.copyOf(first), firstDifference);
    }
}
