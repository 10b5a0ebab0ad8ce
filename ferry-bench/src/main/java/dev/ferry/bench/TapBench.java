package dev.ferry.bench;

import dev.ferry.board.InMemoryStore;
import dev.ferry.service.BoardService;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ferry bench tap}: latency and TCP through two TAP ports, Ferry's agents beside the C
 * TAP&lt;-&gt;Geneve forwarder of the anchors ({@code tap_geneve_fwd}, one {@code poll()} loop,
 * one read and one write per frame), measured in the same run with the same probes.
 *
 * <p>Each side is two forwarders on loopback, each owning a TAP device that is then moved into a
 * network namespace of its own as a VM would be (198.19.7.1 and .2, MTU 1400 as the anchor's
 * script sets). Probes, run the same way for both: ping at rest (one every 200 ms, so every
 * forwarder has gone idle between them), ping at 5 ms spacing (the anchor script's), iperf3 TCP,
 * and each forwarder's CPU use while nothing crosses it. Needs root, ip, ping, iperf3, gcc.
 */
public final class TapBench {
    private static final int VNI = 42;
    private static final String[] MACS = {"02:00:00:00:07:01", "02:00:00:00:07:02"};
    private static final String[] IPS = {"198.19.7.1", "198.19.7.2"};
    /** Flood pings before timing: enough for the JIT to compile the agents' packet path. */
    private static final int WARM_UP_PINGS = 30_000;
    private static final Pattern TIME = Pattern.compile("time=([0-9.]+) ms");

    /** {@code underlay}: "sealed" or "plaintext", the agents' underlay. */
    public record Options(int reps, int iperfSeconds, int restPings, Path anchors, String underlay) {}

    /** One side's figures: RTTs in ms, TCP in Gbit/s (one per repetition), idle CPU in % of a core (one per forwarder). */
    record Figures(Rtt rest, Rtt busy, List<Double> tcp, List<Double> idleCpu) {}

    /** One ping run's round-trip times in ms. */
    record Rtt(double min, double median, double p90, double avg, double max) {
        static Rtt of(List<Double> times) {
            List<Double> v = times.stream().sorted().toList();
            return new Rtt(v.getFirst(), v.get(v.size() / 2), v.get((int) Math.min(v.size() - 1, Math.round(v.size() * 0.9))),
                    v.stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN), v.getLast());
        }

        @Override
        public String toString() {
            return String.format("min/median/p90/avg/max %.3f/%.3f/%.3f/%.3f/%.3f ms", min, median, p90, avg, max);
        }
    }

    private final Options o;
    private final PrintStream out;
    private final String tag = Long.toString(ProcessHandle.current().pid() % 100_000);

    public TapBench(Options options, PrintStream out) {
        this.o = options;
        this.out = out;
    }

    /** Measures the anchor, then Ferry; prints the table. Returns 0, 1 when a probe failed, 2 when it cannot run here. */
    public int run() throws Exception {
        String missing = missing();
        if (missing != null) {
            out.println("ferry bench tap: " + missing);
            return 2;
        }
        out.printf("ferry bench tap: ping at rest (%d, one per 200 ms) and at 5 ms spacing (200), iperf3 TCP %d x %d s,"
                + " idle CPU over 5 s%n", o.restPings, o.reps, o.iperfSeconds);
        Figures anchor = null;
        Path fwd = o.anchors == null ? null : buildAnchor(o.anchors);
        if (fwd == null) {
            out.println("anchor: skipped (no tap_geneve_fwd.c under " + o.anchors + "; give --anchors DIR)");
        } else {
            anchor = measure("C forwarder", devices -> forwarders(fwd, devices));
        }
        Figures ferry;
        try (BoardService board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, new InMemoryStore())) {
            ferry = measure("Ferry", devices -> agents("127.0.0.1:" + board.port(), devices));
        }
        report(anchor, ferry);
        return 0;
    }

    private static String missing() {
        if (!ProcessHandle.current().info().user().map("root"::equals).orElse(false)) return "needs root (TAP devices, namespaces)";
        if (!Files.exists(Path.of("/dev/net/tun"))) return "needs /dev/net/tun";
        for (String tool : List.of("ip", "ping", "iperf3")) {
            if (!onPath(tool)) return "needs " + tool + " (scripts/install-deps.sh installs it)";
        }
        return null;
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) return true;
        }
        return false;
    }

    // --- the two sides -----------------------------------------------------------------------------

    /** Starts one side's two forwarders, each with a TAP device named {@code devices[i]}; returns their processes. */
    private interface Side {
        List<Process> start(String[] devices) throws Exception;
    }

    private List<Process> forwarders(Path fwd, String[] devices) throws Exception {
        InetSocketAddress a = AgentProcess.freePort(), b = AgentProcess.freePort();
        InetSocketAddress[] at = {a, b};
        List<Process> started = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Path ready = Files.createTempFile("ferry-tap-anchor", ".ready");
            Files.delete(ready);
            started.add(new ProcessBuilder(fwd.toString(), "-T", devices[i], "-l", "127.0.0.1:" + at[i].getPort(),
                    "-p", "127.0.0.1:" + at[1 - i].getPort(), "-v", String.valueOf(VNI), "-m", "single", "-t", "600", "-R", ready.toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (!Files.exists(ready) && System.nanoTime() < deadline) Thread.sleep(20);
            Files.deleteIfExists(ready);
        }
        return started;
    }

    private List<Process> agents(String board, String[] devices) throws Exception {
        List<Process> started = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            List<String> more = new ArrayList<>(List.of("--vni", String.valueOf(VNI), "--port", "id=vm" + (i + 1) + ",type=tap,vni=" + VNI
                    + ",mac=" + MACS[i] + ",ips=" + IPS[i] + ",device=" + devices[i]));
            if (o.underlay.equals("plaintext")) more.add("--plaintext-underlay");
            started.add(AgentProcess.start(i + 1, board, -1, more).process());
        }
        return started;
    }

    // --- measuring ----------------------------------------------------------------------------------

    private String device(int i) {
        return "fyb" + tag + (i == 0 ? "a" : "b");
    }

    private String namespace(int i) {
        return "fybench" + tag + (i == 0 ? "a" : "b");
    }

    /** Starts {@code side}, moves its devices into the namespaces, probes, and cleans everything up. */
    private Figures measure(String name, Side side) throws Exception {
        progress("%s: starting", name);
        String[] devices = {device(0), device(1)};
        List<Process> processes = List.of();
        try {
            processes = side.start(devices);
            for (int i = 0; i < 2; i++) {
                String ns = namespace(i);
                sh("ip", "netns", "add", ns);
                sh("ip", "link", "set", devices[i], "netns", ns);
                sh("ip", "-n", ns, "link", "set", devices[i], "address", MACS[i], "mtu", "1400");
                sh("ip", "-n", ns, "addr", "add", IPS[i] + "/24", "dev", devices[i]);
                sh("ip", "-n", ns, "link", "set", devices[i], "up");
                sh("ip", "-n", ns, "link", "set", "lo", "up");
            }
            // ARP resolved and every forwarder's code path warm (compiled, for the JVM) before anything is timed.
            sh("ip", "netns", "exec", namespace(0), "ping", "-c", "200", "-i", "0.002", "-W", "2", "-q", IPS[1]);
            sh("ip", "netns", "exec", namespace(0), "timeout", "60", "ping", "-f", "-c", String.valueOf(WARM_UP_PINGS), "-W", "2", "-q", IPS[1]);
            List<Double> cpu = new ArrayList<>();
            Thread.sleep(1_000);
            long[] before = new long[processes.size()];
            for (int i = 0; i < before.length; i++) before[i] = cpuTicks(processes.get(i).pid());
            long t0 = System.nanoTime();
            Thread.sleep(5_000);
            double seconds = (System.nanoTime() - t0) / 1e9;
            for (int i = 0; i < before.length; i++) cpu.add((cpuTicks(processes.get(i).pid()) - before[i]) / 100.0 / seconds * 100);
            Rtt rest = ping(o.restPings, "0.2");
            Rtt busy = ping(200, "0.005");
            progress("%s: ping at rest %s; at 5 ms %s; idle CPU %s %%", name, rest, busy, cpu);
            List<Double> tcp = new ArrayList<>();
            Process server = new ProcessBuilder("ip", "netns", "exec", namespace(1), "iperf3", "-s", "-B", IPS[1], "-p", "5201")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            try {
                Thread.sleep(500);
                for (int r = 0; r < o.reps; r++) {
                    String json = sh("ip", "netns", "exec", namespace(0), "timeout", String.valueOf(o.iperfSeconds + 20), "iperf3", "-c", IPS[1],
                            "-p", "5201", "-t", String.valueOf(o.iperfSeconds), "--connect-timeout", "5000", "-J");
                    double gbit = com.fasterxml.jackson.databind.json.JsonMapper.builder().build().readTree(json)
                            .path("end").path("sum_received").path("bits_per_second").asDouble() / 1e9;
                    tcp.add(gbit);
                    progress("%s: TCP %.3f Gbit/s", name, gbit);
                }
            } finally {
                server.destroy();
                server.waitFor(5, TimeUnit.SECONDS);
            }
            return new Figures(rest, busy, tcp, cpu);
        } finally {
            for (Process p : processes) {
                p.destroy();
                if (!p.waitFor(5, TimeUnit.SECONDS)) p.destroyForcibly();
            }
            for (int i = 0; i < 2; i++) {
                new ProcessBuilder("ip", "netns", "del", namespace(i)).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /** The RTTs of {@code count} pings from namespace a to b at {@code interval} seconds. */
    private Rtt ping(int count, String interval) throws Exception {
        String text = sh("ip", "netns", "exec", namespace(0), "ping", "-c", String.valueOf(count), "-i", interval, "-W", "2", IPS[1]);
        List<Double> times = new ArrayList<>();
        for (Matcher m = TIME.matcher(text); m.find(); ) times.add(Double.parseDouble(m.group(1)));
        if (times.size() < count) throw new IOException("ping: " + (count - times.size()) + " of " + count + " unanswered:\n" + text);
        return Rtt.of(times);
    }

    /** utime + stime of every thread of {@code pid}, in clock ticks (100 a second on Linux). */
    private static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", String.valueOf(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    /** Builds the anchor's tools with their own Makefile; the forwarder's path, or null when there are none. */
    private Path buildAnchor(Path anchors) throws Exception {
        if (!Files.isRegularFile(anchors.resolve("src/tap_geneve_fwd.c"))) return null;
        sh("make", "-s", "-C", anchors.toString(), "bin/tap_geneve_fwd");
        return anchors.resolve("bin/tap_geneve_fwd").toAbsolutePath();
    }

    // --- the table ----------------------------------------------------------------------------------

    private void report(Figures anchor, Figures ferry) {
        out.println();
        out.printf("%-44s%22s%22s%10s%n", "through two TAP ports", "C forwarder (anchor)", "Ferry (" + o.underlay + ")", "ratio");
        line("ping at rest, min (ms)", anchor == null ? null : anchor.rest.min, ferry.rest.min, "%.3f");
        line("ping at rest, median (ms)", anchor == null ? null : anchor.rest.median, ferry.rest.median, "%.3f");
        line("ping at rest, p90 (ms)", anchor == null ? null : anchor.rest.p90, ferry.rest.p90, "%.3f");
        line("ping at rest, avg (ms)", anchor == null ? null : anchor.rest.avg, ferry.rest.avg, "%.3f");
        line("ping at rest, max (ms)", anchor == null ? null : anchor.rest.max, ferry.rest.max, "%.3f");
        line("ping at 5 ms spacing, median (ms)", anchor == null ? null : anchor.busy.median, ferry.busy.median, "%.3f");
        line("ping at 5 ms spacing, avg (ms)", anchor == null ? null : anchor.busy.avg, ferry.busy.avg, "%.3f");
        line("TCP, iperf3 median (Gbit/s)", anchor == null ? null : Median.of(anchor.tcp), Median.of(ferry.tcp), "%.3f");
        line("CPU at idle, busier forwarder (% of a core)", anchor == null ? null : max(anchor.idleCpu), max(ferry.idleCpu), "%.1f");
        out.printf("TCP runs (Gbit/s): anchor %s, Ferry %s%n", anchor == null ? "-" : anchor.tcp, ferry.tcp);
        if (anchor != null) {
            double rtt = ferry.rest.median / anchor.rest.median;
            out.printf("target (median ping at rest <= 1.2x the anchor's): %s (%.2fx; avg %.2fx)%n", rtt <= 1.2 ? "met" : "NOT met", rtt,
                    ferry.rest.avg / anchor.rest.avg);
        }
    }

    private void line(String label, Double anchor, double ferry, String format) {
        String ratio = anchor == null || anchor == 0 ? "-" : String.format("%.2fx", ferry / anchor);
        out.printf("%-44s%22s%22s%10s%n", label, anchor == null ? "-" : String.format(format, anchor), String.format(format, ferry), ratio);
    }

    private static double max(List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }

    private static String sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " did not end");
        }
        if (p.exitValue() != 0) throw new IOException(String.join(" ", cmd) + " exited " + p.exitValue() + ":\n" + text);
        return text;
    }

    private void progress(String format, Object... args) {
        System.err.printf("  " + format + "%n", args);
    }
}
