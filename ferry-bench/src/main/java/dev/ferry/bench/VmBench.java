package dev.ferry.bench;

import dev.ferry.lab.qemu.VmThroughput;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code ferry bench vm}: TCP (iperf3) between two real QEMU VMs, the same two VMs on a Linux bridge
 * (the anchor) and on Ferry's vhost-user ports with offloads on and off, one network after the other
 * in one run. The figure is the median of the runs; the ratio is against the bridge's median. Before
 * TCP, at rest: the agents' loops' CPU while nothing crosses them, and a lone ping between the VMs.
 */
public final class VmBench {
    /** {@code reps} iperf3 runs of {@code seconds} per network, on {@code networks} (in their order). */
    public record Options(int reps, int seconds, List<VmThroughput.Network> networks) {}

    private final Options o;
    private final PrintStream out;

    public VmBench(Options o, PrintStream out) {
        this.o = o;
        this.out = out;
    }

    public int run() throws Exception {
        out.printf("ferry bench vm: iperf3 TCP between two QEMU VMs (%s), %d x %d s per network; the bridge is the anchor%n",
                System.getenv().getOrDefault("FERRY_QEMU_ACCEL", "tcg"), o.reps, o.seconds);
        Map<VmThroughput.Network, List<Double>> runs = new LinkedHashMap<>();
        Map<VmThroughput.Network, double[]> rest = new LinkedHashMap<>();
        for (VmThroughput.Network n : o.networks) {
            List<Double> gbits = new ArrayList<>();
            progress("%s: booting the VMs", n.label);
            try (VmThroughput t = new VmThroughput(n)) {
                t.boot();
                // At rest first: the agents idle (their loops asleep), then a lone ping each 0.2 s.
                double cpu = t.agentsIdleCpu(5_000);
                double[] rtt = t.ping(PINGS);
                rest.put(n, new double[] {rtt[0], rtt[1], rtt[2], cpu});
                progress("%s: ping at rest min/avg/max %.3f/%.3f/%.3f ms; the agents' loops at idle %.1f %% of a core", n.label,
                        rtt[0], rtt[1], rtt[2], cpu);
                for (int i = 0; i < o.reps; i++) {
                    double g = t.run(o.seconds);
                    gbits.add(g);
                    progress("%s: run %d: %.3f Gbit/s, %d segments sent again", n.label, i + 1, g, t.retransmits());
                }
                for (String line : t.report()) progress("%s", line);
            }
            runs.put(n, gbits);
        }
        List<Double> bridge = runs.get(VmThroughput.Network.BRIDGE);
        double anchor = bridge == null ? Double.NaN : Median.of(bridge);
        out.println();
        out.printf("%-42s%16s%10s   %s%n", "TCP between two VMs", "Gbit/s (median)", "ratio", "runs");
        for (var e : runs.entrySet()) {
            double m = Median.of(e.getValue());
            // Without the bridge in the run there is no anchor, so no ratio.
            out.printf("%-42s%16.3f%10s   %s%n", e.getKey().label, m, Double.isNaN(anchor) ? "-" : String.format("%.2fx", m / anchor),
                    e.getValue().stream().map(g -> String.format("%.3f", g)).toList());
        }
        double[] anchorRtt = rest.get(VmThroughput.Network.BRIDGE);
        out.println();
        out.printf("%-42s%16s%10s%16s%22s%n", "ping between the VMs at rest (" + PINGS + ")", "avg ms", "ratio", "min/max ms",
                "agents' idle CPU (%)");
        for (var e : rest.entrySet()) {
            double[] r = e.getValue();
            out.printf("%-42s%16.3f%10s%16s%22s%n", e.getKey().label, r[1], anchorRtt == null ? "-" : String.format("%.2fx", r[1] / anchorRtt[1]),
                    String.format("%.3f/%.3f", r[0], r[2]), Double.isNaN(r[3]) ? "-" : String.format("%.1f", r[3]));
        }
        return 0;
    }

    /** Pings at rest per network, 0.2 s apart. */
    private static final int PINGS = 50;

    private static void progress(String format, Object... args) {
        System.err.printf("  " + format + "%n", args);
    }
}
