package dev.ferry.lab.sim;

import dev.ferry.agent.Agent;
import dev.ferry.agent.Counter;
import dev.ferry.agent.MigrationEntry;
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

    /**
     * What a seed chose, for a failure message a person can read. {@code boardRestartMs}: when (ms
     * after traffic starts) the board restarts with an empty memory, as an in-memory board would;
     * negative for never.
     */
    public record Schedule(long seed, int hosts, int vms, double rate, long chainGapMs, Faults faults,
                           List<PlannedMigration> migrations, long boardRestartMs, AgentRestart agentRestart) {
        public Schedule(long seed, int hosts, int vms, double rate, long chainGapMs, Faults faults,
                        List<PlannedMigration> migrations, long boardRestartMs) {
            this(seed, hosts, vms, rate, chainGapMs, faults, migrations, boardRestartMs, null);
        }

        public Schedule(long seed, int hosts, int vms, double rate, long chainGapMs, Faults faults,
                        List<PlannedMigration> migrations) {
            this(seed, hosts, vms, rate, chainGapMs, faults, migrations, -1);
        }

        /** Traffic runs longer when an agent restarts: long enough for a migration's lock to lapse. */
        long trafficMs() {
            return agentRestart == null ? 2_000 : 6_000;
        }

        /**
         * Quiet time after traffic for the tables to empty. After an agent restart, a source whose
         * MARKERs went to the dead process is only dropped unsettled after ten grace periods (10 s).
         */
        long drainMs() {
            return agentRestart == null ? 3_000 : 11_000;
        }
    }

    /** Host {@code host}'s agent process dies {@code atMs} after traffic starts and is back {@code downMs} later. */
    public record AgentRestart(int host, long atMs, long downMs) {}

    /** Which schedules a seed draws: the classic mix, one aimed at the dangerous moments, or with an agent restart. */
    public enum Profile {
        CLASSIC, DANGEROUS, RESTART;

        public Schedule schedule(long seed) {
            return switch (this) {
                case CLASSIC -> Simulation.schedule(seed);
                case DANGEROUS -> Simulation.dangerous(seed);
                case RESTART -> Simulation.restart(seed);
            };
        }
    }

    /** A run's measures, and the first anomaly of each flow that had one. */
    public record Result(Schedule schedule, Report report, List<String> anomalies, List<String> agentNotes, boolean recovered) {
        /**
         * Zero lost, duplicated or reordered frames, and every migration table entry gone. With an
         * agent restart, what design §9 promises instead: nothing duplicated, every lost frame lost
         * with the restarted process or counted by an agent (none unexplained), every flow delivering
         * again before traffic ends, and the tables empty.
         */
        public boolean clean() {
            if (schedule.agentRestart() != null) {
                return report.duplicated() == 0 && report.loss().unexplained() == 0 && report.migrationEntriesLeft() == 0
                        && recovered;
            }
            return report.lossless() && report.migrationEntriesLeft() == 0;
        }

        public String describe() {
            return "seed " + schedule.seed() + ": " + report + "\n  " + schedule + "\n  " + String.join("\n  ", anomalies)
                    + "\n  " + String.join("\n  ", agentNotes)
                    + "\n  replay: ./ferry sim --seed " + schedule.seed() + " --mode " + report.mode()
                    + (schedule.agentRestart() != null ? " --profile restart"
                    : schedule.faults().dangerousLoss() > 0 || schedule.boardRestartMs() >= 0 ? " --profile dangerous" : "");
        }
    }

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

    /**
     * A schedule aimed at the moments the protocol is most fragile: one or two VMs migrated again
     * and again (often back to a host they just left, one in eight times to the host they are on), each next migration 0-5 ms after the last
     * ended, short pre-copies and stops, the messages a migration turns on lost far more often than
     * others, and in a third of the schedules the board restarted with an empty memory
     * mid-run (the agents resynchronise, as on a reconnection).
     */
    public static Schedule dangerous(long seed) {
        Random r = new Random(seed ^ 0x5DEECE66DL);
        int hosts = 3 + r.nextInt(2);
        int vms = 2 * (2 + r.nextInt(2));
        double rate = 2_000 + r.nextInt(4_000);
        long chainGap = r.nextInt(6);
        int count = 3 + r.nextInt(6);
        List<PlannedMigration> plan = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            double e = r.nextDouble();
            Ending ending = e < 0.85 ? Ending.COMPLETED : e < 0.925 ? Ending.CANCELLED_IN_PRECOPY : Ending.FAILED_AFTER_STOP;
            int vm = r.nextInt(4) == 0 ? 2 + r.nextInt(vms - 2) : r.nextInt(2);
            // One in eight to the host the VM is on, as QEMU's local migration for an upgrade.
            int to = r.nextInt(8) == 0 ? PlannedMigration.SAME_HOST : 1 + r.nextInt(hosts);
            plan.add(new PlannedMigration(vm, to, r.nextInt(300) * MS, (5 + r.nextInt(45)) * MS,
                    (1 + r.nextInt(30)) * MS, ending));
        }
        long restart = r.nextInt(3) == 0 ? r.nextInt(800) : -1;
        return new Schedule(seed, hosts, vms, rate, chainGap, Faults.dangerous(r), List.copyOf(plan), restart);
    }

    /**
     * A classic schedule with more migrations, and one host's agent process restarted in the middle
     * of them (state lost, down 5 to 300 ms, the ports plugged in again), traffic running long enough
     * after it for a lock the dead process held to lapse.
     */
    public static Schedule restart(long seed) {
        Schedule c = schedule(seed);
        Random r = new Random(seed * 31 + 7);
        List<PlannedMigration> plan = new ArrayList<>(c.migrations());
        for (int i = 0, more = 2 + r.nextInt(3); i < more; i++) {
            plan.add(new PlannedMigration(r.nextInt(c.vms()), 1 + r.nextInt(c.hosts()), r.nextInt(500) * MS,
                    (5 + r.nextInt(145)) * MS, (1 + r.nextInt(60)) * MS, Ending.COMPLETED));
        }
        AgentRestart restart = new AgentRestart(1 + r.nextInt(c.hosts()), r.nextInt(700), 5 + r.nextInt(296));
        return new Schedule(seed, c.hosts(), c.vms(), c.rate(), c.chainGapMs(), c.faults(), List.copyOf(plan), -1, restart);
    }

    public static Result run(long seed, Mode mode) {
        return run(schedule(seed), mode);
    }

    public static Result run(Schedule s, Mode mode) {
        SimCluster cluster = new SimCluster(s.hosts(), mode, Set.of(Scenario.VNI), s.seed(), s.faults());
        Scenario scenario = new Scenario(cluster, s.vms(), s.rate(), s.trafficMs(), s.drainMs(), s.chainGapMs(), s.migrations());
        scenario.start();
        if (s.boardRestartMs() >= 0) cluster.restartBoardAt(scenario.trafficStartNanos() + s.boardRestartMs() * MS);
        AgentRestart restart = s.agentRestart();
        if (restart != null) {
            cluster.restartAgentAt(restart.host(), scenario.trafficStartNanos() + restart.atMs() * MS, restart.downMs() * MS,
                    (a, now) -> scenario.agentRestarted(restart.host(), a, now));
        }
        cluster.runUntil(scenario.endNanos());
        String name = mode.name().toLowerCase(java.util.Locale.ROOT);
        var report = restart == null ? scenario.report(name, cluster.agents())
                : scenario.report(name, cluster.agents(), cluster.restartedAgents(), cluster.lostInRestarts(), 0, 0);
        return new Result(s, report, scenario.anomalies(), notes(cluster.agents()), scenario.everyFlowDeliversAtTheEnd());
    }

    /** Per agent: its non-zero drop counters and the migration entries it still has. */
    private static List<String> notes(List<Agent> agents) {
        List<String> out = new ArrayList<>();
        for (Agent a : agents) {
            StringBuilder sb = new StringBuilder();
            a.counters().snapshot().forEach((c, v) -> {
                if (v > 0 && (c.isDrop() || c == Counter.MARKER_WAIT_EXPIRED)) sb.append(' ').append(c.label()).append('=').append(v);
            });
            for (MigrationEntry e : a.migrations()) {
                sb.append(" entry[").append(e.key()).append(' ').append(e.role()).append(' ').append(e.phase())
                        .append(" migration ").append(e.migrationId()).append(" peer ").append(e.peer()).append(']');
            }
            if (!sb.isEmpty()) out.add("agent " + a.hostId() + ":" + sb);
        }
        return out;
    }

    /** The same schedule on a wire that also loses data frames (never the case in a real schedule). */
    public static Schedule withDataLoss(Schedule s, double p) {
        return new Schedule(s.seed(), s.hosts(), s.vms(), s.rate(), s.chainGapMs(), s.faults().withDataLoss(p), s.migrations(),
                s.boardRestartMs(), s.agentRestart());
    }
}
