package dev.ferry.lab.qemu;

import dev.ferry.service.qmp.QmpClient;
import dev.ferry.wire.Ethernet;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One real QEMU process running the test VM: its NIC a vhost-user socket or a {@code -netdev dgram}
 * socket pair (what Ferry's vhost-user and QEMU socket ports talk to), or a TAP device, its serial console on the process's standard input and output
 * (a shell, for the lab to type commands into), and two QMP sockets: {@link #qmpSocket} for whoever
 * drives the VM (the lab) and {@link #agentQmpSocket} for a Ferry agent's detector, since QEMU gives
 * each QMP monitor to one client at a time. Ended by its process id only.
 */
public final class QemuVm implements AutoCloseable {
    /** The VM's one NIC and what its QEMU network backend is. */
    public sealed interface Nic {
        long mac();

        /** QEMU's {@code -netdev} value, with id {@code n0}. */
        String netdev();

        /** The network namespace QEMU runs in (its TAP is there), or null for the caller's. */
        default String netns() {
            return null;
        }

        /** More QEMU arguments the backend needs (a chardev). */
        default List<String> args() {
            return List.of();
        }

        /** Whether another process maps the VM's RAM (a vhost-user backend): then it is a shared memfd. */
        default boolean sharedMemory() {
            return false;
        }

        /** More {@code virtio-net-pci} properties, each with its leading comma. */
        default String deviceOptions() {
            return "";
        }
    }

    /**
     * A vhost-user NIC: QEMU listens on {@code socket} and the Ferry agent, its back-end, connects and
     * serves the virtio rings itself, in the VM's RAM, which is therefore a shared memfd. With
     * {@code hostMtu} (0: none) QEMU gives the guest that MTU, and the guest offers buffers for it.
     */
    public record VhostUser(long mac, Path socket, int hostMtu) implements Nic {
        public VhostUser(long mac, Path socket) {
            this(mac, socket, 0);
        }

        @Override
        public String netdev() {
            return "vhost-user,id=n0,chardev=c0";
        }

        @Override
        public List<String> args() {
            return List.of("-chardev", "socket,id=c0,path=" + socket + ",server=on,wait=off");
        }

        @Override
        public boolean sharedMemory() {
            return true;
        }

        /**
         * Legacy interrupts (INTx), no MSI-X: QEMU 7.2 under TCG dereferences a null pointer when a
         * vhost device's guest notifiers meet MSI-X vector notifiers (no irqfd without KVM) and dies
         * as the guest's driver starts the NIC.
         */
        @Override
        public String deviceOptions() {
            return ",vectors=0" + (hostMtu > 0 ? ",host_mtu=" + hostMtu : "");
        }
    }

    /** A {@code -netdev dgram} socket pair: QEMU's own UDP address and the Ferry port's (a QEMU socket port). */
    public record Dgram(long mac, InetSocketAddress qemuSide, InetSocketAddress agentSide) implements Nic {
        @Override
        public String netdev() {
            return "dgram,id=n0,local.type=inet,local.host=" + qemuSide.getHostString() + ",local.port=" + qemuSide.getPort()
                    + ",remote.type=inet,remote.host=" + agentSide.getHostString() + ",remote.port=" + agentSide.getPort();
        }
    }

    /**
     * QEMU's user-mode network (slirp): the guest is 10.0.2.15, the host's loopback is 10.0.2.2 to
     * it, and UDP to 127.0.0.1:{@code hostPort} reaches the guest's {@code guestPort}. Enough for a
     * guest's own tunnel endpoint to talk to a process on this host's loopback.
     */
    public record User(long mac, int hostPort, int guestPort) implements Nic {
        @Override
        public String netdev() {
            return "user,id=n0,net=10.0.2.0/24,hostfwd=udp:127.0.0.1:" + hostPort + "-10.0.2.15:" + guestPort;
        }
    }

    /**
     * A TAP device that already exists in {@code netns} (QEMU is started there to open it). With
     * {@code sharedMemory} the VM's RAM is a shared memfd as on a vhost-user port, though nobody maps it:
     * a baseline like for like (QEMU's migration downtime grows with that backend).
     */
    public record Tap(long mac, String netns, String ifname, boolean sharedMemory) implements Nic {
        @Override
        public String netdev() {
            return "tap,id=n0,ifname=" + ifname + ",script=no,downscript=no";
        }
    }

    private static final int MEMORY_MIB = 128;
    /** Every VM's guest memory, in bytes. */
    public static final long MEMORY_BYTES = (long) MEMORY_MIB << 20;

    private final String name;
    private final Process process;
    private final Path qmpSocket;
    private final Path agentQmpSocket;
    private final SerialConsole console;
    private QmpClient qmp;

    private QemuVm(String name, Process process, Path qmpSocket, Path agentQmpSocket) {
        this.name = name;
        this.process = process;
        this.qmpSocket = qmpSocket;
        this.agentQmpSocket = agentQmpSocket;
        this.console = new SerialConsole(name, process.getInputStream(), process.getOutputStream());
    }

    /**
     * Starts QEMU. With {@code incomingPort > 0} it is a paused destination copy waiting for a
     * migration on 127.0.0.1:{@code incomingPort}; otherwise the VM boots (about two seconds under TCG).
     */
    public static QemuVm start(VmImage image, String name, String ip, Nic nic, Path dir, int incomingPort) throws IOException {
        return start(image, name, ip, nic, dir, incomingPort, false);
    }

    /**
     * As {@link #start(VmImage, String, String, Nic, Path, int)}; with {@code held}, a destination
     * copy stays paused once the migration has loaded it, until QMP's {@code cont}.
     */
    public static QemuVm start(VmImage image, String name, String ip, Nic nic, Path dir, int incomingPort, boolean held)
            throws IOException {
        Files.createDirectories(dir);
        Path qmp = dir.resolve(name + ".qmp");
        Path agentQmp = dir.resolve(name + ".agent.qmp");
        Files.deleteIfExists(qmp);
        Files.deleteIfExists(agentQmp);
        String accel = System.getenv().getOrDefault("FERRY_QEMU_ACCEL", "tcg");
        List<String> cmd = new ArrayList<>();
        if (nic.netns() != null) cmd.addAll(List.of("ip", "netns", "exec", nic.netns()));
        cmd.addAll(List.of("qemu-system-x86_64", "-name", name,
                "-machine", "q35,accel=" + accel + (nic.sharedMemory() ? ",memory-backend=mem0" : ""),
                "-cpu", accel.equals("kvm") ? "host" : "max", "-m", MEMORY_MIB + "",
                "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
                "-kernel", image.kernel().toString(), "-initrd", image.initramfs().toString(),
                "-append", "console=ttyS0 quiet panic=-1 ferry.ip=" + ip,
                "-netdev", nic.netdev(),
                "-device", "virtio-net-pci,netdev=n0,romfile=,mac=" + Ethernet.format(nic.mac()) + nic.deviceOptions(),
                "-qmp", "unix:" + qmp + ",server=on,wait=off",
                "-qmp", "unix:" + agentQmp + ",server=on,wait=off"));
        cmd.addAll(nic.args());
        // Preallocated: a destination that faulted its shared pages in while loading the last of them
        // would add about 100 ms to the VM's downtime (measured here under TCG: 127-241 ms against 5-13 ms).
        if (nic.sharedMemory()) cmd.addAll(List.of("-object", "memory-backend-memfd,id=mem0,size=" + MEMORY_MIB + "M,share=on,prealloc=on"));
        if (incomingPort > 0) cmd.addAll(List.of("-incoming", "tcp:127.0.0.1:" + incomingPort));
        if (incomingPort > 0 && held) cmd.add("-S");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        QemuVm vm = new QemuVm(name, p, qmp, agentQmp);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!(Files.exists(qmp) && Files.exists(agentQmp))) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                vm.close();
                throw new IOException("QEMU " + name + " did not start: " + vm.transcript());
            }
            sleep(20);
        }
        return vm;
    }

    public String name() {
        return name;
    }

    public long pid() {
        return process.pid();
    }

    public Path agentQmpSocket() {
        return agentQmpSocket;
    }

    /** The lab's QMP session, opened on first use; events go to {@code events}. */
    public synchronized QmpClient qmp(Consumer<QmpClient.Event> events) throws IOException {
        if (qmp == null) {
            try {
                qmp = QmpClient.connect(qmpSocket, events);
            } catch (IOException e) {
                throw new IOException(name + ": no QMP at " + qmpSocket + " (" + e.getMessage() + "); " + state(), e);
            }
        }
        return qmp;
    }

    /** Whether QEMU still runs, how it ended if not, and the last of what it printed: for a lab that lost one. */
    public String state() {
        String how = process.isAlive() ? "QEMU still runs" : "QEMU exited with status " + process.exitValue();
        return how + "; its last output:\n  " + String.join("\n  ", console.lastWords(15, 80));
    }

    /**
     * Waits until QEMU answers on the lab's QMP socket and returns its run state ("running",
     * "inmigrate", ...). QEMU serves QMP only once its start-up is done, so a destination copy then
     * listens for its migration. The session is closed again: the lab's {@link #qmp} is separate.
     */
    public String awaitQmp() throws IOException {
        try (QmpClient probe = QmpClient.connect(qmpSocket, e -> {})) {
            return probe.execute("query-status").path("status").asText();
        }
    }

    /** Waits for a console line matching {@code pattern}; returns its match. */
    public Matcher await(Pattern pattern, long timeoutMillis) throws IOException, InterruptedException {
        return console.await(pattern, timeoutMillis);
    }

    /** The next console line nobody took yet, or null. */
    public String poll() {
        return console.poll();
    }

    /** Types a line into the VM's shell. */
    public void type(String line) throws IOException {
        console.type(line);
    }

    /** Everything the console printed so far. */
    public String transcript() {
        return console.transcript();
    }

    public SerialConsole console() {
        return console;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    @Override
    public void close() {
        if (qmp != null) qmp.close();
        process.destroy();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(qmpSocket);
            Files.deleteIfExists(agentQmpSocket);
        } catch (IOException ignored) {
            // a socket QEMU already removed
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return name + " (QEMU pid " + process.pid() + ")";
    }
}
