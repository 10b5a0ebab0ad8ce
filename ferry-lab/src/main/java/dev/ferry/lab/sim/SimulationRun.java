package dev.ferry.lab.sim;

import dev.ferry.agent.Mode;
import dev.ferry.lab.sim.Simulation.Result;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Many seeded schedules on every core: each schedule is its own single-threaded simulation, so
 * threads share nothing but the tally. Seeds are handed out in order; a failure keeps its seed,
 * so it replays alone with {@code ./ferry sim --seed N}.
 */
public final class SimulationRun {
    /** What a run of many schedules found; {@code failures} holds at most {@link #KEPT_FAILURES} of them. */
    public record Tally(long schedules, long clean, long losing, long duplicating, long reordering, long entriesLeft,
                        long framesSent, long framesLost, long migrations, long waitsRanOut, List<Result> failures) {
        public boolean allClean() {
            return clean == schedules;
        }

        /** One line a person reads, e.g. {@code 20000 of 20000 schedules clean (...)}. */
        public String summary() {
            return String.format(java.util.Locale.ROOT,
                    "%d of %d schedules clean (not clean: %d lost frames, %d duplicated, %d reordered, %d left a migration entry;"
                            + " %d of the not clean had a MARKER's bounded wait run out; %d migrations, %d frames sent, %d lost)",
                    clean, schedules, losing, duplicating, reordering, entriesLeft, waitsRanOut, migrations, framesSent, framesLost);
        }
    }

    public static final int KEPT_FAILURES = 100;
    private static final int BATCH = 64;

    private SimulationRun() {}

    /**
     * Runs seeds {@code firstSeed .. firstSeed + count - 1} in {@code mode} on {@code threads} threads.
     * {@code onFailure} and {@code onProgress} (schedules done so far) are called from those threads.
     */
    public static Tally run(long firstSeed, long count, Mode mode, int threads, Consumer<Result> onFailure,
                            java.util.function.LongConsumer onProgress) {
        return run(firstSeed, count, mode, Simulation.Profile.CLASSIC, threads, onFailure, onProgress);
    }

    /** As above, with the schedules {@code profile} draws. */
    public static Tally run(long firstSeed, long count, Mode mode, Simulation.Profile profile, int threads,
                            Consumer<Result> onFailure, java.util.function.LongConsumer onProgress) {
        AtomicLong next = new AtomicLong(firstSeed);
        long end = firstSeed + count;
        AtomicLong done = new AtomicLong(), clean = new AtomicLong(), losing = new AtomicLong(), dup = new AtomicLong(),
                reordering = new AtomicLong(), left = new AtomicLong(), sent = new AtomicLong(), lost = new AtomicLong(),
                migrations = new AtomicLong(), waits = new AtomicLong();
        List<Result> failures = Collections.synchronizedList(new ArrayList<>());
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "sim");
            t.setDaemon(true);
            return t;
        });
        for (int i = 0; i < threads; i++) {
            pool.execute(() -> {
                for (long from = next.getAndAdd(BATCH); from < end; from = next.getAndAdd(BATCH)) {
                    for (long seed = from; seed < Math.min(from + BATCH, end); seed++) {
                        Result r = Simulation.run(profile.schedule(seed), mode);
                        sent.addAndGet(r.report().sent());
                        lost.addAndGet(r.report().lost());
                        migrations.addAndGet(r.report().migrations() + r.report().aborted());
                        if (r.clean()) {
                            clean.incrementAndGet();
                        } else {
                            if (r.report().lost() > 0) losing.incrementAndGet();
                            if (r.report().duplicated() > 0) dup.incrementAndGet();
                            if (r.report().reordered() > 0) reordering.incrementAndGet();
                            if (r.report().migrationEntriesLeft() > 0) left.incrementAndGet();
                            if (r.report().markerWaitsExpired() > 0) waits.incrementAndGet();
                            if (failures.size() < KEPT_FAILURES) failures.add(r);
                            onFailure.accept(r);
                        }
                        onProgress.accept(done.incrementAndGet());
                    }
                }
            });
        }
        pool.shutdown();
        try {
            while (!pool.awaitTermination(1, TimeUnit.HOURS)) {
                // A schedule is bounded in simulated time, so this only waits for the work to end.
            }
        } catch (InterruptedException e) {
            pool.shutdownNow();
            Thread.currentThread().interrupt();
        }
        List<Result> sorted = new ArrayList<>(failures);
        sorted.sort(java.util.Comparator.comparingLong(r -> r.schedule().seed()));
        return new Tally(done.get(), clean.get(), losing.get(), dup.get(), reordering.get(), left.get(), sent.get(), lost.get(),
                migrations.get(), waits.get(), List.copyOf(sorted));
    }

    /** The cores this machine offers, for callers that want them all. */
    public static int cores() {
        return Runtime.getRuntime().availableProcessors();
    }
}
