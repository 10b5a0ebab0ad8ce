package dev.ferry.lab.qemu;

import dev.ferry.board.InMemoryStore;
import dev.ferry.lab.ScratchDir;
import dev.ferry.service.AgentService;
import dev.ferry.service.AgentSettings;
import dev.ferry.service.BoardService;
import dev.ferry.service.PortSpec;
import dev.ferry.wire.Ethernet;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Ferry on loopback: a board and three agents in this process, every VM copy on a vhost-user port
 * (or a QEMU socket port) naming the copy's QMP socket, so the agents follow each migration through
 * their QMP detectors.
 */
final class FerryNetwork implements LabNetwork {
    static final int VNI = 100;

    /** The kind of port the VMs' copies are on. */
    enum PortType { VHOST_USER, QEMU_SOCKET }

    private final BoardService board;
    private final List<AgentService> agents = new ArrayList<>();
    private final PortType portType;
    /** Where the vhost-user sockets of QEMU are. */
    private final Path sockets;
    private int copies;
    /** VMs plugged with port security switched off (a lab that shows what it stops). */
    private final java.util.Set<String> unsecured = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Ports offer the VMs checksum and segmentation offloads (the ports' default); off for a comparison. */
    private boolean offload = true;

    FerryNetwork(String mode) throws IOException {
        this(mode, PortType.VHOST_USER);
    }

    FerryNetwork(String mode, PortType portType) throws IOException {
        this.portType = portType;
        this.sockets = Files.createTempDirectory("ferry-vhost");
        // Everything on, as on a real cluster: a throwaway CA for this run, mutual TLS to the board, the underlay sealed.
        Path pki = sockets.resolve("pki");
        dev.ferry.security.ClusterCa ca = dev.ferry.security.ClusterCa.init(pki, "lab", java.time.Duration.ofDays(1));
        ca.issue(new dev.ferry.security.Identity.Board(), "board", List.of("127.0.0.1"), java.time.Duration.ofDays(1)).write(pki, "board");
        this.board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, new InMemoryStore(), dev.ferry.rpc.Tls.inDir(pki, "board"));
        for (int id = 1; id <= 3; id++) {
            ca.issue(new dev.ferry.security.Identity.Host(id), "agent-" + id, List.of(), java.time.Duration.ofDays(1)).write(pki, "agent-" + id);
            agents.add(AgentService.start(AgentSettings.empty().override(id, "127.0.0.1:0", null, "127.0.0.1:" + board.port(),
                    sockets.resolve("agent-" + id + ".sock").toString(), List.of(VNI), mode, List.of()).validate()
                    .withTls(dev.ferry.rpc.Tls.inDir(pki, "agent-" + id))));
        }
    }

    @Override
    public QemuVm.Nic nic(String name, int host, long mac) throws IOException {
        return switch (portType) {
            case VHOST_USER -> new QemuVm.VhostUser(mac, sockets.resolve(name + "-" + ++copies + ".sock"));
            case QEMU_SOCKET -> {
                int[] ports = LoopbackPorts.udpPair();
                yield new QemuVm.Dgram(mac, new InetSocketAddress("127.0.0.1", ports[0]), new InetSocketAddress("127.0.0.1", ports[1]));
            }
        };
    }

    /** Plugs every copy from now on with offloads on or off. */
    void offload(boolean on) {
        offload = on;
    }

    /** Plugs {@code name}'s copies from now on without port security. */
    void withoutPortSecurity(String name) {
        unsecured.add(name);
    }

    @Override
    public void plug(String name, int host, String ip, QemuVm.Nic nic, QemuVm vm) throws Exception {
        Boolean security = unsecured.contains(name) ? Boolean.FALSE : null;
        AgentService agent = agents.get(host - 1);
        String mac = Ethernet.format(nic.mac());
        String qmp = vm.agentQmpSocket().toString();
        PortSpec spec = switch (nic) {
            case QemuVm.VhostUser v -> new PortSpec(name, "vhost-user", VNI, mac, List.of(ip), null, null, null, null, null, qmp,
                    v.socket().toString(), null, security, offload ? null : Boolean.FALSE, null);
            case QemuVm.Dgram d -> new PortSpec(name, "qemu-socket", VNI, mac, List.of(ip), "127.0.0.1:" + d.agentSide().getPort(),
                    "127.0.0.1:" + d.qemuSide().getPort(), null, null, null, qmp, null, null, security, null, null);
            default -> throw new IllegalArgumentException("Ferry has no port for " + nic);
        };
        agent.addPort(spec.validate(name));
        // Plugged once the detector has heard from QEMU whether this copy runs or waits for a migration.
        long deadline = System.currentTimeMillis() + 30_000;
        while (agent.status().ports().stream().noneMatch(p -> p.id().equals(name))) {
            if (System.currentTimeMillis() > deadline) throw new IOException("agent " + host + " never plugged " + name + " (no QMP answer)");
            Thread.sleep(20);
        }
    }

    @Override
    public java.util.function.LongSupplier framesTo(String name) {
        return () -> {
            long n = 0;
            for (AgentService a : agents) n += a.framesOut(name);
            return n;
        };
    }

    @Override
    public dev.ferry.agent.MigrationTimeline.Past history(int host, long mac, long since) {
        dev.ferry.agent.MigrationTimeline.Past newest = null;
        for (var p : agents.get(host - 1).migrationHistory()) {
            if (p.key().mac() == mac && p.begunNanos() >= since) newest = p;
        }
        return newest;
    }

    @Override
    public Long cacheTurned(int host, long mac, int to, long since) {
        for (var c : agents.get(host - 1).locationChanges()) {
            if (c.mac() == mac && c.host() == to && c.atNanos() >= since) return c.atNanos();
        }
        return null;
    }

    BoardService board() {
        return board;
    }

    AgentService agent(int host) {
        return agents.get(host - 1);
    }

    /** TCP super-frames the agents' ports took from the VMs and gave them, over all agents: {in, out}. */
    long[] superFrames() {
        long in = 0, out = 0;
        for (AgentService a : agents) {
            for (var p : a.status().ports()) {
                in += p.superFramesIn();
                out += p.superFramesOut();
            }
        }
        return new long[] {in, out};
    }

    @Override
    public List<String> report() {
        return agents.stream().map(a -> AgentCounters.summary(a.status())).toList();
    }

    @Override
    public dev.ferry.lab.LossAccount account(long lost, long inVm) {
        java.util.Map<String, Long> drops = new java.util.TreeMap<>();
        long kernel = 0;
        for (AgentService a : agents) {
            var status = a.status();
            status.counters().forEach((name, value) -> {
                if (value != 0 && name.startsWith("drop_")) drops.merge(name, value, Long::sum);
            });
            kernel += status.underlay().get("kernel_drops");
        }
        return new dev.ferry.lab.LossAccount(lost, drops, kernel, 0, 0, inVm);
    }

    @Override
    public String toString() {
        return "a board and agents 1-3 (" + (portType == PortType.VHOST_USER ? "vhost-user" : "QEMU socket") + " ports)";
    }

    @Override
    public void close() {
        for (AgentService a : agents) a.close();
        board.close();
        ScratchDir.remove(sockets);
    }
}
