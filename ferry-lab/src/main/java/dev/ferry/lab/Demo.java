package dev.ferry.lab;

import dev.ferry.agent.Mode;
import dev.ferry.lab.PlannedMigration.Ending;
import dev.ferry.lab.udp.UdpCluster;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code ferry demo}: one scenario (agents on loopback UDP, VM pairs streaming sequenced frames
 * both ways, live migrations round robin over the hosts, two at a time so that both ends of a flow
 * migrate together) run once per forwarding mode, and a table of what each lost.
 */
public final class Demo {
    private static final long MS = 1_000_000L;

    /** The demo's knobs; {@link #validate} names the bad one. */
    public record Options(int hosts, int vms, double rate, int migrations, long trafficMs, long precopyMs, long stopMs,
                          List<Mode> modes, java.nio.file.Path report) {
        public Options(int hosts, int vms, double rate, int migrations, long trafficMs, long precopyMs, long stopMs, List<Mode> modes) {
            this(hosts, vms, rate, migrations, trafficMs, precopyMs, stopMs, modes, null);
        }

        public Options validate() {
            if (hosts < 2) throw new IllegalArgumentException("--hosts must be at least 2, was " + hosts);
            if (vms < 2 || vms % 2 != 0) throw new IllegalArgumentException("--vms must be an even number >= 2, was " + vms);
            if (rate <= 0 || rate > 200_000) throw new IllegalArgumentException("--rate must be in 1..200000 frames/s, was " + rate);
            if (migrations < 0) throw new IllegalArgumentException("--migrations must be >= 0, was " + migrations);
            if (precopyMs < 1 || stopMs < 1) throw new IllegalArgumentException("--precopy-ms and --stop-ms must be >= 1");
            long slots = (migrations + 1) / 2;
            long needed = 700 + slots * (2 * precopyMs + 2 * stopMs + 100);
            if (trafficMs < needed) {
                throw new IllegalArgumentException("--duration-ms " + trafficMs + " is too short for " + migrations
                        + " migrations of " + (precopyMs + stopMs) + " ms two at a time; use at least " + needed);
            }
            return this;
        }
    }

    private Demo() {}

    /**
     * Migrations round robin over hosts, two at a time: the two ends of a flow, VMs (0,1), then
     * (2,3), ... The second starts half a pre-copy after the first, so the two migrations overlap
     * but each VM's downtime falls while its peer is still sending.
     */
    public static List<PlannedMigration> plan(Options o) {
        List<PlannedMigration> plan = new ArrayList<>();
        int slots = (o.migrations() + 1) / 2;
        long slotGap = slots == 0 ? 0 : (o.trafficMs() - 600) * MS / slots;
        for (int i = 0; i < o.migrations(); i++) {
            int slot = i / 2;
            int vm = (2 * slot + i % 2) % o.vms();
            long offset = i % 2 == 0 ? 0 : (o.precopyMs() / 2 + o.stopMs()) * MS;
            plan.add(new PlannedMigration(vm, 0, 300 * MS + slot * slotGap + offset, o.precopyMs() * MS, o.stopMs() * MS,
                    Ending.COMPLETED));
        }
        return plan;
    }

    /** Runs every mode of {@code o}; prints progress to {@code err} and the table to {@code out}. */
    public static List<Report> run(Options o, PrintStream out, PrintStream err) throws Exception {
        o.validate();
        out.printf(Locale.ROOT, "Ferry demo: %d agents on loopback UDP, %d VMs in %d flows, %,.0f frames/s, %d live migrations"
                        + " (pre-copy %d ms, stop-and-copy %d ms) per mode%n%n",
                o.hosts(), o.vms(), o.vms(), o.rate(), o.migrations(), o.precopyMs(), o.stopMs());
        List<Report> reports = new ArrayList<>();
        for (Mode mode : o.modes()) {
            reports.add(runMode(o, mode, err));
        }
        printTable(reports, out);
        return reports;
    }

    private static Report runMode(Options o, Mode mode, PrintStream err) throws Exception {
        String name = mode.name().toLowerCase(Locale.ROOT);
        try (UdpCluster cluster = new UdpCluster(o.hosts(), mode, Set.of(Scenario.VNI))) {
            Scenario scenario = new Scenario(cluster, o.vms(), o.rate(), o.trafficMs(), 1_500, 0, plan(o));
            long start = System.nanoTime();
            double end = (scenario.endNanos() - start) / 1e9;
            boolean terminal = System.console() != null;
            int shown = -1;
            scenario.start();
            while (System.nanoTime() < scenario.endNanos()) {
                int done = scenario.migrationsDone();
                // A redrawn bar on a terminal; one line per completed migration in a log.
                if (terminal || done != shown) {
                    progress(err, name, done, o.migrations(), (System.nanoTime() - start) / 1e9, end, terminal);
                    shown = done;
                }
                Thread.sleep(100);
            }
            progress(err, name, scenario.migrationsDone(), o.migrations(), end, end, terminal);
            if (terminal) err.println();
            // Let the agents finish what they are doing before their state is read.
            Thread.sleep(50);
            if (mode == Mode.FERRY && o.report() != null) {
                java.nio.file.Path html = DemoPictures.write(o.report(), scenario, cluster.agents(), o);
                err.printf("  timeline report of the ferry mode's migrations: %s%n", html.toAbsolutePath());
            }
            return scenario.report(name, cluster.agents(), cluster.kernelDrops(), cluster.underlayFailures());
        }
    }

    private static void progress(PrintStream err, String mode, int done, int total, double t, double end, boolean redraw) {
        int width = 30;
        int filled = (int) Math.min(width, Math.round(width * t / end));
        err.printf(Locale.ROOT, "%s  %-6s [%s%s] %2d/%d migrations  %4.1f/%.1f s%s", redraw ? "\r" : "", mode,
                "#".repeat(filled), ".".repeat(width - filled), done, total, t, end, redraw ? "" : "\n");
        err.flush();
    }

    static void printTable(List<Report> reports, PrintStream out) {
        String header = String.format(Locale.ROOT, "%-6s %10s %11s %11s %9s %11s %10s %12s %9s %9s",
                "mode", "migrations", "sent", "delivered", "lost", "duplicated", "reordered", "longest gap", "relayed",
                "buffered");
        out.println();
        out.println(header);
        out.println("-".repeat(header.length()));
        for (Report r : reports) {
            out.printf(Locale.ROOT, "%-6s %10d %,11d %,11d %,9d %,11d %,10d %9.1f ms %,9d %,9d%n", r.mode(),
                    r.migrations(), r.sent(), r.delivered(), r.lost(), r.duplicated(), r.reordered(), r.longestGapMs(),
                    r.relayed(), r.buffered());
        }
        for (Report r : reports) {
            if (r.lost() == 0) continue;
            out.println();
            out.print(r.mode() + " ");
            r.loss().lines().forEach(out::println);
            if (r.loss().load() > 0) {
                out.printf(Locale.ROOT, "  %,d of them because this machine could not keep up with the offered rate, not by the"
                        + " forwarding; try a lower --rate%n", r.loss().load());
            }
        }
        out.println();
        out.println("ferry: the full protocol (lock, buffer, relay, markers).");
        out.println("naive: the board learns the new location when the destination resumes; no lock, buffer or relay.");
        out.println("eager: the destination registers when the migration starts, while it is still paused.");
        out.println("longest gap: the longest time any flow went without a frame arriving.");
    }
}
