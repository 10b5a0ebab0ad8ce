package dev.ferry.lab.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.lab.ScratchDir;
import dev.ferry.lab.timeline.Timeline;
import dev.ferry.service.qmp.QmpClient;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ferry lab qemu}: a sender and a receiver VM as real QEMU processes, sequenced UDP from one to
 * the other, and the VMs live-migrated round robin between three hosts by QEMU's own {@code migrate}
 * over TCP on loopback. On Ferry (a board and three agents, their QMP detectors following every
 * step) or, as the baseline, on a Linux bridge. Prints per migration what the receiver saw (frames
 * lost, duplicated, reordered, longest gap) beside QEMU's reported downtime and total time.
 */
public final class QemuLab implements AutoCloseable {
    private static final int UDP_PORT = 5000;
    private static final long MAC_TX = 0x525400000001L;
    private static final long MAC_RX = 0x525400000002L;

    /**
     * Which network carries the VMs' frames: Ferry with the VMs on vhost-user ports (the agent serves
     * their virtio rings) or on QEMU socket ports ({@code -netdev dgram}), or a Linux bridge.
     */
    public enum Network {
        FERRY, FERRY_QEMU_SOCKET, BRIDGE,
        /** The bridge with the VMs' RAM a shared memfd, as on Ferry's vhost-user ports: the like-for-like baseline. */
        BRIDGE_SHARED_MEMORY;

        /** A Linux bridge, not Ferry. */
        public boolean isBridge() {
            return this == BRIDGE || this == BRIDGE_SHARED_MEMORY;
        }
    }

    /**
     * What the run is asked to do: {@code migrations} of the receiver, then {@code senderMigrations}
     * of the sender, then (with {@code abort}) one of the receiver cancelled halfway. {@code mode} is
     * the agents' (ferry, naive, eager); the bridge has none. With {@code checkMemory} each destination
     * is held paused once loaded while both copies' memory is compared ({@link MemoryCheck}): its gap
     * then includes that hold.
     */
    public record Options(Network network, int migrations, int senderMigrations, int rate, String mode, boolean abort, Path report,
                          boolean checkMemory) {
        public Options(Network network, int migrations, int senderMigrations, int rate, String mode, boolean abort) {
            this(network, migrations, senderMigrations, rate, mode, abort, null, false);
        }

        public static Options ferry(int migrations, int senderMigrations, int rate, boolean abort) {
            return new Options(Network.FERRY, migrations, senderMigrations, rate, "ferry", abort);
        }

        public static Options bridge(int migrations, int senderMigrations, int rate) {
            return new Options(Network.BRIDGE, migrations, senderMigrations, rate, "none", false);
        }

        /** The same run on another network. */
        public Options on(Network other) {
            return new Options(other, migrations, senderMigrations, rate, other.isBridge() ? "none" : mode, abort, report, checkMemory);
        }

        /** The same run, writing its timeline report (HTML and an SVG per migration) into {@code dir}. */
        public Options reportingTo(Path dir) {
            return new Options(network, migrations, senderMigrations, rate, mode, abort, dir, checkMemory);
        }

        /** The same run, comparing the VM's memory on both copies after each completed migration. */
        public Options checkingMemory() {
            return new Options(network, migrations, senderMigrations, rate, mode, abort, report, true);
        }

        int total() {
            return migrations + senderMigrations + (abort ? 1 : 0);
        }
    }

    /**
     * One migration's row: which VM went where, what the receiver saw while it ran, and what QEMU
     * reported (its downtime and total time, the RAM it sent and how many times it synced the dirty log),
     * and, when checked, whether the VM's memory arrived whole (null when not checked).
     */
    public record Row(int n, String vm, int from, int to, String outcome, long lost, long duplicated, long reordered,
                      double longestGapMs, long downtimeMs, long totalMs, long ramBytes, long dirtySyncs, MemoryCheck.Outcome memory) {}

