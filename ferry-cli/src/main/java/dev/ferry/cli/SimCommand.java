package dev.ferry.cli;

import dev.ferry.agent.Mode;
import dev.ferry.lab.sim.Simulation;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "sim", mixinStandardHelpOptions = true,
        description = {"Runs seeded random migration schedules on the deterministic simulated network, as the tests do.",
                "A failing test prints the command that replays its seed."})
final class SimCommand implements Callable<Integer> {
    @Option(names = "--seed", required = true, description = "First seed.")
    long seed;

    @Option(names = "--count", defaultValue = "1", description = "How many seeds from --seed (default ${DEFAULT-VALUE}).")
    int count;

    @Option(names = "--mode", defaultValue = "ferry", description = "ferry, naive or eager (default ${DEFAULT-VALUE}).")
    Mode mode;

    @Option(names = "--trace", description = "Log every event, control message, MARKER, relay and delivery (simulated ms) to standard error.")
    boolean trace;

    @Override
    public Integer call() {
        if (trace) {
            ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("dev.ferry")).setLevel(ch.qos.logback.classic.Level.TRACE);
        }
        int bad = 0;
        for (long s = seed; s < seed + count; s++) {
            Simulation.Result r = Simulation.run(s, mode);
            if (!r.clean() || count == 1) System.out.println(r.describe());
            if (!r.clean()) bad++;
        }
        System.out.printf("%d of %d schedules clean%n", count - bad, count);
        return bad == 0 ? 0 : 1;
    }
}
