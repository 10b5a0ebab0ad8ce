package dev.ferry.lab.sim;

import dev.ferry.agent.Mode;
import dev.ferry.lab.PlannedMigration;
import dev.ferry.lab.PlannedMigration.Ending;
import dev.ferry.lab.Report;
import dev.ferry.lab.Scenario;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * One seeded, random migration schedule run on the simulated cluster: the seed fixes the cluster's
 * size, the traffic, every migration's timing, target and ending (completed, cancelled, failed),
 * chains of migrations of one VM before caches settle, and every fault of the network. Any run is
 * replayed exactly by its seed: {@code ./ferry sim --seed N --mode ferry}.
 */
public final class Simulation {
    private static final long MS = 1_000_000L;

    /** What a seed chose, for a failure message a person can read. */
    public record Schedule(long seed, int hosts, int vms, double rate, long chainGapMs, Faults faults,
                           List<PlannedMigration> migrations) {}

    public record Result(Schedule schedule, Report report) {}

    private Simulation() {}

    public static Schedule schedule(long seed) {
        Random r = new Random(seed);
        int hosts = 3 + r.nextInt(2);
        int vms = 2 * (2 + r.nextInt(2));
        double rate = 2_000 + r.nextInt(4_000);
        long chainGap = r.nextInt(30);
        int count = 1 + r.nextInt(6);
        List<PlannedMigration> plan = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            double e = r.nextDouble();
            Ending ending = e < 0.85 ? Ending.COMPLETED : e < 0.925 ? Ending.CANCELLED_IN_PRECOPY : Ending.FAILED_AFTER_STOP;
            // Concurrent migrations often pick the two ends of one flow: VMs 0 and 1.
            int vm = r.nextInt(3) == 0 ? r.nextInt(2) : r.nextInt(vms);
            plan.add(new PlannedMigration(vm, 1 + r.nextInt(hosts), r.nextInt(500) * MS, (5 + r.nextInt(145)) * MS,
                    (1 + r.nextInt(60)) * MS, ending));
        }
        return new Schedule(seed, hosts, vms, rate, chainGap, Faults.random(r), List.copyOf(plan));
    }

    public static Result run(long seed, Mode mode) {
        Schedule s = schedule(seed);
        SimCluster cluster = new SimCluster(s.hosts(), mode, Set.of(Scenario.VNI), seed, s.faults());
        Scenario scenario = new Scenario(cluster, s.vms(), s.rate(), 2_000, 3_000, s.chainGapMs(), s.migrations());
        scenario.start();
        cluster.runUntil(scenario.endNanos());
        return new Result(s, scenario.report(mode.name().toLowerCase(), cluster.agents()));
    }
}