    /**
     * The whole run: a row per migration, the receiver's own totals ({@code lost} is every frame sent
     * and never received), and how many datagrams the receiver VM's kernel dropped for a full socket
     * (lost inside the VM, not on the way; -1 unknown).
     */
    public record Result(List<Row> rows, long sent, long received, long lost, long duplicated, long reordered,
                         long droppedInVm, dev.ferry.lab.LossAccount loss) {
        public boolean lossless() {
            return lost == 0 && duplicated == 0 && reordered == 0 && received == sent;
        }

        /** Lost on the way: what the receiver missed less what its own kernel dropped. */
        public long lostOnTheWay() {
            return droppedInVm < 0 ? lost : lost - droppedInVm;
        }
    }

    /** A VM's running copy and the host it is on. */
    private static final class Placed {
        final String name;
        final long mac;
        final String ip;
        QemuVm vm;
        int host;

        Placed(String name, long mac, String ip) {
            this.name = name;
            this.mac = mac;
            this.ip = ip;
        }
    }

    private final Options o;
    private final PrintStream out;
    private final Path dir;
    private final LabNetwork network;
    private final List<QemuVm> vms = new CopyOnWriteArrayList<>();
    /** Every QMP event of every copy, on this process's nanoTime clock (QEMU's own timestamps, converted). */
    private final List<QemuEvent> qemuEvents = new CopyOnWriteArrayList<>();
    private final long wallToNano;
    private final List<MigrationPicture.Entry> pictures = new ArrayList<>();

    /** A QMP event of copy {@code copy}, at {@code nanos} on this process's clock. */
    record QemuEvent(String copy, String name, String status, long nanos) {
        String what() {
            return status.isEmpty() ? name : name + " " + status;
        }
    }

    public QemuLab(Options options, PrintStream out) throws IOException {
        this.o = options;
        this.out = out;
        this.dir = Files.createTempDirectory("ferry-lab-qemu");
        java.time.Instant wall = java.time.Instant.now();
        this.wallToNano = System.nanoTime() - (wall.getEpochSecond() * 1_000_000_000L + wall.getNano());
        this.network = switch (options.network()) {
            case BRIDGE -> new BridgeNetwork(false);
            case BRIDGE_SHARED_MEMORY -> new BridgeNetwork(true);
            case FERRY -> new FerryNetwork(options.mode(), FerryNetwork.PortType.VHOST_USER);
            case FERRY_QEMU_SOCKET -> new FerryNetwork(options.mode(), FerryNetwork.PortType.QEMU_SOCKET);
        };
    }

