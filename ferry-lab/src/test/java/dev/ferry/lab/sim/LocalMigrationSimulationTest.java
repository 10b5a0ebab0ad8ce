package dev.ferry.lab.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Mode;
import dev.ferry.lab.PlannedMigration;
import dev.ferry.lab.PlannedMigration.Ending;
import dev.ferry.lab.sim.Simulation.Result;
import dev.ferry.lab.sim.Simulation.Schedule;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Migrations to the host the VM is on (QEMU's local migration, docs/design.md §6.7) under traffic,
 * on the simulated cluster: alone, mixed with migrations between hosts, and aborted.
 */
class LocalMigrationSimulationTest {
    private static final long MS = 1_000_000L;
    private static final int HERE = PlannedMigration.SAME_HOST;

    @Test
    void bothEndsOfAFlowMigratedWithinTheirHostsLoseNothing() {
        Result r = Simulation.run(schedule(List.of(
                migration(0, HERE, 100, Ending.COMPLETED), migration(1, HERE, 130, Ending.COMPLETED),
                migration(0, HERE, 600, Ending.COMPLETED))), Mode.FERRY);

        assertThat(r.clean()).as(r.describe()).isTrue();
        assertThat(r.report().migrations()).isEqualTo(3);
        assertThat(r.report().buffered()).as("frames waited while neither copy ran").isPositive();
    }

    @Test
    void aLocalMigrationBetweenTwoMigrationsToOtherHostsLosesNothing() {
        Result r = Simulation.run(schedule(List.of(
                migration(0, 2, 100, Ending.COMPLETED), migration(0, HERE, 400, Ending.COMPLETED),
                migration(0, 3, 700, Ending.COMPLETED))), Mode.FERRY);

        assertThat(r.clean()).as(r.describe()).isTrue();
        assertThat(r.report().migrations()).isEqualTo(3);
    }

    @Test
    void anAbortedLocalMigrationGivesTheVmBackToItsOldCopyLosingNothing() {
        Result r = Simulation.run(schedule(List.of(
                migration(0, HERE, 100, Ending.FAILED_AFTER_STOP), migration(1, HERE, 200, Ending.CANCELLED_IN_PRECOPY))),
                Mode.FERRY);

        assertThat(r.clean()).as(r.describe()).isTrue();
        assertThat(r.report().aborted()).isEqualTo(2);
    }

    @Test
    void theSameLocalMigrationsLoseFramesInTheNaiveMode() {
        Result r = Simulation.run(schedule(List.of(
                migration(0, HERE, 100, Ending.COMPLETED), migration(1, HERE, 130, Ending.COMPLETED))), Mode.NAIVE);

        assertThat(r.report().lost()).as(r.describe()).isPositive();
    }

    @Test
    void theDangerousProfileMigratesVmsWithinTheirHost() {
        long local = 0;
        for (long seed = 1; seed <= 200; seed++) {
            local += Simulation.dangerous(seed).migrations().stream().filter(m -> m.toHost() == HERE).count();
        }
        assertThat(local).isGreaterThan(50);
    }

    private static Schedule schedule(List<PlannedMigration> plan) {
        return new Schedule(424_242, 3, 4, 4_000, 0, Faults.random(new Random(424_242)), plan);
    }

    private static PlannedMigration migration(int vm, int to, long atMs, Ending ending) {
        return new PlannedMigration(vm, to, atMs * MS, 60 * MS, 30 * MS, ending);
    }
}
