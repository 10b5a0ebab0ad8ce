package dev.ferry.lab.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.board.InMemoryStore;
import dev.ferry.service.AgentService;
import dev.ferry.service.AgentSettings;
import dev.ferry.service.BoardService;
import dev.ferry.service.PortSpec;
import dev.ferry.service.qmp.QmpClient;
import dev.ferry.wire.Ethernet;
import java.io.IOException;
import java.io.PrintStream;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ferry lab qemu}: a board and three agents on loopback, a sender and a receiver VM as real
 * QEMU processes on QEMU socket ports, sequenced UDP from one to the other, and the receiver
 * live-migrated round robin between the agents by QEMU's own {@code migrate} over TCP, the agents
 * following through their QMP detectors. Prints per migration what the receiver saw (frames lost,
 * duplicated, reordered, longest gap) beside QEMU's reported downtime and total time.
 */
public final class QemuLab implements AutoCloseable {
    private static final int VNI = 100;
    private static final int UDP_PORT = 5000;
    private static final long MAC_TX = 0x525400000001L;
    private static final long MAC_RX = 0x525400000002L;
    private static final Pattern HOLE = Pattern.compile("^hole first=(\\d+) last=(\\d+)");
    private static final Pattern LATE = Pattern.compile("^late seq=(\\d+)");
    private static final Pattern DUP = Pattern.compile("^dup seq=(\\d+)");
    private static final Pattern GAP = Pattern.compile("^gap ms=([0-9.]+)");
    private static final Pattern SUMMARY = Pattern.compile(
            "recv received=(\\d+) lost=(-?\\d+) dup=(\\d+) reordered=(\\d+) max_gap_ms=([0-9.]+)");

    /** What the run is asked to do. */
    public record Options(int migrations, int rate, String mode, boolean abort) {}

    /** One migration's row: where, what the receiver saw while it ran, and what QEMU reported. */
    public record Row(int n, int from, int to, String outcome, long lost, long duplicated, long reordered,
                      double longestGapMs, long downtimeMs, long totalMs) {}

    /**
     * The whole run: a row per migration, the receiver's own totals ({@code lost} is every frame sent
     * and never received), and how many datagrams the receiver VM's kernel dropped for a full socket
     * (lost inside the VM, not on the way; -1 unknown).
     */
    public record Result(List<Row> rows, long sent, long received, long lost, long duplicated, long reordered,
                         long droppedInVm) {
        public boolean lossless() {
            return lost == 0 && duplicated == 0 && reordered == 0 && received == sent;
        }

        /** Lost on the way: what the receiver missed less what its own kernel dropped. */
        public long lostOnTheWay() {
            return droppedInVm < 0 ? lost : lost - droppedInVm;
        }
    }

    private final Options o;
    private final PrintStream out;
    private final Path dir;
    private final BoardService board;
    private final List<AgentService> agents = new ArrayList<>();
    private final List<QemuVm> vms = new CopyOnWriteArrayList<>();

