package dev.ferry.lab.sim;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.agent.Mode;
import dev.ferry.lab.PlannedMigration;
import dev.ferry.lab.sim.Simulation.Schedule;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Shrinks a schedule that is not clean to a minimal one that still is not: fewer migrations, no
 * faults but the ones needed, fewer VMs and hosts, a lower rate, shorter times. Greedy, in the
 * manner of property-based testing's shrinkers (and of delta debugging): each step tries one
 * simplification, keeps it if the run still fails, and the steps repeat until none applies. The
 * simulation is deterministic, so the result replays exactly ({@link #toJson},
 * {@code ./ferry sim --schedule JSON}).
 */
public final class Shrinker {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MS = 1_000_000L;

    private final Mode mode;
    private int runs;

    public Shrinker(Mode mode) {
        this.mode = mode;
    }

    /** The simulation runs the last {@link #shrink} took. */
    public int runs() {
        return runs;
    }

    /** A minimal failing schedule; {@code failing} itself if it does not fail. */
    public Schedule shrink(Schedule failing) {
        if (!fails(failing)) return failing;
        Schedule s = failing;
        boolean progress = true;
        while (progress) {
            progress = false;
            for (UnaryOperator<Schedule> step : steps(s)) {
                Schedule candidate = step.apply(s);
                if (candidate != null && !candidate.equals(s) && fails(candidate)) {
                    s = candidate;
                    progress = true;
                    break;
                }
            }
        }
        return s;
    }

    private boolean fails(Schedule s) {
        runs++;
        return !Simulation.run(s, mode).clean();
    }

    /** Every simplification of {@code s}, the biggest first. */
    private static List<UnaryOperator<Schedule>> steps(Schedule s) {
        List<UnaryOperator<Schedule>> steps = new ArrayList<>();
        for (int i = 0; i < s.migrations().size(); i++) {
            int drop = i;
            steps.add(x -> withMigrations(x, remove(x.migrations(), drop)));
        }
        steps.add(x -> x.boardRestartMs() < 0 ? null : new Schedule(x.seed(), x.hosts(), x.vms(), x.rate(), x.chainGapMs(),
                x.faults(), x.migrations(), -1, x.agentRestart()));
        steps.add(x -> x.agentRestart() == null ? null : new Schedule(x.seed(), x.hosts(), x.vms(), x.rate(), x.chainGapMs(),
                x.faults(), x.migrations(), x.boardRestartMs(), null));
        steps.add(x -> withFaults(x, f -> new Faults(f.pathDelayMin(), f.pathDelayMax(), f.controlLoss(), f.boardDelayMin(),
                f.boardDelayMax(), f.boardLoss(), f.boardDuplicate(), f.dataLoss(), 0)));
        steps.add(x -> withFaults(x, f -> new Faults(f.pathDelayMin(), f.pathDelayMax(), 0, f.boardDelayMin(),
                f.boardDelayMax(), f.boardLoss(), f.boardDuplicate(), f.dataLoss(), f.dangerousLoss())));
        steps.add(x -> withFaults(x, f -> new Faults(f.pathDelayMin(), f.pathDelayMax(), f.controlLoss(), f.boardDelayMin(),
                f.boardDelayMax(), 0, f.boardDuplicate(), f.dataLoss(), f.dangerousLoss())));
        steps.add(x -> withFaults(x, f -> new Faults(f.pathDelayMin(), f.pathDelayMax(), f.controlLoss(), f.boardDelayMin(),
                f.boardDelayMax(), f.boardLoss(), 0, f.dataLoss(), f.dangerousLoss())));
        steps.add(x -> withFaults(x, f -> new Faults(f.pathDelayMin(), f.pathDelayMin(), f.controlLoss(), f.boardDelayMin(),
                f.boardDelayMin(), f.boardLoss(), f.boardDuplicate(), f.dataLoss(), f.dangerousLoss())));
        steps.add(x -> x.vms() <= 2 || usesVm(x, x.vms() - 2) ? null
                : new Schedule(x.seed(), x.hosts(), x.vms() - 2, x.rate(), x.chainGapMs(), x.faults(), x.migrations(), x.boardRestartMs(), x.agentRestart()));
        steps.add(x -> x.hosts() <= 2 || usesHost(x, x.hosts()) ? null
                : new Schedule(x.seed(), x.hosts() - 1, x.vms(), x.rate(), x.chainGapMs(), x.faults(), x.migrations(), x.boardRestartMs(), x.agentRestart()));
        steps.add(x -> x.rate() <= 250 ? null
                : new Schedule(x.seed(), x.hosts(), x.vms(), Math.floor(x.rate() / 2), x.chainGapMs(), x.faults(), x.migrations(),
                        x.boardRestartMs(), x.agentRestart()));
        steps.add(x -> x.chainGapMs() == 0 ? null
                : new Schedule(x.seed(), x.hosts(), x.vms(), x.rate(), 0, x.faults(), x.migrations(), x.boardRestartMs(), x.agentRestart()));
        for (int i = 0; i < s.migrations().size(); i++) {
            int at = i;
            steps.add(x -> withMigration(x, at, m -> m.atNanos() < MS ? null
                    : new PlannedMigration(m.vm(), m.toHost(), m.atNanos() / 2 / MS * MS, m.precopyNanos(), m.stopNanos(), m.ending())));
            steps.add(x -> withMigration(x, at, m -> m.ending() == PlannedMigration.Ending.COMPLETED ? null
                    : new PlannedMigration(m.vm(), m.toHost(), m.atNanos(), m.precopyNanos(), m.stopNanos(), PlannedMigration.Ending.COMPLETED)));
        }
        return steps;
    }

    private static Schedule withMigrations(Schedule x, List<PlannedMigration> plan) {
        return new Schedule(x.seed(), x.hosts(), x.vms(), x.rate(), x.chainGapMs(), x.faults(), List.copyOf(plan), x.boardRestartMs(), x.agentRestart());
    }

    private static Schedule withMigration(Schedule x, int i, UnaryOperator<PlannedMigration> change) {
        if (i >= x.migrations().size()) return null;
        PlannedMigration m = change.apply(x.migrations().get(i));
        if (m == null) return null;
        List<PlannedMigration> plan = new ArrayList<>(x.migrations());
        plan.set(i, m);
        return withMigrations(x, plan);
    }

    private static Schedule withFaults(Schedule x, UnaryOperator<Faults> change) {
        return new Schedule(x.seed(), x.hosts(), x.vms(), x.rate(), x.chainGapMs(), change.apply(x.faults()), x.migrations(),
                x.boardRestartMs(), x.agentRestart());
    }

    private static <T> List<T> remove(List<T> list, int i) {
        List<T> out = new ArrayList<>(list);
        out.remove(i);
        return out;
    }

    private static boolean usesVm(Schedule x, int firstDropped) {
        return x.migrations().stream().anyMatch(m -> m.vm() >= firstDropped);
    }

    private static boolean usesHost(Schedule x, int host) {
        return x.migrations().stream().anyMatch(m -> m.toHost() >= host) || x.agentRestart() != null && x.agentRestart().host() >= host;
    }

    /** A schedule as one line of JSON, for {@code ./ferry sim --schedule}. */
    public static String toJson(Schedule s) {
        try {
            return JSON.writeValueAsString(s);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The schedule {@link #toJson} wrote; a bad one is refused with the reason, naming the field. */
    public static Schedule fromJson(String json) {
        Schedule s;
        try {
            s = JSON.readValue(json, Schedule.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("not a schedule: " + e.getOriginalMessage(), e);
        }
        return validate(s);
    }

    /** What the simulation can run: refused with the first field out of range. */
    static Schedule validate(Schedule s) {
        require(s.hosts() >= 2 && s.hosts() <= 64, "hosts", "2 to 64, was " + s.hosts());
        require(s.vms() >= 2 && s.vms() % 2 == 0 && s.vms() <= 1_000, "vms", "an even number from 2 to 1000, was " + s.vms());
        require(s.rate() > 0 && s.rate() <= 200_000, "rate", "1 to 200000 frames/s, was " + s.rate());
        require(s.chainGapMs() >= 0, "chainGapMs", "0 or more, was " + s.chainGapMs());
        Faults f = s.faults();
        require(f != null, "faults", "missing");
        require(f.pathDelayMin() >= 0 && f.pathDelayMax() >= f.pathDelayMin(), "faults.pathDelay", "0 <= min <= max");
        require(f.boardDelayMin() >= 0 && f.boardDelayMax() >= f.boardDelayMin(), "faults.boardDelay", "0 <= min <= max");
        for (double p : new double[] {f.controlLoss(), f.boardLoss(), f.boardDuplicate(), f.dataLoss(), f.dangerousLoss()}) {
            require(p >= 0 && p <= 1, "faults", "every probability in 0..1, was " + p);
        }
        require(s.migrations() != null, "migrations", "missing");
        for (int i = 0; i < s.migrations().size(); i++) {
            PlannedMigration m = s.migrations().get(i);
            String at = "migrations[" + i + "]";
            require(m != null && m.ending() != null, at, "missing, or without an ending");
            require(m.vm() >= 0 && m.vm() < s.vms(), at + ".vm", "0 to " + (s.vms() - 1) + ", was " + m.vm());
            require(m.toHost() >= PlannedMigration.SAME_HOST && m.toHost() <= s.hosts(), at + ".toHost",
                    "-1 (the host it is on) to " + s.hosts() + ", was " + m.toHost());
            require(m.atNanos() >= 0 && m.precopyNanos() > 0 && m.stopNanos() > 0, at, "times must be positive");
        }
        Simulation.AgentRestart r = s.agentRestart();
        if (r != null) {
            require(r.host() >= 1 && r.host() <= s.hosts(), "agentRestart.host", "1 to " + s.hosts() + ", was " + r.host());
            require(r.atMs() >= 0 && r.downMs() >= 1, "agentRestart", "atMs 0 or more and downMs 1 or more");
        }
        return s;
    }

    private static void require(boolean ok, String field, String expected) {
        if (!ok) throw new IllegalArgumentException("schedule field " + field + ": " + expected);
    }
}
