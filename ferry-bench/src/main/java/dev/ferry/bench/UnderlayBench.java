package dev.ferry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.agent.seal.Seal;
import dev.ferry.agent.seal.SealKey;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.Endpoints;
import dev.ferry.board.HostRecord;
import dev.ferry.board.InMemoryStore;
import dev.ferry.service.BoardService;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code ferry bench underlay}: how many frames per second a Ferry agent forwards on loopback, beside
 * the C relay anchor measured in the same run by its own script.
 *
 * <p>Like the anchor's saturating mode, one agent at a time gets a core of its own (CPU 1) and a
 * blaster on the other core (CPU 0) offers more than it can take; its output goes to a socket
 * nobody reads. The encapsulating agent (VM frame in, Geneve out) and the decapsulating one
 * (Geneve in, VM frame out) are measured apart: two agents on a core each forward at the slower
 * one's rate. A last stage sends through both agents, sharing one core, and counts what the second
 * hands to its VM.
 *
 * <p>Every stage runs once per underlay asked for: sealed (the default, design §7b) and plaintext
 * ({@code --plaintext-underlay}). To be decapsulated, a datagram must come from a registered host:
 * the blaster registers itself as host {@link #BLASTER} at its socket (with a key of its own when
 * sealed, and then seals each datagram it sends, on its own core).
 */
public final class UnderlayBench {
    private static final int VNI = 100;
    private static final long MAC_A = 0x02_00_00_00_00_0aL;
    private static final long MAC_B = 0x02_00_00_00_00_0bL;
    private static final int TRAFFIC_ETHERTYPE = 0x88B6;
    /** The host id the decapsulation blaster registers as. */
    private static final int BLASTER = 9;

    /** {@code underlays}: "sealed", "plaintext", or both, in the order to run them. */
    public record Options(List<Integer> sizes, int seconds, int warmup, int reps, Path anchors, String transport, List<String> underlays) {}

    private final Options o;
    private final PrintStream out;
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final List<Process> started = new ArrayList<>();

    public UnderlayBench(Options options, PrintStream out) {
        this.o = options;
        this.out = out;
    }

