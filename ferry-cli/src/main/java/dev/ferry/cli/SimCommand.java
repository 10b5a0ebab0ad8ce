package dev.ferry.cli;

import dev.ferry.agent.Mode;
import dev.ferry.lab.sim.Shrinker;
import dev.ferry.lab.sim.Simulation;
import dev.ferry.lab.sim.SimulationRun;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "sim", mixinStandardHelpOptions = true,
        description = {"Runs seeded random migration schedules on the deterministic simulated network, as the tests do.",
                "A failing test prints the command that replays its seed."})
final class SimCommand implements Callable<Integer> {
    @Option(names = "--seed", description = "First seed (required unless --schedule).")
    Long seed;

    @Option(names = "--schedule", paramLabel = "JSON",
            description = "Run this one schedule, as --shrink printed it, instead of a seed's.")
    String schedule;

    @Option(names = "--shrink",
            description = "Shrink the first schedule that is not clean to a minimal one that still is not, and print it.")
    boolean shrink;

    @Option(names = "--count", defaultValue = "1", description = "How many seeds from --seed (default ${DEFAULT-VALUE}).")
    long count;

    @Option(names = "--mode", defaultValue = "ferry", description = "ferry, naive or eager (default ${DEFAULT-VALUE}).")
    Mode mode;

    @Option(names = "--profile", defaultValue = "classic",
            description = "classic; dangerous: chains of one VM, 0-5 ms apart, local migrations, aimed losses, board restarts;"
                    + " restart: an agent process restarted amid migrations (default ${DEFAULT-VALUE}).")
    Simulation.Profile profile;

    @Option(names = "--threads", description = "Threads to run schedules on (default: every core).")
    Integer threads;

    @Option(names = "--progress", defaultValue = "0",
            description = "Print a line every N schedules (default ${DEFAULT-VALUE}: only at the end).")
    long progress;

    @Option(names = "--trace", description = "Log every event, control message, MARKER, relay and delivery (simulated ms) to standard error.")
    boolean trace;

    @Override
    public Integer call() {
        if (count < 1) throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--count must be at least 1");
        if (trace) {
            ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("dev.ferry")).setLevel(ch.qos.logback.classic.Level.TRACE);
        }
        if (schedule != null) {
            Simulation.Schedule s;
            try {
                s = Shrinker.fromJson(schedule);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--schedule: " + e.getMessage());
            }
            return runOne(s);
        }
        if (seed == null) throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--seed or --schedule is required");
        if (count == 1) return runOne(profile.schedule(seed));
        int n = threads != null ? threads : SimulationRun.cores();
        if (n < 1) throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--threads must be at least 1");
        long started = System.nanoTime();
        SimulationRun.Tally t = SimulationRun.run(seed, count, mode, profile, n, r -> {
            synchronized (System.out) {
                System.out.println(r.describe());
            }
        }, done -> {
            if (progress > 0 && done % progress == 0) {
                synchronized (System.out) {
                    System.out.printf("%,d schedules done, %.0f s%n", done, (System.nanoTime() - started) / 1e9);
                }
            }
        });
        System.out.println(t.summary());
        if (shrink && !t.failures().isEmpty()) shrunk(t.failures().get(0).schedule());
        System.out.printf("seeds %d..%d, mode %s, profile %s, %d threads, %.1f s%n", seed, seed + count - 1,
                mode.name().toLowerCase(java.util.Locale.ROOT), profile.name().toLowerCase(java.util.Locale.ROOT), n,
                (System.nanoTime() - started) / 1e9);
        return t.allClean() ? 0 : 1;
    }

    private int runOne(Simulation.Schedule s) {
        Simulation.Result r = Simulation.run(s, mode);
        System.out.println(r.describe());
        System.out.printf("%d of 1 schedules clean%n", r.clean() ? 1 : 0);
        if (shrink && !r.clean()) shrunk(s);
        return r.clean() ? 0 : 1;
    }

    private void shrunk(Simulation.Schedule failing) {
        Shrinker shrinker = new Shrinker(mode);
        Simulation.Schedule minimal = shrinker.shrink(failing);
        System.out.printf("%nshrunk seed %d in %d runs to %d migration(s) on %d hosts, %d VMs:%n  %s%n  %s%n", failing.seed(),
                shrinker.runs(), minimal.migrations().size(), minimal.hosts(), minimal.vms(), minimal,
                Simulation.run(minimal, mode).report());
        System.out.printf("  replay: ./ferry sim --mode %s --schedule '%s'%n", mode.name().toLowerCase(java.util.Locale.ROOT),
                Shrinker.toJson(minimal));
    }
}
