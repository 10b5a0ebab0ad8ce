package dev.ferry.lab.libvirt;

import dev.ferry.lab.ScratchDir;
import dev.ferry.lab.qemu.IpCommand;
import dev.ferry.lab.qemu.QemuLab;
import dev.ferry.lab.qemu.ReceiverLines;
import dev.ferry.lab.qemu.SerialConsole;
import dev.ferry.lab.qemu.VmImage;
import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ferry lab libvirt}: two libvirt daemons on this machine acting as two hosts ({@link
 * LibvirtHost}), a sender and a receiver VM defined as libvirt domains, sequenced UDP from one to the
 * other while {@code virsh migrate --live --p2p} moves the receiver back and forth (then the sender),
 * and one migration aborted with {@code virsh domjobabort}. On Ferry, the domains' NICs are vhost-user
 * ports declared in their metadata: libvirt's hook plugs them into each host's agent and the agents'
 * libvirt detectors follow every migration; as the baseline, a Linux bridge. Prints per migration
 * what the receiver saw beside libvirt's downtime, like {@code ferry lab qemu}.
 */
public final class LibvirtLab implements AutoCloseable {
    private static final int UDP_PORT = 5000;
    private static final Pattern DOWNTIME = Pattern.compile("Total downtime:\\s+(\\d+)\\s+ms");
    private static final Pattern ELAPSED = Pattern.compile("Time elapsed:\\s+(\\d+)\\s+ms");

    /** Ferry's vhost-user ports, or a Linux bridge of libvirt's TAP devices. */
    public enum Network { FERRY, BRIDGE }

    /**
     * {@code migrations} of the receiver, then {@code senderMigrations} of the sender, then (with
     * {@code abort}) one of the receiver aborted with {@code virsh domjobabort}; {@code rate} frames/s.
     * With {@code restartBefore} n &gt; 0, both libvirt daemons are restarted before migration n.
     */
    public record Options(Network network, int migrations, int senderMigrations, int rate, boolean abort, int restartBefore) {
        int total() {
            return migrations + senderMigrations + (abort ? 1 : 0);
        }
    }

    /** A VM: its domain's name, MAC and address, the host it runs on, and its console there. */
    private static final class Vm {
        final String name;
        final String mac;
        final String ip;
        int host;
        SerialConsole console;

        Vm(String name, String mac, String ip) {
            this.name = name;
            this.mac = mac;
            this.ip = ip;
        }
    }

