package dev.ferry.cli;

import dev.ferry.agent.Mode;
import dev.ferry.lab.Demo;
import dev.ferry.lab.Report;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Runs a board, agents and simulated VMs on loopback UDP, live-migrates VMs under traffic, "
                + "and compares what each forwarding mode loses.",
                "Exits 1 if the ferry mode loses, duplicates or reorders a frame."})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--rate", defaultValue = "20000", description = "Frames per second over all flows (default ${DEFAULT-VALUE}).")
    double rate;

    @Option(names = "--migrations", defaultValue = "12", description = "Live migrations per mode (default ${DEFAULT-VALUE}).")
    int migrations;

    @Option(names = "--duration-ms", defaultValue = "8000", description = "Traffic time per mode (default ${DEFAULT-VALUE}).")
    long durationMs;

    @Option(names = "--precopy-ms", defaultValue = "300", description = "Pre-copy length of each migration (default ${DEFAULT-VALUE}).")
    long precopyMs;

    @Option(names = "--stop-ms", defaultValue = "60", description = "Stop-and-copy length (VM downtime) of each migration (default ${DEFAULT-VALUE}).")
    long stopMs;

    @Option(names = "--hosts", defaultValue = "3", description = "Agents (default ${DEFAULT-VALUE}).")
    int hosts;

    @Option(names = "--vms", defaultValue = "6", description = "Simulated VMs, streaming in pairs (default ${DEFAULT-VALUE}).")
    int vms;

    @Option(names = "--report", defaultValue = "ferry-demo-report", paramLabel = "DIR",
            description = "Where to write the timeline report of the ferry mode's migrations: index.html and migration-N.svg"
                    + " (default: ${DEFAULT-VALUE}).")
    java.nio.file.Path report;

    @Option(names = "--mode", split = ",", defaultValue = "ferry,naive,eager",
            description = "Modes to run, comma-separated: ferry, naive, eager (default ${DEFAULT-VALUE}).")
    List<Mode> modes;

    @Override
    public Integer call() throws Exception {
        Demo.Options options;
        try {
            options = new Demo.Options(hosts, vms, rate, migrations, durationMs, precopyMs, stopMs, modes, report).validate();
        } catch (IllegalArgumentException e) {
            System.err.println("ferry demo: " + e.getMessage());
            return 2;
        }
        List<Report> reports = Demo.run(options, System.out, System.err);
        for (Report r : reports) {
            if (r.loss().unexplained() > 0) {
                System.out.printf("%nFAIL: the %s mode lost %,d frames that no counter accounts for.%n", r.mode(), r.loss().unexplained());
                return 1;
            }
        }
        for (Report r : reports) {
            if (r.mode().equals("ferry") && !r.lossless()) {
                System.out.println("\nFAIL: the ferry mode lost, duplicated or reordered frames (where the lost went: above).");
                return 1;
            }
        }
        return 0;
    }
}
