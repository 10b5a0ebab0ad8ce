package dev.ferry.lab.sim;

import dev.ferry.agent.Counter;
import dev.ferry.agent.Mode;
import dev.ferry.lab.PlannedMigration;
import dev.ferry.lab.Scenario;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DebugSimTest {
    static final long MS = 1_000_000L;
    @Test
    void one() {
        SimCluster c = new SimCluster(3, Mode.FERRY, Set.of(Scenario.VNI), 1, Faults.none());
        Scenario s = new Scenario(c, 2, 2000, 1000, 2000, 0, List.of(
                new PlannedMigration(Integer.getInteger("vm", 1), 0, 100 * MS, 50 * MS, 10 * MS, PlannedMigration.Ending.COMPLETED)));
        s.start();
        c.runUntil(s.endNanos());
        System.out.println(s.report("ferry", c.agents()));
        for (var a : c.agents()) System.out.println(a.hostId() + " " + a.counters().snapshot());
    }
}