    /** Runs the anchor and every stage; prints the table. Returns 0, or 1 when Ferry is under half the anchor. */
    public int run() throws Exception {
        int cpus = Runtime.getRuntime().availableProcessors();
        boolean pinned = cpus >= 2 && pin(ProcessHandle.current().pid(), 0);
        out.printf("ferry bench underlay: %d CPUs; %s; %d x %d s per figure after %d s warm-up, medians%n", cpus,
                pinned ? "blaster on CPU 0, the agent under test on CPU 1" : "NOT pinned (taskset missing): figures are rough",
                o.reps, o.seconds, o.warmup);
        Map<Integer, Double> anchor = anchor();
        Map<String, Map<Integer, List<Double>>> figures = new LinkedHashMap<>();
        try (BoardService board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, new InMemoryStore())) {
            String boardAt = "127.0.0.1:" + board.port();
            int hosts = 0;
            for (String underlay : o.underlays) {
                boolean sealed = underlay.equals("sealed");
                // B advertises a socket nobody reads: the encapsulating agent's Geneve ends there.
                try (DatagramChannel nowhere = discard(); DatagramChannel vmA = bound(); DatagramChannel vmB = discard();
                     DatagramChannel hostA = bound()) {
                    Agent a = agent(++hosts, boardAt, null, "a", MAC_A, vmA, 1, sealed);
                    Agent b = agent(++hosts, boardAt, address(nowhere), "b", MAC_B, vmB, 0, sealed);
                    Seal blaster = registerBlaster(board, address(hostA), sealed);
                    for (int size : o.sizes) {
                        for (int rep = 0; rep < o.reps; rep++) {
                            pin(a.pid, 1);
                            pin(b.pid, 0);
                            byte[] frame = frame(size);
                            double encap = measure(vmA, a.port, frame, null, 0, () -> counter(a, "counters", "underlay_out"));
                            add(figures, underlay + " encap", size, encap);
                            pin(b.pid, 1);
                            pin(a.pid, 0);
                            double decap = measure(hostA, b.listen, geneve(frame), blaster, hosts, () -> counter(b, "counters", "delivered"));
                            add(figures, underlay + " decap", size, decap);
                            progress("%s: encap %d B: %.0f/s, decap %d B: %.0f/s", underlay, size, encap, size, decap);
                        }
                    }
                    stop(a);
                    stop(b);
                }
                // Both agents for real, sharing CPU 1: what B hands to its VM's socket.
                try (DatagramChannel vmA = bound(); DatagramChannel vmB = discard()) {
                    Agent a = agent(++hosts, boardAt, null, "a2", MAC_A, vmA, 1, sealed);
                    Agent b = agent(++hosts, boardAt, null, "b2", MAC_B, vmB, 1, sealed);
                    for (int size : o.sizes) {
                        for (int rep = 0; rep < o.reps; rep++) {
                            long[] before = whereFramesWent(a, b);
                            double chain = measure(vmA, a.port, frame(size), null, 0, () -> counter(b, "counters", "delivered"));
                            long[] after = whereFramesWent(a, b);
                            add(figures, underlay + " chain", size, chain);
                            progress("%s: chain %d B: %.0f/s delivered; over the stage: A took %d from its VM (kernel dropped %d"
                                            + " before), sent %d; B got %d (kernel dropped %d before), delivered %d", underlay, size, chain,
                                    after[0] - before[0], after[1] - before[1], after[2] - before[2], after[3] - before[3],
                                    after[4] - before[4], after[5] - before[5]);
                        }
                    }
                    stop(a);
                    stop(b);
                }
            }
        } finally {
            for (Process p : started) if (p.isAlive()) p.destroy();
        }
        return report(anchor, figures);
    }

    private int report(Map<Integer, Double> anchor, Map<String, Map<Integer, List<Double>>> figures) {
        StringBuilder head = new StringBuilder(String.format("%-66s", "frames per second"));
        for (int size : o.sizes) head.append(String.format("%22s", size + "-byte frames"));
        out.println();
        out.println(head);
        row("C relay anchor (udp_relay, single-sat, 1 core)", size -> anchor.get(size), null);
        for (String u : o.underlays) {
            row("Ferry agent, " + u + ", encapsulating: VM frame -> Geneve", size -> median(figures, u + " encap", size), anchor);
            row("Ferry agent, " + u + ", decapsulating: Geneve -> VM frame", size -> median(figures, u + " decap", size), anchor);
            row("Ferry, " + u + ", two agents on a core each (the slower one)", size -> slower(figures, u, size), anchor);
            row("Ferry, " + u + ", VM -> agent -> agent -> VM, both on CPU 1", size -> median(figures, u + " chain", size), anchor);
        }
        boolean sealedMet = true;
        if (o.underlays.contains("sealed") && o.underlays.contains("plaintext")) {
            out.println();
            StringBuilder cost = new StringBuilder(String.format("%-66s", "sealed / plaintext, two agents on a core each"));
            StringBuilder chainCost = new StringBuilder(String.format("%-66s", "sealed / plaintext, both agents on CPU 1"));
            for (int size : o.sizes) {
                double ratio = slower(figures, "sealed", size) / slower(figures, "plaintext", size);
                cost.append(String.format("%22s", String.format("%.2fx", ratio)));
                chainCost.append(String.format("%22s", String.format("%.2fx",
                        median(figures, "sealed chain", size) / median(figures, "plaintext chain", size))));
                if (size >= 1400 && ratio < 0.7) sealedMet = false;
            }
            out.println(cost);
            out.println(chainCost);
            out.println("target (sealed >= 0.7x plaintext for frames of 1400 bytes and more): " + (sealedMet ? "met" : "NOT met"));
        }
        if (anchor.isEmpty()) {
            out.println("\nno anchor in this run, so no ratio; target: the two agents at >= 0.5x the anchor");
            return sealedMet ? 0 : 1;
        }
        // Each underlay against its own targets: 0.5x the anchor to pass, 0.9x what issue 15 aims at.
        boolean met = sealedMet;
        for (String u : o.underlays) {
            double worst = Double.MAX_VALUE;
            for (int size : o.sizes) {
                Double a = anchor.get(size);
                worst = Math.min(worst, a == null ? 0 : slower(figures, u, size) / a);
            }
            if (worst < 0.5) met = false;
            out.printf("%s: two agents at %.2fx the anchor at worst: %s (>= 0.5x), %s (>= 0.9x)%n", u, worst,
                    worst >= 0.5 ? "met" : "NOT met", worst >= 0.9 ? "met" : "NOT met");
        }
        return met ? 0 : 1;
    }

    private static double slower(Map<String, Map<Integer, List<Double>>> figures, String underlay, int size) {
        return Math.min(median(figures, underlay + " encap", size), median(figures, underlay + " decap", size));
    }

    private void row(String label, java.util.function.IntFunction<Double> value, Map<Integer, Double> anchor) {
        StringBuilder line = new StringBuilder(String.format("%-66s", label));
        for (int size : o.sizes) {
            Double v = value.apply(size);
            String cell = v == null ? "-" : String.format("%.1f k", v / 1000);
            if (v != null && anchor != null && anchor.get(size) != null) {
                cell += String.format(" (%.2fx)", v / anchor.get(size));
            }
            line.append(String.format("%22s", cell));
        }
        out.println(line);
    }

    // --- the anchor --------------------------------------------------------------------------------

    /** Runs the anchor's own script in saturating mode; its relay's median forwarded rate by size. */
    private Map<Integer, Double> anchor() throws Exception {
        Map<Integer, Double> rates = new LinkedHashMap<>();
        Path script = o.anchors == null ? null : o.anchors.resolve("relay-loopback.sh");
        if (script == null || !Files.isRegularFile(script)) {
            out.println("anchor: skipped (no relay-loopback.sh under " + o.anchors + "; give --anchors DIR)");
            return rates;
        }
        Path results = Files.createTempFile("ferry-anchor", ".tsv");
        try {
            ProcessBuilder pb = new ProcessBuilder("bash", script.toString()).redirectErrorStream(true);
            pb.environment().putAll(Map.of("MODES", "single-sat", "SIZES", String.join(" ", o.sizes.stream().map(String::valueOf).toList()),
                    "REPS", String.valueOf(o.reps), "SECS", String.valueOf(o.seconds), "RESULTS", results.toString()));
            progress("anchor: %s (MODES=single-sat)", script);
            Process p = pb.start();
            started.add(p);
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) if (line.contains("relay forwarded")) progress("anchor %s", line.trim());
            }
            if (p.waitFor() != 0) {
                out.println("anchor: its script failed (exit " + p.exitValue() + "); no ratio in this run");
                return rates;
            }
            Map<Integer, List<Double>> bySize = new LinkedHashMap<>();
            for (String line : Files.readAllLines(results)) {
                String[] f = line.split("\t");
                for (int size : o.sizes) {
                    if (f.length >= 5 && f[1].equals("relay single-sat " + size + "B: relay forwarded")) {
                        bySize.computeIfAbsent(size, k -> new ArrayList<>()).add(Double.parseDouble(f[4]));
                    }
                }
            }
            bySize.forEach((size, values) -> rates.put(size, Median.of(values)));
            return rates;
        } finally {
            Files.deleteIfExists(results);
        }
    }

    // --- agents -------------------------------------------------------------------------------------

    private record Agent(long pid, AgentProcess process, InetSocketAddress listen, InetSocketAddress port, String admin) {}

    private Agent agent(int hostId, String board, InetSocketAddress advertise, String vm, long mac, DatagramChannel vmSocket,
                        int cpu, boolean sealed) throws Exception {
        InetSocketAddress port = freePort();
        List<String> more = new ArrayList<>(List.of("--vni", String.valueOf(VNI), "--transport", o.transport,
                "--port", "id=" + vm + ",type=qemu-socket,vni=" + VNI + ",mac=" + Ethernet.format(mac)
                        + ",local=" + format(port) + ",remote=" + format(address(vmSocket))));
        if (advertise != null) more.addAll(List.of("--advertise", format(advertise)));
        if (!sealed) more.add("--plaintext-underlay");
        AgentProcess p = AgentProcess.start(hostId, board, cpu, more);
        started.add(p.process());
        return new Agent(p.pid(), p, p.listen(), port, p.admin());
    }

    private void stop(Agent a) throws InterruptedException {
        a.process.close();
    }

    private long counter(Agent a, String part, String name) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://" + a.admin + "/v1/status"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode n = json.readTree(r.body());
            return n.path(part).path(name).asLong();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Where the chain's frames went, for a stage that falls short to say at which hop: A's frames from
     * its VM, its kernel drops, its Geneve out; B's Geneve in, its kernel drops, its deliveries.
     */
    private long[] whereFramesWent(Agent a, Agent b) {
        return new long[] {counter(a, "counters", "port_in"), counter(a, "underlay", "kernel_drops"), counter(a, "counters", "underlay_out"),
                counter(b, "counters", "underlay_in"), counter(b, "underlay", "kernel_drops"), counter(b, "counters", "delivered")};
    }

    // --- traffic ------------------------------------------------------------------------------------

    /**
     * Blasts {@code datagram} at {@code to} for warm-up plus the measured seconds (bounded in count
     * too), and returns the rate of {@code count} over the measured window.
     */
    private double measure(DatagramChannel from, InetSocketAddress to, byte[] datagram, Seal seal, int sealFor,
                           java.util.function.LongSupplier count) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(o.warmup + o.seconds) + 500_000_000L;
        Thread blaster = new Thread(() -> blast(from, to, datagram, seal, sealFor, deadline), "blaster");
        blaster.start();
        Thread.sleep(o.warmup * 1000L);
        long c0 = count.getAsLong();
        long t0 = System.nanoTime();
        Thread.sleep(o.seconds * 1000L);
        long c1 = count.getAsLong();
        long t1 = System.nanoTime();
        blaster.join();
        Thread.sleep(300);
        return (c1 - c0) * 1e9 / (t1 - t0);
    }

    /** Sends {@code datagram} again and again, numbered; sealed for host {@code sealFor} when {@code seal} is given. */
    private static void blast(DatagramChannel from, InetSocketAddress to, byte[] datagram, Seal seal, int sealFor, long deadline) {
        ByteBuffer buf = ByteBuffer.allocateDirect(datagram.length + Geneve.SEAL_OVERHEAD);
        int seqAt = datagram.length - 8;
        long limit = 200_000_000L;
        try {
            for (long seq = 0; seq < limit; seq++) {
                dev.ferry.wire.Bytes.put64(datagram, seqAt, seq);
                buf.clear();
                if (seal != null) {
                    seal.seal(sealFor, datagram, 0, datagram.length, System.nanoTime());
                    buf.put(seal.sealed(), 0, seal.sealedLength());
                } else {
                    buf.put(datagram);
                }
                buf.flip();
                from.send(buf, to);
                if ((seq & 1023) == 0 && System.nanoTime() > deadline) return;
            }
        } catch (IOException e) {
            System.err.println("blaster stopped: " + e);
        }
    }

    /** A VM frame of {@code size} bytes from VM a to VM b; the last 8 bytes carry a sequence number. */
    private static byte[] frame(int size) {
        byte[] f = new byte[Math.max(size, Ethernet.HEADER_LENGTH + 8)];
        Ethernet.writeHeader(f, 0, MAC_B, MAC_A, TRAFFIC_ETHERTYPE);
        return f;
    }

    /** The Geneve datagram the blaster, as host {@link #BLASTER}, sends for {@code frame}. */
    private static byte[] geneve(byte[] frame) {
        byte[] d = new byte[Geneve.FERRY_HEADER_LENGTH + frame.length];
        int at = GeneveWriter.writeHeader(d, 0, VNI, false, Geneve.PROTOCOL_ETHERNET, 0, BLASTER, 0, 0);
        System.arraycopy(frame, 0, d, at, frame.length);
        return d;
    }

    /**
     * Registers the decapsulation blaster as host {@link #BLASTER} at {@code at}, with a key of its own
     * when sealed; returns its seal (null when plaintext), which knows the decapsulating agent's key.
     */
    private static Seal registerBlaster(BoardService board, InetSocketAddress at, boolean sealed) throws InterruptedException {
        Seal seal = new Seal(BLASTER, sealed ? SealKey.generate(new java.security.SecureRandom()) : null);
        long now = System.nanoTime() / 1_000_000;
        board.board().handle(new BoardRequest.RegisterHost((long) BLASTER << 48 | now, BLASTER, format(at), java.util.Set.of(VNI),
                3_600_000, seal.publicKey()), now);
        Thread.sleep(300); // the agents hear of it by a push
        if (sealed) {
            for (HostRecord h : board.board().hosts()) seal.learn(h, System.nanoTime());
        }
        return sealed ? seal : null;
    }

    // --- plumbing -----------------------------------------------------------------------------------

    /** Pins every thread of {@code pid} to {@code cpu}; false when taskset is missing or refuses. */
    private static boolean pin(long pid, int cpu) throws Exception {
        if (!AgentProcess.hasTaskset()) return false;
        Process p = new ProcessBuilder("taskset", "-a", "-p", "-c", String.valueOf(cpu), String.valueOf(pid))
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        return p.waitFor() == 0;
    }

    private static DatagramChannel bound() throws IOException {
        DatagramChannel c = DatagramChannel.open();
        c.setOption(StandardSocketOptions.SO_SNDBUF, 4 << 20);
        c.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
        return c.bind(new InetSocketAddress("127.0.0.1", 0));
    }

    /** A socket nobody reads: what is sent to it costs the sender the same, then the kernel drops it. */
    private static DatagramChannel discard() throws IOException {
        DatagramChannel c = DatagramChannel.open();
        c.setOption(StandardSocketOptions.SO_RCVBUF, 4096);
        return c.bind(new InetSocketAddress("127.0.0.1", 0));
    }

    private static InetSocketAddress address(DatagramChannel c) throws IOException {
        return (InetSocketAddress) c.getLocalAddress();
    }

    private static InetSocketAddress freePort() throws IOException {
        return AgentProcess.freePort();
    }

    private static String format(InetSocketAddress a) {
        return Endpoints.format(a);
    }

    private void progress(String format, Object... args) {
        System.err.printf("  " + format + "%n", args);
    }

    private static void add(Map<String, Map<Integer, List<Double>>> figures, String stage, int size, double value) {
        figures.computeIfAbsent(stage, k -> new LinkedHashMap<>()).computeIfAbsent(size, k -> new ArrayList<>()).add(value);
    }

    private static Double median(Map<String, Map<Integer, List<Double>>> figures, String stage, int size) {
        List<Double> v = figures.getOrDefault(stage, Map.of()).get(size);
        return v == null ? null : Median.of(v);
    }
}
