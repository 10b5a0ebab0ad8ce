package dev.ferry.lab.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Mode;
import dev.ferry.lab.PlannedMigration;
import dev.ferry.lab.PlannedMigration.Ending;
import dev.ferry.lab.sim.Simulation.Result;
import dev.ferry.lab.sim.Simulation.Schedule;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * The lossless-migration promise as a property (jqwik): schedules are generated from their parts —
 * hosts, VM pairs, rate, each migration's VM, target (another host, or the one it is on), start,
 * pre-copy, stop and ending, and every fault of the network — and a failing one is shrunk by jqwik
 * to a minimal one, printed with the JSON that replays it ({@code ./ferry sim --schedule '...'}).
 * The seeded runs of {@link ProtocolSimulationTest} sample far more schedules; this one searches
 * the space they are drawn from in other directions.
 */
class ScheduleProperties {
    private static final long MS = 1_000_000L;

    @Property(tries = 2_000, seed = "20261202")
    void anyScheduleLosesDuplicatesAndReordersNothing(@ForAll("schedules") Schedule s) {
        Result r = Simulation.run(s, Mode.FERRY);
        assertThat(r.clean()).as("%s%n  replay: ./ferry sim --schedule '%s'", r.describe(), Shrinker.toJson(s)).isTrue();
    }

    @Provide
    Arbitrary<Schedule> schedules() {
        Arbitrary<Integer> hosts = Arbitraries.integers().between(2, 4);
        Arbitrary<Integer> pairs = Arbitraries.integers().between(1, 3);
        Arbitrary<Double> rate = Arbitraries.doubles().between(500, 6_000).ofScale(0);
        Arbitrary<Long> chainGap = Arbitraries.longs().between(0, 30);
        return Combinators.combine(hosts, pairs, rate, chainGap, faults(), Arbitraries.longs().between(1, Long.MAX_VALUE))
                .flatAs((h, p, r, gap, f, seed) -> migrations(h, 2 * p).map(plan ->
                        new Schedule(seed, h, 2 * p, r, gap, f, plan)));
    }

    private static Arbitrary<List<PlannedMigration>> migrations(int hosts, int vms) {
        Arbitrary<PlannedMigration> one = Combinators.combine(
                Arbitraries.integers().between(0, vms - 1),
                Arbitraries.integers().between(PlannedMigration.SAME_HOST, hosts),
                Arbitraries.longs().between(0, 500),
                Arbitraries.longs().between(5, 150),
                Arbitraries.longs().between(1, 60),
                Arbitraries.of(Ending.class)).as((vm, to, at, pre, stop, end) ->
                new PlannedMigration(vm, to, at * MS, pre * MS, stop * MS, end));
        return one.list().ofMinSize(1).ofMaxSize(8);
    }

    private static Arbitrary<Faults> faults() {
        Arbitrary<Long> pathMin = Arbitraries.longs().between(0, 2_000_000);
        Arbitrary<Long> pathSpread = Arbitraries.longs().between(0, 5_000_000);
        Arbitrary<Double> controlLoss = Arbitraries.doubles().between(0, 0.2);
        Arbitrary<Long> boardMin = Arbitraries.longs().between(100_000, 2_000_000);
        Arbitrary<Long> boardSpread = Arbitraries.longs().between(0, 20_000_000);
        Arbitrary<Double> boardLoss = Arbitraries.doubles().between(0, 0.2);
        Arbitrary<Double> boardDuplicate = Arbitraries.doubles().between(0, 0.2);
        return Combinators.combine(pathMin, pathSpread, controlLoss, boardMin, boardSpread, boardLoss, boardDuplicate)
                .as((pm, ps, cl, bm, bs, bl, bd) -> new Faults(pm, pm + ps, cl, bm, bm + bs, bl, bd, 0, 0));
    }
}