    private final Options o;
    private final PrintStream out;
    private final List<String> ferry;
    private final Path dir;
    private final String netns;
    private final List<LibvirtHost> hosts = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final List<SocketChannel> consoles = new ArrayList<>();
    private AgentTrace trace;
    /** Set when a run failed (or FERRY_LAB_KEEP is set): the scratch directory and its logs outlive the lab. */
    private volatile boolean keep = System.getenv("FERRY_LAB_KEEP") != null;
    /** virsh migrate and the destination's console at once: not the common pool, which has one thread on two cores. */
    private final java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "libvirt-lab");
        t.setDaemon(true);
        return t;
    });

    /**
     * A lab that runs Ferry's command as {@code ferry} (a java command line ending in Ferry's main
     * class): its board and agents.
     */
    public LibvirtLab(Options options, PrintStream out, List<String> ferry) throws IOException {
        this.o = options;
        this.out = out;
        this.ferry = List.copyOf(ferry);
        this.dir = Files.createTempDirectory("ferry-lab-libvirt");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        this.netns = "ferrylv" + ProcessHandle.current().pid() % 100_000;
    }

    /** Runs the lab; a run that fails keeps its directory for the logs. */
    public QemuLab.Result run() throws Exception {
        try {
            return runOnce();
        } catch (Exception e) {
            keep = true;
            throw e;
        }
    }

    private QemuLab.Result runOnce() throws Exception {
        if (!Files.isExecutable(Path.of("/usr/sbin/libvirtd"))) {
            throw new IOException("libvirtd is not installed: scripts/install-deps.sh installs Debian's libvirt-daemon-system");
        }
        VmImage image = VmImage.ensure();
        IpCommand.ip("netns", "add", netns);
        IpCommand.ip("-n", netns, "link", "set", "lo", "up");
        if (o.network() == Network.BRIDGE) {
            IpCommand.ip("-n", netns, "link", "add", "fbr0", "type", "bridge");
            IpCommand.ip("-n", netns, "link", "set", "fbr0", "up");
        }
        Path hook = dir.resolve("hook");
        Files.writeString(hook, "#!/bin/sh\nexport FERRY_AGENT=/run/ferry/agent.sock\nexec "
                + quote(VmImage.projectRoot().resolve("packaging/libvirt/qemu-hook").toString()) + " \"$@\"\n");
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (int h = 1; h <= 2; h++) {
            hosts.add(LibvirtHost.start("h" + h, dir.resolve("h" + h), netns, "f3a1e2d4-0000-4000-8000-00000000000" + h, 49152 + 16 * h,
                    hook));
        }
        if (o.network() == Network.FERRY) {
            startFerry();
            trace = AgentTrace.start(hosts, dir.resolve("agents.tsv"));
        }
        progress("%s: two libvirt daemons up (%s, %s); defining the sender on host 1 and the receiver on host 2",
                o.network() == Network.FERRY ? "Ferry" : "bridge", hosts.get(0), hosts.get(1));
        Vm tx = new Vm("tx", "52:54:00:00:00:01", "198.18.0.1");
        Vm rx = new Vm("rx", "52:54:00:00:00:02", "198.18.0.2");
        define(image, tx, 1);
        define(image, rx, 2);
        tx.console.await(Pattern.compile("ferry-vm: ready"), 120_000);
        rx.console.await(Pattern.compile("ferry-vm: ready"), 120_000);

        // The sender runs until the lab stops it after the last migration (bounded: 15 minutes at most),
        // then says how many it sent; the receiver sums up 10 s after the last frame.
        rx.console.type("ferry-traffic recv " + UDP_PORT + " 10000 1200 &");
        rx.console.await(Pattern.compile("recv listening"), 10_000);
        tx.console.type("ferry-traffic send " + rx.ip + " " + UDP_PORT + " " + o.rate() + " " + (long) o.rate() * 900
                + " & echo sender-pid $!");
        String sender = tx.console.await(Pattern.compile("sender-pid (\\d+)"), 10_000).group(1);
        progress("streaming at %,d/s from tx to rx", o.rate());
        Thread.sleep(2_000);

        List<QemuLab.Row> rows = new ArrayList<>();
        List<String> lines = new ArrayList<>(); // everything the receiver printed
        QemuLab.printHeader(out);
        for (int n = 1; n <= o.total(); n++) {
            boolean abort = o.abort() && n == o.total();
            Vm moving = n > o.migrations() && !abort ? tx : rx;
            ReceiverLines.drainInto(rx.console, lines);
            if (n == o.restartBefore()) {
                for (LibvirtHost h : hosts) h.restart();
                progress("both libvirt daemons restarted (%s, %s), the domains running on", hosts.get(0), hosts.get(1));
                Thread.sleep(3_000); // the agents' detectors connect again within a second
            }
            QemuLab.Row row = migrate(n, moving, rx, abort, lines);
            rows.add(row);
            QemuLab.print(out, row);
        }
        tx.console.type("kill -TERM " + sender);
        Matcher stopped = tx.console.await(Pattern.compile("sent (\\d+) errors=(\\d+)"), 30_000);
        long frames = Long.parseLong(stopped.group(1)) + Long.parseLong(stopped.group(2));
        progress("the sender stopped after %,d frames; waiting for the receiver's summary", frames);
        Matcher summary = ReceiverLines.awaitSummary(rx.console, lines, 60_000);
        long received = Long.parseLong(summary.group(1));
        long droppedInVm = -1;
        Map<String, Long> udp = guestUdp(rx);
        if (!udp.isEmpty()) {
            droppedInVm = udp.getOrDefault("InErrors", 0L) - udp.getOrDefault("InCsumErrors", 0L);
            progress("receiver VM: %d datagrams in, %d refused by its own kernel", udp.getOrDefault("InDatagrams", 0L), droppedInVm);
        }
        // A sender whose NIC stops taking frames loses them in its own queue: its kernel counts them, nobody else.
        Map<String, Long> sent = guestUdp(tx);
        if (!sent.isEmpty()) {
            progress("sender VM: %d datagrams out, %d its own kernel could not queue", sent.getOrDefault("OutDatagrams", 0L),
                    sent.getOrDefault("SndbufErrors", 0L));
        }
        if (o.network() == Network.FERRY) {
            for (LibvirtHost h : hosts) progress("%s", agentSummary(h));
        }
        long lost = frames - received;
        if (lost != 0 && trace != null) {
            keep = true;
            stallReport(rx);
            progress("frames missing: the agents' port counters every %d ms are in %s; the last of them:%n    %s", AgentTrace.PERIOD_MS,
                    dir.resolve("agents.tsv"), String.join("\n    ", trace.last()));
        }
        return new QemuLab.Result(rows, frames, received, lost, Long.parseLong(summary.group(3)), Long.parseLong(summary.group(4)),
                droppedInVm, null);
    }

    /** {@code vm}'s kernel's UDP counters by name, or none when its console does not answer. */
    private Map<String, Long> guestUdp(Vm vm) throws InterruptedException {
        try {
            vm.console.type(ReceiverLines.GUEST_UDP_COMMAND);
            return ReceiverLines.guestUdp(vm.console.await(ReceiverLines.GUEST_UDP, 5_000));
        } catch (IOException e) {
            progress("%s VM: no UDP counters (%s)", vm.name, e.getMessage());
            return Map.of();
        }
    }

    /**
     * Where a receiver that stopped taking frames stands, written to {@code stall.txt}: its NIC's
     * virtio state and interrupt controllers as its QEMU shows them, and its kernel's interrupt counts
     * a second apart (a guest that gets no interrupt from its NIC never refills its receive ring).
     */
    private void stallReport(Vm vm) {
        StringBuilder r = new StringBuilder();
        LibvirtHost h = hosts.get(vm.host - 1);
        List<String> asked = new ArrayList<>(List.of("info virtio-status /machine/peripheral/net0/virtio-backend",
                "info virtio-queue-status /machine/peripheral/net0/virtio-backend 0", "info pic", "info irq", "info pci"));
        for (int i = 0; i < asked.size(); i++) {
            String hmp = asked.get(i);
            try {
                String answer = h.virsh("qemu-monitor-command", vm.name, "--hmp", hmp);
                r.append("== ").append(hmp).append('\n').append(answer).append('\n');
                // The receive ring's indexes as they are in the guest's memory, not in QEMU's or the back-end's copy.
                Matcher ring = Pattern.compile("avail:\\s+(0x[0-9a-f]+)\\s+used:\\s+(0x[0-9a-f]+)").matcher(answer);
                if (ring.find()) {
                    asked.add("xp /2hx " + ring.group(1));
                    asked.add("xp /2hx " + ring.group(2));
                }
            } catch (Exception e) {
                r.append("== ").append(hmp).append(": ").append(e.getMessage()).append('\n');
            }
        }
        try {
            for (int i = 1; i <= 2; i++) {
                vm.console.type("grep -e CPU -e virtio -e IO-APIC /proc/interrupts; cat /sys/class/net/eth0/statistics/rx_packets; echo irq-done-" + i);
                vm.console.await(Pattern.compile("^irq-done-" + i), 5_000);
                r.append("== guest /proc/interrupts (").append(i).append(")\n").append(String.join("\n", vm.console.last(12))).append('\n');
                Thread.sleep(1_000);
            }
        } catch (Exception e) {
            r.append("== guest: ").append(e.getMessage()).append('\n');
        }
        try {
            Files.writeString(dir.resolve("stall.txt"), r);
            progress("the receiver's NIC and interrupts: %s", dir.resolve("stall.txt"));
        } catch (IOException e) {
            progress("no stall report: %s", e.getMessage());
        }
    }

    /** A board in the lab's namespace and an agent in each host's, each following its libvirt. */
    private void startFerry() throws Exception {
        LibvirtHost first = hosts.getFirst();
        List<String> board = new ArrayList<>(List.of("nsenter", "-t", Long.toString(first.pid()), "-n", "--"));
        board.addAll(ferry);
        board.addAll(List.of("board", "--listen", "127.0.0.1:7070", "--in-memory", "--insecure"));
        await(launch(board, dir.resolve("board.log")), dir.resolve("board.log"), "board listening on ");
        for (int h = 1; h <= 2; h++) {
            LibvirtHost host = hosts.get(h - 1);
            List<String> agent = new ArrayList<>(host.enter());
            agent.addAll(ferry);
            agent.addAll(List.of("agent", "--host-id", Integer.toString(h), "--listen", "127.0.0.1:608" + h, "--board", "127.0.0.1:7070",
                    "--vni", "100", "--admin", "/run/ferry/agent.sock", "--insecure", "--libvirt", host.uri()));
            Path log = dir.resolve("agent-" + h + ".log");
            await(launch(agent, log), log, "agent " + h + " up");
        }
    }

    private Process launch(List<String> cmd, Path log) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        // Every vhost-user message and migration step in the logs a failed run keeps.
        pb.environment().putIfAbsent("FERRY_LOG_LEVEL", "DEBUG");
        Process p = pb.start();
        processes.add(p);
        return p;
    }

    private static void await(Process p, Path log, String text) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!Files.readString(log).contains(text)) {
            if (!p.isAlive() || System.nanoTime() > deadline) throw new IOException("no '" + text + "' from " + p.info().commandLine()
                    .orElse("?") + ": " + Files.readString(log));
            Thread.sleep(100);
        }
    }

    /** Defines {@code vm} on {@code host}, starts it and connects to its console. */
    private void define(VmImage image, Vm vm, int host) throws Exception {
        LibvirtHost h = hosts.get(host - 1);
        Path xml = dir.resolve(vm.name + ".xml");
        Files.writeString(xml, domainXml(image, vm));
        h.virsh("define", xml.toString());
        h.virsh("start", vm.name);
        vm.host = host;
        vm.console = console(h, vm, 30_000);
    }

    /**
     * The test VM as a libvirt domain: TCG, its kernel and initramfs booted directly, its serial
     * console a Unix socket in the host's /run/ferry, its NIC Ferry's vhost-user port (RAM shared,
     * the port in Ferry's metadata, MSI-X off as QEMU 7.2 under TCG needs it) or a bridge's TAP.
     */
    private String domainXml(VmImage image, Vm vm) {
        boolean ferryPort = o.network() == Network.FERRY;
        String nic = ferryPort
                ? "<interface type='vhostuser'><mac address='" + vm.mac + "'/><source type='unix' path='/run/ferry/vm/" + vm.name
                        + ".sock' mode='server'/><model type='virtio'/><rom enabled='no'/></interface>"
                : "<interface type='bridge'><mac address='" + vm.mac + "'/><source bridge='fbr0'/><model type='virtio'/>"
                        + "<rom enabled='no'/></interface>";
        return """
                <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
                  <name>%s</name>
                  <memory unit='MiB'>128</memory>
                  <vcpu>1</vcpu>
                  %s
                  %s
                  <os>
                    <type arch='x86_64' machine='q35'>hvm</type>
                    <kernel>%s</kernel>
                    <initrd>%s</initrd>
                    <cmdline>console=ttyS0 quiet panic=-1 ferry.ip=%s/24</cmdline>
                  </os>
                  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
                  <on_reboot>destroy</on_reboot>
                  <devices>
                    %s
                    <serial type='unix'><source mode='bind' path='/run/ferry/%s.console'/><target port='0'/></serial>
                    <memballoon model='none'/>
                  </devices>
                  %s
                </domain>
                """.formatted(vm.name,
                ferryPort ? "<metadata><ferry:ports xmlns:ferry='https://ferry.dev/xmlns/libvirt/1'><ferry:port mac='" + vm.mac
                        + "' vni='100'><ferry:ip address='" + vm.ip + "'/></ferry:port></ferry:ports></metadata>" : "",
                ferryPort ? "<memoryBacking><source type='memfd'/><access mode='shared'/><allocation mode='immediate'/></memoryBacking>" : "",
                image.kernel(), image.initramfs(), vm.ip, nic, vm.name,
                ferryPort ? "<qemu:override><qemu:device alias='net0'><qemu:frontend><qemu:property name='vectors' type='unsigned'"
                        + " value='0'/></qemu:frontend></qemu:device></qemu:override>" : "");
    }

    /** The console of {@code vm}'s copy on {@code host}, connected as soon as its QEMU serves it. */
    private SerialConsole console(LibvirtHost host, Vm vm, long timeoutMillis) throws IOException, InterruptedException {
        Path socket = host.outside(vm.name + ".console");
        long deadline = System.currentTimeMillis() + timeoutMillis;
        while (true) {
            try {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    ch.connect(UnixDomainSocketAddress.of(socket));
                } catch (IOException e) {
                    ch.close();
                    throw e;
                }
                consoles.add(ch);
                return new SerialConsole(vm.name + "@" + host.name(), Channels.newInputStream(ch), Channels.newOutputStream(ch));
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) throw new IOException(vm.name + ": no console at " + socket + ": " + e.getMessage());
                Thread.sleep(5);
            }
        }
    }

    /**
     * Moves {@code moving} to the other host with {@code virsh migrate --live --p2p} (or aborts the
     * migration halfway); the row is what the receiver printed from the start until two seconds after.
     */
    private QemuLab.Row migrate(int n, Vm moving, Vm rx, boolean abort, List<String> all) throws Exception {
        int from = moving.host, to = 3 - from;
        LibvirtHost source = hosts.get(from - 1), destination = hosts.get(to - 1);
        Files.deleteIfExists(destination.outside(moving.name + ".console"));
        List<String> args = new ArrayList<>(List.of("migrate", "--live", "--p2p", "--persistent", "--undefinesource", moving.name,
                destination.uri(), "--migrateuri", "tcp://127.0.0.1", "--listen-address", "127.0.0.1"));
        // An aborted migration is slowed down (MiB/s), so that it still runs when the lab aborts it.
        if (abort) args.addAll(List.of("--bandwidth", "1"));
        if (trace != null) trace.event((abort ? "abort " : "migrate ") + n + " " + moving.name + " " + from + "->" + to);
        CompletableFuture<String> done = CompletableFuture.supplyAsync(() -> {
            try {
                return source.virsh(args.toArray(String[]::new));
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, threads);
        // The destination's console from the moment its QEMU serves it: QEMU drops what a socket console prints to nobody.
        CompletableFuture<SerialConsole> next = CompletableFuture.supplyAsync(() -> {
            try {
                return console(destination, moving, 120_000);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        }, threads);
        String outcome;
        if (abort) {
            long deadline = System.currentTimeMillis() + 60_000;
            while (!source.virsh("domjobinfo", moving.name).contains("Unbounded")) {
                if (System.currentTimeMillis() > deadline) throw new IOException("the migration to abort never started");
                Thread.sleep(50);
            }
            Thread.sleep(1_000);
            source.virsh("domjobabort", moving.name);
            try {
                done.get(120, TimeUnit.SECONDS);
                throw new IOException("virsh migrate succeeded although its job was aborted");
            } catch (java.util.concurrent.ExecutionException expected) {
                outcome = "aborted";
            }
        } else {
            try {
                done.get(300, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                // Say what the VM and its QEMU said last: a guest that panicked is destroyed (on_reboot), a QEMU that died logged why.
                Path transcript = dir.resolve(moving.name + "-console.txt");
                Files.writeString(transcript, moving.console.transcript());
                throw new IOException("migration " + n + " of " + moving.name + " failed: " + e.getCause().getMessage() + "\n  its console ("
                        + transcript + "): " + String.join("\n    ", moving.console.last(40)) + "\n  QEMU's log on host " + source.name()
                        + ": " + source.qemuLog(moving.name), e.getCause());
            }
            outcome = "completed";
        }
        if (trace != null) trace.event("migration " + n + " " + outcome);
        String job = abort ? "" : destination.virsh("domjobinfo", "--completed", moving.name);
        Thread.sleep(2_000);
        List<String> during = new ArrayList<>();
        SerialConsole copy = abort ? null : next.get(10, TimeUnit.SECONDS);
        next.cancel(true);
        if (moving == rx) {
            ReceiverLines.drainInto(rx.console, during);
            if (copy != null) ReceiverLines.drainInto(copy, during);
        } else {
            ReceiverLines.drainInto(rx.console, during);
        }
        if (!abort) {
            moving.console = copy;
            moving.host = to;
        }
        all.addAll(during); // the receiver's summary may come in a migration's window
        if (trace != null) {
            for (String l : during) if (!l.startsWith("late") && !l.startsWith("dup")) trace.event("rx said: " + l);
        }
        ReceiverLines.Counts c = ReceiverLines.count(during);
        return new QemuLab.Row(n, moving.name, from, abort ? from : to, outcome, c.lost(), c.duplicated(), c.reordered(), c.longestGapMs(),
                number(DOWNTIME, job), number(ELAPSED, job), -1, -1, null);
    }

    /** The counters of {@code host}'s agent, read from its admin socket. */
    private static String agentSummary(LibvirtHost host) {
        try {
            return dev.ferry.lab.qemu.AgentCounters.summary(host.agentStatus(java.time.Duration.ofSeconds(10)));
        } catch (IOException e) {
            return "agent of " + host + ": no status (" + e.getMessage() + ")";
        }
    }

    private static long number(Pattern p, String text) {
        Matcher m = p.matcher(text);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    private static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    private void progress(String format, Object... args) {
        System.err.printf("  " + format + "%n", args);
    }

    /** Ends the consoles, the agents and board (by pid), both libvirt daemons and their QEMUs, and the namespace. */
    @Override
    public void close() {
        threads.shutdownNow();
        if (trace != null) trace.close();
        for (SocketChannel c : consoles) {
            try {
                c.close();
            } catch (IOException ignored) {
                // already closed by QEMU
            }
        }
        for (LibvirtHost h : hosts) h.close();
        for (Process p : processes) {
            p.destroy();
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            IpCommand.ip("netns", "delete", netns);
        } catch (IOException ignored) {
            // never made
        }
        if (keep) System.err.println("  the lab's directory is kept: " + dir);
        else ScratchDir.remove(dir);
    }
}