    public Result run() throws Exception {
        VmImage image = VmImage.ensure();
        progress("%s up%s; booting the sender on host 1 and the receiver on host 2", network,
                !o.network().isBridge() ? " (mode " + o.mode() + ")" : "");
        Placed tx = new Placed("tx", MAC_TX, "198.18.0.1");
        Placed rx = new Placed("rx", MAC_RX, "198.18.0.2");
        start(image, tx, 1, 0);
        start(image, rx, 2, 0);
        tx.vm.await(Pattern.compile("ferry-vm: ready"), 60_000);
        rx.vm.await(Pattern.compile("ferry-vm: ready"), 60_000);

        // Long enough for every migration (about 2.5 s each here) and a tail after the last.
        long frames = (long) o.rate() * (4L * o.total() + 8);
        rx.vm.type("ferry-traffic recv " + UDP_PORT + " 10000 " + (10 * o.total() + 60) + " &");
        rx.vm.await(Pattern.compile("recv listening"), 10_000);
        tx.vm.type("ferry-traffic send " + rx.ip + " " + UDP_PORT + " " + o.rate() + " " + frames);
        progress("streaming %,d frames at %,d/s from tx to rx", frames, o.rate());
        Thread.sleep(2_000);

        List<Row> rows = new ArrayList<>();
        // What the receiver printed outside any migration's window (its summary may be among it).
        List<String> between = new ArrayList<>();
        for (int n = 1; n <= o.total(); n++) {
            boolean cancel = o.abort() && n == o.total();
            Placed moving = n > o.migrations() && !cancel ? tx : rx;
            ReceiverLines.drainInto(rx.vm.console(), between);
            QemuVm source = moving.vm;
            Row row;
            try {
                row = migrate(image, n, moving, rx, cancel);
            } catch (IOException e) {
                // A QMP session that breaks is mostly a QEMU that ended: say how, and what it said last.
                throw new IOException("migration " + n + " failed: " + e + "; the source copy: " + source.state(), e);
            }
            rows.add(row);
            print(row);
        }
        progress("waiting for the sender to finish");
        Matcher summary;
        try {
            summary = ReceiverLines.awaitSummary(rx.vm.console(), between, 20_000L * o.total() + 60_000);
        } catch (IOException e) {
            // A receiver that stopped printing is mostly a guest that died or hung: its state and last words say which.
            throw new IOException(e.getMessage() + "; the receiver: " + rx.vm.state(), e);
        }
        long received = Long.parseLong(summary.group(1));
        // The guest's own UDP counters, by name: a frame can also be refused inside the VM (its socket
        // full, or the guest's memory for UDP: RcvbufErrors, MemErrors) after Ferry delivered it.
        rx.vm.type(ReceiverLines.GUEST_UDP_COMMAND);
        long droppedInVm = -1;
        try {
            Map<String, Long> udp = ReceiverLines.guestUdp(rx.vm.await(ReceiverLines.GUEST_UDP, 5_000));
            long inErrors = udp.getOrDefault("InErrors", 0L), corrupted = udp.getOrDefault("InCsumErrors", 0L);
            progress("receiver VM: %d datagrams in, %d receive errors (%d for a full socket, %d for the guest's UDP memory,"
                            + " %d with a bad checksum)", udp.getOrDefault("InDatagrams", 0L), inErrors, udp.getOrDefault("RcvbufErrors", 0L),
                    udp.getOrDefault("MemErrors", 0L), corrupted);
            // Every receive error but a bad checksum is the guest refusing what reached it whole.
            droppedInVm = inErrors - corrupted;
        } catch (IOException e) {
            progress("receiver VM: no UDP counters (%s)", e.getMessage());
        }
        for (String line : network.report()) progress("%s", line);
        // Lost: never received, whether in a hole or after the receiver's last (a stream that stopped).
        long lost = frames - received;
        return new Result(rows, frames, received, lost, Long.parseLong(summary.group(3)),
                Long.parseLong(summary.group(4)), droppedInVm, network.account(lost, Math.max(droppedInVm, 0)));
    }

