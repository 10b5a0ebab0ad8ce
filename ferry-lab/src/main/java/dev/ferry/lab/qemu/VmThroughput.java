package dev.ferry.lab.qemu;

import dev.ferry.lab.ScratchDir;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * TCP between two real QEMU VMs, measured by iperf3 inside them (Debian's, in the test image): the
 * client VM on host 1, the server VM on host 2, on Ferry's vhost-user ports (offloads on or off) or
 * on a Linux bridge. What {@code ferry bench vm} runs once per network, the same VMs each time.
 */
public final class VmThroughput implements AutoCloseable {
    private static final Pattern SENDER = Pattern.compile("bits/sec\\s+(\\d+)\\s+sender|^iperf3: error.*|^iperf3-failed");
    private static final Pattern RECEIVER = Pattern.compile("([0-9.]+) ([KMG])bits/sec.*receiver");
    /** The test image's ping (BusyBox) ends with "round-trip min/avg/max = ..."; iputils' with "rtt min/avg/max/mdev". */
    private static final Pattern RTT = Pattern.compile("(?:rtt|round-trip) min/avg/max(?:/mdev)? = ([0-9.]+)/([0-9.]+)/([0-9.]+)");
    /** The agents' loops in this process ({@code AgentLoop}'s thread names). */
    private static final Pattern AGENT_LOOP = Pattern.compile("agent-\\d+");
    private static final long MAC_CLIENT = 0x525400000011L, MAC_SERVER = 0x525400000012L;

    /** The networks compared: the bridge (with the VMs' RAM shared, as vhost-user needs it) and Ferry with and without offloads. */
    public enum Network {
        BRIDGE("bridge", "Linux bridge (TAP, QEMU's virtio-net)"),
        FERRY_OFFLOAD("ferry", "Ferry vhost-user, offloads on"),
        FERRY_NO_OFFLOAD("ferry-no-offload", "Ferry vhost-user, offloads off");

        /** What {@code ferry bench vm --networks} calls it. */
        public final String option;
        public final String label;

        Network(String option, String label) {
            this.option = option;
            this.label = label;
        }

        /** The network {@code option} stands for, or null. */
        public static Network named(String option) {
            for (Network n : values()) {
                if (n.option.equals(option)) return n;
            }
            return null;
        }
    }

    private final LabNetwork network;
    private final Path dir;
    private final List<QemuVm> vms = new ArrayList<>();
    private QemuVm client, server;
    private long retransmits = -1;

    /** Starts {@code which}: a board and agents, or the bridge's namespace. */
    public VmThroughput(Network which) throws IOException {
        this.dir = Files.createTempDirectory("ferry-vm-throughput");
        this.network = switch (which) {
            case BRIDGE -> new BridgeNetwork(true);
            case FERRY_OFFLOAD, FERRY_NO_OFFLOAD -> {
                FerryNetwork f = new FerryNetwork("ferry", FerryNetwork.PortType.VHOST_USER);
                f.offload(which == Network.FERRY_OFFLOAD);
                yield f;
            }
        };
    }

    /** Boots the two VMs and starts iperf3's server in one; returns once both are ready. */
    public void boot() throws Exception {
        VmImage image = VmImage.ensure();
        client = start(image, "c", 1, MAC_CLIENT, "198.18.0.11");
        server = start(image, "s", 2, MAC_SERVER, "198.18.0.12");
        client.await(Pattern.compile("ferry-vm: ready"), 60_000);
        server.await(Pattern.compile("ferry-vm: ready"), 60_000);
        server.type("iperf3 -s -D");
        // The path is up when a ping answers (ARP through the network, both ways).
        client.type("ping -c 3 -W 2 198.18.0.12 >/dev/null && echo path\"\"-up || echo path\"\"-down");
        Matcher up = client.await(Pattern.compile("^path-(up|down)"), 20_000);
        if (!up.group(1).equals("up")) throw new IOException("the two VMs cannot reach each other on " + network);
    }

    /** One iperf3 run of {@code seconds} from client to server; its receiver's Gbit/s. */
    public double run(int seconds) throws Exception {
        // The console echoes what is typed: the failure word is split so that only its output matches.
        client.type("iperf3 -c 198.18.0.12 -t " + seconds + " -f m 2>&1 | grep -E 'sender|receiver|error' || echo iperf3\"\"-failed");
        Matcher m;
        try {
            Matcher sender = client.await(SENDER, 30_000L + seconds * 3_000L);
            if (sender.group(1) == null) {
                String console = client.transcript();
                throw new IOException("iperf3 between the VMs failed on " + network + ": " + sender.group() + "; the client's console ends: "
                        + console.substring(Math.max(0, console.length() - 600)));
            }
            retransmits = Long.parseLong(sender.group(1));
            m = client.await(RECEIVER, 10_000L);
        } catch (IOException e) {
            throw new IOException("iperf3 between the VMs gave no result on " + network + ": " + e.getMessage(), e);
        }
        double value = Double.parseDouble(m.group(1));
        return switch (m.group(2)) {
            case "K" -> value / 1e6;
            case "M" -> value / 1e3;
            default -> value;
        };
    }

    /** {@code count} pings at rest (0.2 s apart) from the client VM to the server VM: min, avg and max in ms. */
    public double[] ping(int count) throws Exception {
        client.type("ping -c " + count + " -i 0.2 -q 198.18.0.12");
        Matcher m = client.await(RTT, 10_000L + count * 400L);
        return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3))};
    }

    /**
     * CPU the agents' loops took over {@code millis} while nothing crossed them, in % of one core, all
     * agents together; NaN on the bridge, which has no agent.
     */
    public double agentsIdleCpu(long millis) throws InterruptedException {
        if (!(network instanceof FerryNetwork)) return Double.NaN;
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        List<Thread> loops = Thread.getAllStackTraces().keySet().stream().filter(t -> AGENT_LOOP.matcher(t.getName()).matches()).toList();
        long before = 0, after = 0;
        for (Thread t : loops) before += threads.getThreadCpuTime(t.threadId());
        long t0 = System.nanoTime();
        Thread.sleep(millis);
        for (Thread t : loops) after += threads.getThreadCpuTime(t.threadId());
        return 100.0 * (after - before) / (System.nanoTime() - t0);
    }

    /** The segments the client's TCP sent again in the last run (iperf3's Retr), -1 unknown. */
    public long retransmits() {
        return retransmits;
    }

    /** TCP super-frames Ferry's ports took from the VMs and gave them so far ({in, out}); null on the bridge. */
    public long[] superFrames() {
        return network instanceof FerryNetwork f ? f.superFrames() : null;
    }

    /** What the network says it did (per agent: frames, super-frames), for the report. */
    public List<String> report() {
        return network.report();
    }

    private QemuVm start(VmImage image, String name, int host, long mac, String ip) throws Exception {
        QemuVm.Nic nic = network.nic(name, host, mac);
        QemuVm vm = QemuVm.start(image, name + "-on-" + host, ip + "/24", nic, dir, 0);
        vms.add(vm);
        network.plug(name, host, ip, nic, vm);
        return vm;
    }

    /** Ends the VMs (by their process ids), then the network. */
    @Override
    public void close() {
        for (QemuVm vm : vms) vm.close();
        network.close();
        ScratchDir.remove(dir);
    }
}