    public QemuLab(Options options, PrintStream out) throws IOException {
        this.o = options;
        this.out = out;
        this.dir = Files.createTempDirectory("ferry-lab-qemu");
        this.board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, new InMemoryStore());
        for (int id = 1; id <= 3; id++) {
            agents.add(AgentService.start(AgentSettings.empty().override(id, "127.0.0.1:0", null, "127.0.0.1:" + board.port(),
                    "127.0.0.1:0", List.of(VNI), o.mode(), List.of()).validate()));
        }
    }

    public Result run() throws Exception {
        VmImage image = VmImage.ensure();
        progress("board and agents 1-3 up (mode %s); booting the sender on agent 1 and the receiver on agent 2", o.mode());
        QemuVm tx = vm(image, 1, "tx", MAC_TX, "198.18.0.1", 0);
        QemuVm rx = vm(image, 2, "rx", MAC_RX, "198.18.0.2", 0);
        tx.await(Pattern.compile("ferry-vm: ready"), 60_000);
        rx.await(Pattern.compile("ferry-vm: ready"), 60_000);
        awaitPlugged(1, "tx");
        awaitPlugged(2, "rx");

        int migrations = o.migrations() + (o.abort() ? 1 : 0);
        long frames = (long) o.rate() * (6L * migrations + 6);
        rx.type("ferry-traffic recv " + UDP_PORT + " 10000 " + (10 * migrations + 60) + " &");
        rx.await(Pattern.compile("recv listening"), 10_000);
        tx.type("ferry-traffic send 198.18.0.2 " + UDP_PORT + " " + o.rate() + " " + frames);
        progress("streaming %,d frames at %,d/s from tx to rx", frames, o.rate());
        Thread.sleep(2_000);

        List<Row> rows = new ArrayList<>();
        int at = 2;
        List<String> between = new ArrayList<>();
        for (int n = 1; n <= migrations; n++) {
            boolean cancel = o.abort() && n == migrations;
            int to = at % 3 + 1;
            drainInto(rx, between);
            int port = freeTcpPort();
            QemuVm next = vm(image, to, "rx", MAC_RX, "198.18.0.2", port);
            awaitPlugged(to, "rx");
            List<String> events = new CopyOnWriteArrayList<>();
            QmpClient lab = rx.qmp(e -> events.add(e.name() + " " + e.status()));
            lab.execute("migrate-set-capabilities", Map.of("capabilities", List.of(Map.of("capability", "events", "state", true))));
            if (cancel) lab.execute("migrate-set-parameters", Map.of("max-bandwidth", 256 * 1024));
            else lab.execute("migrate-set-parameters", Map.of("max-bandwidth", 1L << 30));
            lab.execute("migrate", Map.of("uri", "tcp:127.0.0.1:" + port));
            String outcome;
            if (cancel) {
                await(events, "MIGRATION active");
                Thread.sleep(500);
                lab.execute("migrate_cancel");
                await(events, "MIGRATION cancelled");
                outcome = "cancelled";
            } else {
                await(events, "MIGRATION completed");
                outcome = "completed";
            }
            JsonNode info = lab.execute("query-migrate");
            Thread.sleep(2_000);
            List<String> during = new ArrayList<>();
            drainInto(rx, during);
            drainInto(next, during);
            between.addAll(during);
            if (cancel) {
                next.close();
                vms.remove(next);
            } else {
                lab.execute("quit");
                vms.remove(rx);
                rx = next;
            }
            Row row = row(n, at, cancel ? at : to, outcome, during, info);
            rows.add(row);
            print(row);
            if (!cancel) at = to;
        }
        progress("waiting for the sender to finish");
        Matcher summary = null;
        for (String l : between) {
            Matcher m = SUMMARY.matcher(l);
            if (m.find()) summary = m;
        }
        if (summary == null) summary = rx.await(SUMMARY, 20_000L * migrations + 60_000);
        long received = Long.parseLong(summary.group(1));
        // The guest's own UDP counters: a frame can also be lost inside the VM (its socket full).
        rx.type("echo guest-udp $(grep Udp: /proc/net/snmp | tail -1)");
        long droppedInVm = -1;
        try {
            Matcher udp = rx.await(Pattern.compile("guest-udp Udp: (\\d+) (\\d+) (\\d+) (\\d+) (\\d+)"), 5_000);
            progress("receiver VM: %s datagrams in, %s receive errors, %s dropped for a full socket", udp.group(1), udp.group(3),
                    udp.group(5));
            droppedInVm = Long.parseLong(udp.group(5));
        } catch (IOException e) {
            progress("receiver VM: no UDP counters (%s)", e.getMessage());
        }
        for (AgentService a : agents) {
            StringBuilder nonzero = new StringBuilder();
            a.status().counters().forEach((name, value) -> {
                if (value != 0 && (name.startsWith("drop_") || name.startsWith("migrations_") || name.equals("relayed") || name.equals("taken_back")
                        || name.equals("buffered"))) {
                    nonzero.append(' ').append(name).append('=').append(value);
                }
            });
            progress("agent %d:%s", a.hostId(), nonzero.length() == 0 ? " nothing migrated or dropped" : nonzero);
        }
        // Lost: never received, whether in a hole or after the receiver's last (a stream that stopped).
        return new Result(rows, frames, received, frames - received, Long.parseLong(summary.group(3)),
                Long.parseLong(summary.group(4)), droppedInVm);
    }

    private Row row(int n, int from, int to, String outcome, List<String> lines, JsonNode info) {
        long lost = 0, dup = 0, late = 0;
        double gap = 0;
        for (String l : lines) {
            Matcher m;
            if ((m = HOLE.matcher(l)).find()) lost += Long.parseLong(m.group(2)) - Long.parseLong(m.group(1)) + 1;
            else if ((m = LATE.matcher(l)).find()) late++;
            else if ((m = DUP.matcher(l)).find()) dup++;
            else if ((m = GAP.matcher(l)).find()) gap = Math.max(gap, Double.parseDouble(m.group(1)));
        }
        return new Row(n, from, to, outcome, lost - late, dup, late, gap, info.path("downtime").asLong(-1),
                info.path("total-time").asLong(-1));
    }

    /** Header and rows as they come. */
    public void printHeader() {
        out.printf("%3s %-6s %-10s %6s %6s %9s %14s %12s %10s%n", "#", "move", "outcome", "lost", "dup", "reordered",
                "longest gap", "downtime", "total");
    }

    private void print(Row r) {
        out.printf("%3d %-6s %-10s %6d %6d %9d %11.1f ms %9d ms %7d ms%n", r.n(), r.from() + "->" + r.to(), r.outcome(),
                r.lost(), r.duplicated(), r.reordered(), r.longestGapMs(), r.downtimeMs(), r.totalMs());
        out.flush();
    }

    private static void drainInto(QemuVm vm, List<String> lines) {
        for (String l; (l = vm.poll()) != null; ) {
            lines.add(l);
            if (System.getenv("FERRY_LAB_TRACE") != null) System.err.println("    [" + vm.name() + "] " + l);
        }
    }

    private QemuVm vm(VmImage image, int agent, String name, long mac, String ip, int incomingPort) throws Exception {
        InetSocketAddress qemuSide = new InetSocketAddress("127.0.0.1", freeUdpPort());
        InetSocketAddress agentSide = new InetSocketAddress("127.0.0.1", freeUdpPort());
        QemuVm vm = QemuVm.start(image, name + "-on-" + agent, ip + "/24", new QemuVm.Nic(mac, qemuSide, agentSide), dir, incomingPort);
        vms.add(vm);
        agents.get(agent - 1).addPort(new PortSpec(name, "qemu-socket", VNI, Ethernet.format(mac), List.of(ip),
                "127.0.0.1:" + agentSide.getPort(), "127.0.0.1:" + qemuSide.getPort(), null, null, null,
                vm.agentQmpSocket().toString()).validate(name));
        return vm;
    }

    private void awaitPlugged(int agent, String id) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (agents.get(agent - 1).status().ports().stream().noneMatch(p -> p.id().equals(id))) {
            if (System.currentTimeMillis() > deadline) throw new IOException("agent " + agent + " never plugged " + id + " (no QMP answer)");
            Thread.sleep(20);
        }
    }

    private static void await(List<String> events, String event) throws Exception {
        long deadline = System.currentTimeMillis() + 120_000;
        while (!events.contains(event)) {
            if (System.currentTimeMillis() > deadline) throw new IOException("QEMU never said " + event + "; it said " + events);
            Thread.sleep(10);
        }
    }

    private void progress(String format, Object... args) {
        System.err.printf("  " + format + "%n", args);
    }

    private static int freeUdpPort() throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            return s.getLocalPort();
        }
    }

    private static int freeTcpPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Ends every QEMU this lab started (by its process id), the agents and the board. */
    @Override
    public void close() {
        for (QemuVm vm : vms) vm.close();
        for (AgentService a : agents) a.close();
        board.close();
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // a socket QEMU removed meanwhile
        }
    }
}
