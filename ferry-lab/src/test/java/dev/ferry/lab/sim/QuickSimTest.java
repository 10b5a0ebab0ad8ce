package dev.ferry.lab.sim;

import dev.ferry.agent.Counter;
import dev.ferry.agent.Mode;
import dev.ferry.lab.Scenario;
import java.util.Set;
import org.junit.jupiter.api.Test;

class QuickSimTest {
    @Test
    void quick() {
        int bad = 0;
        long t0 = System.nanoTime();
        long from = Long.getLong("from", 1);
        for (long seed = from; seed < from + Long.getLong("n", 50); seed++) {
            var s = Simulation.schedule(seed);
            SimCluster cluster = new SimCluster(s.hosts(), Mode.FERRY, Set.of(Scenario.VNI), seed, s.faults());
            Scenario scenario = new Scenario(cluster, s.vms(), s.rate(), 2_000, 3_000, s.chainGapMs(), s.migrations());
            scenario.start();
            cluster.runUntil(scenario.endNanos());
            var r = scenario.report("ferry", cluster.agents());
            if (!r.lossless() || r.migrationEntriesLeft() > 0) {
                bad++;
                if (bad > 6) continue;
                System.out.println("seed " + seed + " " + r);
                System.out.println("   " + s);
                for (var a : cluster.agents()) {
                    StringBuilder sb = new StringBuilder("   agent " + a.hostId() + ":");
                    a.counters().snapshot().forEach((c, v) -> { if ((c.isDrop() || c == Counter.MARKER_WAIT_EXPIRED) && v > 0) sb.append(' ').append(c).append('=').append(v); });
                    for (var e : a.migrations()) sb.append(" entry[").append(e.key()).append(' ').append(e.role()).append(' ').append(e.phase()).append(" peer=").append(e.peer()).append(']');
                    System.out.println(sb);
                }
                for (var rec : cluster.board().records()) System.out.println("   " + rec);
                scenario.anomalies().forEach(x -> System.out.println("   " + x));
            }
        }
        System.out.println("bad=" + bad + " ms=" + (System.nanoTime() - t0) / 1_000_000);
    }
}