    /**
     * Moves {@code moving} to the next host round robin (or, cancelled halfway, leaves it where it
     * is); the row is what the receiver printed from the start until two seconds after the end.
     */
    private Row migrate(VmImage image, int n, Placed moving, Placed rx, boolean cancel) throws Exception {
        int from = moving.host;
        int to = from % 3 + 1;
        QemuVm source = moving.vm;
        int port = LoopbackPorts.tcp();
        long asked = System.nanoTime();
        boolean check = o.checkMemory() && !cancel;
        QemuVm next = start(image, moving, to, port, check);
        QmpClient lab = qmp(source);
        lab.execute("migrate-set-capabilities", Map.of("capabilities", List.of(Map.of("capability", "events", "state", true))));
        // A cancelled migration is slowed down, so that it is still running when the lab cancels it.
        lab.execute("migrate-set-parameters", Map.of("max-bandwidth", cancel ? 256 * 1024 : 1L << 30));
        // The frames reaching the receiver, counted every millisecond while the migration runs (Ferry only).
        java.util.function.LongSupplier toReceiver = network.framesTo(rx.name);
        FrameSampler frames = toReceiver == null ? null : FrameSampler.start(toReceiver);
        long began = System.nanoTime();
        int firstEvent = qemuEvents.size();
        lab.execute("migrate", Map.of("uri", "tcp:127.0.0.1:" + port));
        String outcome;
        if (cancel) {
            await(source, firstEvent, "MIGRATION active");
            Thread.sleep(500);
            lab.execute("migrate_cancel");
            await(source, firstEvent, "MIGRATION cancelled");
            outcome = "cancelled";
        } else {
            await(source, firstEvent, "MIGRATION completed");
            outcome = "completed";
        }
        JsonNode info = lab.execute("query-migrate");
        MemoryCheck.Outcome memory = check ? checkMemory(source, next, n) : null;
        Thread.sleep(2_000);
        long ended = System.nanoTime();
        Timeline.Strip strip = frames == null ? null : frames.stop("frames to " + rx.name + " (per ms)");
        // The receiver prints on the console of whichever of its copies runs.
        List<String> during = new ArrayList<>();
        if (moving == rx) {
            ReceiverLines.drainInto(source.console(), during);
            ReceiverLines.drainInto(next.console(), during);
        } else {
            ReceiverLines.drainInto(rx.vm.console(), during);
            ReceiverLines.drainInto(source.console(), new ArrayList<>());
            ReceiverLines.drainInto(next.console(), new ArrayList<>());
        }
        if (cancel) {
            next.close();
            vms.remove(next);
            moving.vm = source;
            moving.host = from;
        } else {
            lab.execute("quit");
            vms.remove(source);
        }
        Row row = row(n, moving.name, from, cancel ? from : to, outcome, during, info, memory);
        List<QemuEvent> seen = qemuEvents.stream().filter(e -> e.nanos() >= began - 1_000_000_000L && e.nanos() <= ended
                && (e.copy().equals(source.name()) || e.copy().equals(next.name()))).toList();
        Map<Integer, Long> cacheTurned = new java.util.TreeMap<>();
        for (int host = 1; host <= 3 && !cancel; host++) {
            Long at = network.cacheTurned(host, moving.mac, to, began);
            if (at != null) cacheTurned.put(host, at);
        }
        pictures.add(new MigrationPicture.Entry(row, began, ended, source.name(), next.name(), seen,
                network.history(from, moving.mac, began), network.history(to, moving.mac, asked), cacheTurned, strip));
        return row;
    }

    private Row row(int n, String vm, int from, int to, String outcome, List<String> lines, JsonNode info, MemoryCheck.Outcome memory) {
        ReceiverLines.Counts c = ReceiverLines.count(lines);
        return new Row(n, vm, from, to, outcome, c.lost(), c.duplicated(), c.reordered(), c.longestGapMs(), info.path("downtime").asLong(-1),
                info.path("total-time").asLong(-1), info.path("ram").path("transferred").asLong(-1),
                info.path("ram").path("dirty-sync-count").asLong(-1), memory);
    }

    /**
     * The destination, held paused once loaded, and the stopped source compared page by page; then
     * the destination runs. Frames for the VM wait in the source's buffer meanwhile (about a second).
     */
    private MemoryCheck.Outcome checkMemory(QemuVm source, QemuVm destination, int n) throws Exception {
        QmpClient there = qmp(destination);
        long deadline = System.currentTimeMillis() + 60_000;
        for (String status; !(status = there.execute("query-status").path("status").asText()).equals("paused"); ) {
            if (System.currentTimeMillis() > deadline) throw new IOException(destination.name() + " never loaded; it is " + status);
            Thread.sleep(5);
        }
        MemoryCheck.Outcome memory = MemoryCheck.compare(qmp(source), there, QemuVm.MEMORY_BYTES, dir, "migration-" + n);
        there.execute("cont");
        progress("migration %d: the VM's memory on both copies: %s", n, memory);
        return memory;
    }

    /** Header and rows as they come. */
    public void printHeader() {
        printHeader(out);
    }

    private void print(Row r) {
        print(out, r);
    }

