package dev.ferry.lab.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Mode;
import dev.ferry.lab.sim.Simulation.Result;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;
import org.junit.jupiter.api.Test;

/**
 * The lossless-migration claim, checked over tens of thousands of seeded random schedules on every
 * core (docs/design.md, "What the simulation proves"): a failure prints its seed and the command
 * that replays it. {@code -Dferry.sim.schedules=N} and
 * {@code -Dferry.sim.firstSeed=S} choose which seeds run.
 */
class ProtocolSimulationTest {
    private static final int SCHEDULES = Integer.getInteger("ferry.sim.schedules", 20_000);
    private static final long FIRST_SEED = Long.getLong("ferry.sim.firstSeed", 1);

    @Test
    void ferryModeLosesDuplicatesAndReordersNothingAndLeavesNoMigrationEntry() {
        SimulationRun.Tally t = SimulationRun.run(FIRST_SEED, SCHEDULES, Mode.FERRY, SimulationRun.cores(),
                r -> System.out.println("FAILED " + r.describe()), done -> {});
        System.out.println("ProtocolSimulationTest: " + t.summary());
        assertThat(t.failures()).extracting(Result::describe).as(t.summary()).isEmpty();
        assertThat(t.schedules()).isEqualTo(SCHEDULES);
    }

    /**
     * The dangerous profile (docs/design.md §9) is not clean yet: this guards what it measured
     * (0 of its seeds 1-2,000 and 8 of 1-25,000 not clean, none losing or duplicating) from getting
     * worse while its remaining causes are fixed. Its failures print with the command that replays and
     * shrinks them.
     */
    @Test
    void dangerousProfileStaysWithinItsMeasuredFailureRateAndNeverDuplicates() {
        assertWithinRateAndNeverDuplicating(Simulation.Profile.DANGEROUS, 2_000, 200);
    }

    /**
     * An agent process restarted amid migrations (docs/design.md §6.8): nothing duplicated, every
     * lost frame lost with the dead process or counted, every flow delivering again and the tables
     * empty, in all but the share of schedules it measured (8 of seeds 1-1,000).
     */
    @Test
    void restartProfileKeepsItsPromiseWithinItsMeasuredRateAndNeverDuplicates() {
        assertWithinRateAndNeverDuplicating(Simulation.Profile.RESTART, 1_000, 50);
    }

    /** Seeds 1 to {@code count} of {@code profile}: none duplicates, and at most one in {@code oneIn} misses. */
    private static void assertWithinRateAndNeverDuplicating(Simulation.Profile profile, int count, int oneIn) {
        String name = profile.name().toLowerCase(java.util.Locale.ROOT);
        SimulationRun.Tally t = SimulationRun.run(1, count, Mode.FERRY, profile, SimulationRun.cores(),
                r -> System.out.println("NOT CLEAN (" + name + " profile) " + r.describe()), done -> {});
        System.out.println("ProtocolSimulationTest, " + name + " profile: " + t.summary());
        assertThat(t.duplicating()).as(t.summary()).isZero();
        assertThat(t.schedules() - t.clean()).as(t.summary()).isLessThanOrEqualTo(t.schedules() / oneIn);
    }

    @Test
    void framesLostWithARestartedAgentAreAccountedForAndWithoutThatAccountWouldBeUnexplained() {
        Result r = Simulation.run(Simulation.restart(3), Mode.FERRY);
        var loss = r.report().loss();
        assertThat(r.clean()).as(r.describe()).isTrue();
        assertThat(loss.lost()).isPositive();
        assertThat(loss.inRestarts()).isPositive();
        assertThat(loss.unexplained()).isZero();
        assertThat(loss.lost()).as("the other accounts alone do not explain the loss").isGreaterThan(loss.explained() - loss.inRestarts());
    }

    @Test
    void naiveModeLosesFramesInTheSameHarness() {
        List<Result> results = results(seed -> Simulation.run(seed, Mode.NAIVE), 100);
        assertThat(results.stream().mapToLong(r -> r.report().lost()).sum()).isPositive();
        assertThat(results.stream().filter(r -> !r.report().lossless()).count())
                .as("naive schedules that lost frames").isGreaterThan(results.size() / 2);
    }

    @Test
    void eagerModeLosesFramesInTheSameHarness() {
        List<Result> results = results(seed -> Simulation.run(seed, Mode.EAGER), 100);
        assertThat(results.stream().filter(r -> r.report().lost() > 0).count())
                .as("eager schedules that lost frames").isGreaterThan(results.size() / 2);
    }

    @Test
    void harnessSeesFramesTheWireLosesEvenInFerryMode() {
        Result r = Simulation.run(Simulation.withDataLoss(Simulation.schedule(7), 0.001), Mode.FERRY);
        assertThat(r.report().lost()).isPositive();
        assertThat(r.clean()).isFalse();
    }

    @Test
    void framesTheWireLosesAreUnexplainedWhileWhatNaiveLosesIsAccountedFor() {
        Result wire = Simulation.run(Simulation.withDataLoss(Simulation.schedule(7), 0.001), Mode.FERRY);
        assertThat(wire.report().loss().unexplained()).as("no counter sees a datagram the wire ate").isPositive();

        Result naive = Simulation.run(7, Mode.NAIVE);
        assertThat(naive.report().lost()).isPositive();
        assertThat(naive.report().loss().unexplained()).as(naive.describe()).isZero();
        assertThat(naive.report().loss().atStoppedCopy()).isPositive();
        assertThat(naive.report().loss().load()).as("a stopped copy's loss is the mode's, not load").isZero();
    }

    @Test
    void aSeedReplaysExactly() {
        Result first = Simulation.run(42, Mode.FERRY);
        Result again = Simulation.run(42, Mode.FERRY);
        assertThat(again.report()).isEqualTo(first.report());
        assertThat(first.report().migrations() + first.report().aborted()).isPositive();
    }

    @Test
    void schedulesCoverChainsAbortsAndBothEndsOfAFlowMigrating() {
        int chains = 0, aborts = 0, bothEnds = 0;
        for (long seed = FIRST_SEED; seed < FIRST_SEED + 200; seed++) {
            var s = Simulation.schedule(seed);
            var vms = s.migrations().stream().map(m -> m.vm()).toList();
            if (vms.size() != vms.stream().distinct().count()) chains++;
            if (s.migrations().stream().anyMatch(m -> m.ending() != dev.ferry.lab.PlannedMigration.Ending.COMPLETED)) aborts++;
            if (vms.contains(0) && vms.contains(1)) bothEnds++;
        }
        assertThat(chains).isGreaterThan(20);
        assertThat(aborts).isGreaterThan(20);
        assertThat(bothEnds).isGreaterThan(20);
    }

    private static List<Result> results(LongFunction<Result> run, int count) {
        List<Result> out = new ArrayList<>();
        for (long seed = FIRST_SEED; seed < FIRST_SEED + count; seed++) out.add(run.apply(seed));
        return out;
    }
}