    /** The table's header, as {@code ferry lab qemu} and {@code ferry lab libvirt} print it. */
    public static void printHeader(PrintStream out) {
        out.printf("%3s %-3s %-6s %-10s %6s %6s %9s %14s %12s %10s%n", "#", "vm", "move", "outcome", "lost", "dup", "reordered",
                "longest gap", "downtime", "total");
    }

    /** One migration's row of that table. */
    public static void print(PrintStream out, Row r) {
        out.printf("%3d %-3s %-6s %-10s %6d %6d %9d %11.1f ms %9d ms %7d ms%n", r.n(), r.vm(), r.from() + "->" + r.to(), r.outcome(),
                r.lost(), r.duplicated(), r.reordered(), r.longestGapMs(), r.downtimeMs(), r.totalMs());
        out.flush();
    }

    /** Starts a copy of {@code vm} on {@code host} (a paused destination with {@code incomingPort > 0}) and plugs it. */
    private QemuVm start(VmImage image, Placed vm, int host, int incomingPort) throws Exception {
        return start(image, vm, host, incomingPort, false);
    }

    private QemuVm start(VmImage image, Placed vm, int host, int incomingPort, boolean held) throws Exception {
        QemuVm.Nic nic = network.nic(vm.name, host, vm.mac);
        QemuVm copy = QemuVm.start(image, vm.name + "-on-" + host, vm.ip + "/24", nic, dir, incomingPort, held);
        vms.add(copy);
        // Plugged before QEMU is asked anything: a vhost-user QEMU finishes starting only once its back-end, the agent, is there.
        network.plug(vm.name, host, vm.ip, nic, copy);
        // The lab's one session with this copy, kept: its events from the start (a destination's RESUME
        // is part of the migration's timeline). QEMU greets only once started, so this also waits for
        // that. Not a probe closed and a new session right after it: that pair once ended with the new
        // session broken at its first command (QEMU's monitor serves one client at a time).
        qmp(copy).execute("query-status");
        // A destination is where the VM will be; a cancelled migration puts it back.
        vm.vm = copy;
        vm.host = host;
        return copy;
    }

    /**
     * Waits for copy {@code vm} to send {@code event} (e.g. "MIGRATION completed") among the events
     * from index {@code first} on (the list only grows; its stream is a snapshot): by their order of
     * arrival, not their converted timestamps, which mix QEMU's wall clock with this process's.
     */
    private void await(QemuVm vm, int first, String event) throws Exception {
        long deadline = System.currentTimeMillis() + 120_000;
        while (qemuEvents.stream().skip(first).noneMatch(e -> e.copy().equals(vm.name()) && e.what().equals(event))) {
            if (System.currentTimeMillis() > deadline) {
                throw new IOException("QEMU never said " + event + "; it said "
                        + qemuEvents.stream().filter(e -> e.copy().equals(vm.name())).map(QemuEvent::what).toList());
            }
            Thread.sleep(10);
        }
    }

    /** The lab's QMP session with {@code vm}: every event it sends goes to {@link #qemuEvents}. */
    private QmpClient qmp(QemuVm vm) throws IOException {
        return vm.qmp(e -> qemuEvents.add(new QemuEvent(vm.name(), e.name(), e.status(), e.micros() * 1_000 + wallToNano)));
    }

    /**
     * Writes the timeline report of the run so far (nothing without {@link Options#report}): the table
     * and a picture per migration. Returns the HTML file, or null.
     */
    public Path writeReport() throws IOException {
        if (o.report() == null) return null;
        return MigrationPicture.report(o.report(), network.toString(), o, pictures);
    }

    private void progress(String format, Object... args) {
        System.err.printf("  " + format + "%n", args);
    }

    /** Ends every QEMU this lab started (by its process id), then the network (agents and board, or the bridge's namespace). */
    @Override
    public void close() {
        for (QemuVm vm : vms) vm.close();
        network.close();
        ScratchDir.remove(dir);
    }
}
