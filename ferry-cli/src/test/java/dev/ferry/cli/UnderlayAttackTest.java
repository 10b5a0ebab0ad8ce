package dev.ferry.cli;

import static dev.ferry.cli.ProcessTests.await;
import static dev.ferry.cli.ProcessTests.counter;
import static dev.ferry.cli.ProcessTests.freeUdpPort;
import static dev.ferry.cli.ProcessTests.sh;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ferry.board.Endpoints;
import dev.ferry.lab.DatagramSender;
import dev.ferry.lab.DgramVm;
import dev.ferry.lab.FlowStats;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An attacker on the underlay, in a network namespace of its own, against two agents (each its own
 * JVM, their underlay sealed as by default) whose VMs stream to each other: forged data frames, a
 * forged packet of every control kind and a MARKER, from its own address and lying about its source
 * (the address and port agent 1 registered), sealed-looking forgeries, and replays of agent 1's own
 * datagrams, recorded off the wire. None reaches a VM or moves a migration; each is counted by why.
 *
 * <p>Agents 1 and 2 listen on 198.18.12.1 and 198.18.13.1, the host's ends of two veth links into the
 * attacker's namespace (198.18.12.2, 198.18.13.2). To send as agent 1, the attacker holds 198.18.12.1
 * on its loopback and sends over the second link, whose host end is told to accept a source address
 * of its own (as a switch would deliver a spoofed packet).
 */
class UnderlayAttackTest {
    private static final int VNI = 100;
    private static final long MAC_A = 0x52_54_00_00_0A_01L, MAC_B = 0x52_54_00_00_0B_01L;
    private static final int TRAFFIC_ETHERTYPE = 0x88B6;
    private static final int FORGED_FRAMES = 100;

    private final List<FerryProcess> processes = new ArrayList<>();
    private final List<DgramVm> vms = new ArrayList<>();
    private final List<String[]> cleanups = new ArrayList<>();
    private final String tag = Long.toString(ProcessHandle.current().pid() % 100_000);
    private final String ns = "ferryatk" + tag;
    private String board;
    private final String[] admin = new String[3];
    @TempDir Path sockets;
    private final InetSocketAddress[] underlay = new InetSocketAddress[3];

    @BeforeEach
    void namespaces() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name"))
                && (Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip"))), "needs root and ip");
        cleanups.add(new String[] {"ip", "netns", "del", ns});
        sh("ip", "netns", "add", ns);
        sh("ip", "-n", ns, "link", "set", "lo", "up");
        for (String[] l : new String[][] {{"fka" + tag, "198.18.12"}, {"fkb" + tag, "198.18.13"}}) {
            cleanups.add(new String[] {"ip", "link", "del", l[0] + "h"});
            ProcessTests.vethInto(ns, l[0], l[1]);
        }
        sh("ip", "-n", ns, "addr", "add", "198.18.12.1/32", "dev", "lo");
        sh("sysctl", "-qw", "net.ipv4.conf.fkb" + tag + "h.accept_local=1");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (FerryProcess p : processes) p.close();
        for (String[] c : cleanups.reversed()) {
            try {
                sh(c);
            } catch (Exception | AssertionError e) {
                System.out.println("cleanup: " + e.getMessage());
            }
        }
        for (FerryProcess p : processes) System.out.println("---- output of a ferry process:\n" + p.output());
        for (DgramVm vm : vms) vm.close();
    }

    /** What an attack left: agent 2's counters before and after, and the VMs' two flows. */
    private record Aftermath(String before, String after, List<byte[]> forged, FlowStats ab, FlowStats ba) {}

    @Test
    void nothingAnAttackerOnTheUnderlaySendsReachesAVmOrMovesAMigrationAndEachIsCounted(@TempDir Path dir) throws Exception {
        Aftermath m = attack(dir, false);
        String before = m.before(), after = m.after();
        List<byte[]> forged = m.forged();
        assertThat(delta(before, after, "drop_unknown_peer")).as("from an endpoint no host registered").isEqualTo(forged.size());
        assertThat(delta(before, after, "drop_unsealed")).as("plaintext as agent 1").isEqualTo(forged.size());
        assertThat(delta(before, after, "drop_seal_forged")).as("sealed-looking forgeries as agent 1").isEqualTo(50);
        assertThat(delta(before, after, "drop_seal_replayed")).as("agent 1's own datagrams, replayed").isEqualTo(50);
        for (FlowStats f : List.of(m.ab(), m.ba())) {
            assertThat(f.sent()).as("flow %d sent", f.id).isGreaterThan(1_000);
            assertThat(f.lost()).as("flow %d lost (%s)", f.id, f.firstAnomaly()).isZero();
            assertThat(f.duplicated()).as("flow %d duplicated: a forged frame reached the VM (%s)", f.id, f.firstAnomaly()).isZero();
            assertThat(f.reordered()).as("flow %d reordered (%s)", f.id, f.firstAnomaly()).isZero();
        }
        assertThat(Ctl.ok("--agent", admin[2], "migrations")).as("no migration began").doesNotContain("vm-");
        assertThat(Ctl.ok("--board", board, "nodes").lines().filter(l -> l.contains("vm-b")).findFirst().orElseThrow())
                .as("vm-b where it was, unlocked").contains("  2  ").doesNotContain("migration ");
    }

    /** The same attack on agents run with --plaintext-underlay: what this test checks for must then show. */
    @Test
    void withAPlaintextUnderlayTheSameAttackersFramesReachTheVm(@TempDir Path dir) throws Exception {
        Aftermath m = attack(dir, true);
        assertThat(m.ab().duplicated()).as("vm-a's flow, continued by the attacker as agent 1").isPositive();
        assertThat(delta(m.before(), m.after(), "drop_unknown_peer")).as("from its own address: still refused").isEqualTo(m.forged().size());
    }

    private Aftermath attack(Path dir, boolean plaintext) throws Exception {
        FerryProcess b = new FerryProcess("board", "--listen", "127.0.0.1:0", "--in-memory");
        processes.add(b);
        board = b.awaitLine("board listening on ", 30).substring("board listening on ".length()).split(" ")[0];
        startAgent(1, "198.18.12.1:0", plaintext);
        startAgent(2, "198.18.13.1:0", plaintext);
        DgramVm a = new DgramVm("vm-a", MAC_A), vb = new DgramVm("vm-b", MAC_B);
        vms.add(a);
        vms.add(vb);
        FlowStats ab = new FlowStats(1), ba = new FlowStats(2);
        vb.expect(ab);
        a.expect(ba);
        a.resume(plug(a, 1));
        vb.resume(plug(vb, 2));
        await("both VMs on the board", 10, () -> Ctl.ok("--board", board, "nodes").contains("vm-b"));

        // What agent 1 seals to agent 2, recorded off the wire while the VMs stream.
        Path pcap = dir.resolve("agent1-to-agent2.pcap");
        Process capture = new ProcessBuilder("tshark", "-q", "-i", "lo", "-F", "pcap", "-w", pcap.toString(), "-c", "50", "-a", "duration:10",
                "-f", "udp and src host 198.18.12.1 and dst port " + underlay[2].getPort())
                .redirectErrorStream(true).redirectOutput(dir.resolve("tshark.log").toFile()).start();
        Thread.sleep(1_500); // tshark is listening
        ProcessTests.Traffic traffic = ProcessTests.startTraffic(a, vb, ab, ba);
        assertThat(capture.waitFor(15, TimeUnit.SECONDS)).as("the capture ended").isTrue();
        List<byte[]> recorded = udpPayloads(pcap);
        assertThat(recorded).as("datagrams agent 1 sent agent 2").hasSizeGreaterThanOrEqualTo(50)
                .allSatisfy(d -> assertThat((d[Geneve.BASE_HEADER_LENGTH + 2] & 0xFF) == Geneve.SEAL_OPTION_TYPE).as("sealed").isEqualTo(!plaintext));
        String before = Ctl.ok("--agent", admin[2], "stats");

        List<byte[]> forged = forgeries();
        List<String> lines = new ArrayList<>();
        String to = "198.18.13.1 " + underlay[2].getPort() + " ";
        String asAgentOne = "198.18.12.1 " + underlay[1].getPort() + " ";
        for (byte[] d : forged) lines.add("198.18.13.2 0 " + to + hex(d));                 // from its own address
        for (byte[] d : forged) lines.add(asAgentOne + to + hex(d));                       // as agent 1, in plaintext
        long counter = Bytes.i64(recorded.getLast(), Geneve.BASE_HEADER_LENGTH + 16);
        for (int i = 0; i < 50; i++) {                                                       // as agent 1, sealed-looking
            byte[] d = recorded.get(i % recorded.size()).clone();
            Bytes.put64(d, Geneve.BASE_HEADER_LENGTH + 16, counter + 1_000_000 + i);
            d[d.length - 20] ^= 0x5A;
            lines.add(asAgentOne + to + hex(d));
        }
        for (byte[] d : recorded.subList(0, 50)) lines.add(asAgentOne + to + hex(d));      // as agent 1, replayed
        Path attack = dir.resolve("attack.txt");
        Files.write(attack, lines);
        Process attacker = new ProcessBuilder("ip", "netns", "exec", ns, ProcessHandle.current().info().command().orElse("java"),
                "-cp", System.getProperty("java.class.path"), DatagramSender.class.getName(), attack.toString())
                .redirectErrorStream(true).start();
        String said = new String(attacker.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(attacker.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(said).contains("sent " + lines.size());
        Thread.sleep(1_000);
        traffic.stop().set(true);
        traffic.thread().join(10_000);
        Thread.sleep(300);
        a.poll();
        vb.poll();

        String after = Ctl.ok("--agent", admin[2], "stats");
        System.out.println("agent 2 before the attack:\n" + before + "\nafter:\n" + after);
        return new Aftermath(before, after, forged, ab, ba);
    }

    /**
     * Plaintext Geneve an attacker can write knowing what the board tells anyone: a data frame to vm-b
     * continuing vm-a's flow (a duplicate if it arrived), a MARKER, and a control packet of every kind
     * claiming to come from agent 1.
     */
    private static List<byte[]> forgeries() {
        List<byte[]> out = new ArrayList<>();
        for (int seq = 0; seq < FORGED_FRAMES; seq++) {
            byte[] d = new byte[Geneve.FERRY_HEADER_LENGTH + 64];
            int at = GeneveWriter.writeHeader(d, 0, VNI, false, Geneve.PROTOCOL_ETHERNET, 0, 1, 0, 0);
            at = Ethernet.writeHeader(d, at, MAC_B, MAC_A, TRAFFIC_ETHERTYPE);
            Bytes.put32(d, at, 1);
            Bytes.put64(d, at + 4, seq);
            out.add(d);
        }
        byte[] marker = new byte[Geneve.FERRY_HEADER_LENGTH + 22];
        int at = GeneveWriter.writeHeader(marker, 0, VNI, true, Geneve.PROTOCOL_ETHERNET, Geneve.FLAG_MARKER, 1, 42, 0);
        Ethernet.writeHeader(marker, at, MAC_B, MAC_A, 0x88B5);
        out.add(marker);
        List<ControlMessage> kinds = List.of(new ControlMessage.Prepare(0, MAC_B), new ControlMessage.PrepareAck(7, MAC_B),
                new ControlMessage.Handover(7, MAC_B), new ControlMessage.HandoverAck(7, MAC_B, List.of(), List.of()),
                new ControlMessage.MarkerAck(MAC_A, MAC_B, 42), new ControlMessage.LocationHint(MAC_B), new ControlMessage.Hello());
        for (ControlMessage m : kinds) {
            byte[] d = new byte[256];
            int p = GeneveWriter.writeHeader(d, 0, VNI, true, Geneve.PROTOCOL_FERRY_CONTROL, 0, 1, 0, 0);
            int n = ControlCodec.encode(m, d, p);
            out.add(java.util.Arrays.copyOf(d, p + n));
        }
        return out;
    }

    private void startAgent(int id, String listen, boolean plaintext) throws Exception {
        List<String> args = new ArrayList<>(List.of("agent", "--host-id", String.valueOf(id), "--listen", listen, "--board", board,
                "--admin", sockets.resolve("agent-" + id + ".sock").toString(), "--vni", String.valueOf(VNI)));
        if (plaintext) args.add("--plaintext-underlay");
        FerryProcess p = new FerryProcess(args.toArray(String[]::new));
        processes.add(p);
        String line = p.awaitLine("agent " + id + " up:", 30);
        admin[id] = line.substring(line.indexOf("admin ") + "admin ".length());
        String at = line.substring(line.indexOf("underlay ") + "underlay ".length()).split(" ")[0];
        underlay[id] = Endpoints.parse(at);
    }

    private DgramVm.Copy plug(DgramVm vm, int host) throws Exception {
        DgramVm.Copy copy = vm.newCopy(new InetSocketAddress("127.0.0.1", freeUdpPort()));
        Ctl.ok("--agent", admin[host], "port", "add", "--id", vm.id, "--type", "qemu-socket", "--vni", String.valueOf(VNI),
                "--mac", dev.ferry.service.Addresses.formatMac(vm.mac), "--local", Endpoints.format(copy.agentSide()),
                "--remote", Endpoints.format(copy.address()));
        return copy;
    }

    /** The UDP payloads of a classic pcap file of IPv4 packets captured on Linux's loopback (Ethernet framing). */
    static List<byte[]> udpPayloads(Path pcap) throws IOException {
        byte[] file = Files.readAllBytes(pcap);
        ByteBuffer b = ByteBuffer.wrap(file);
        ByteBuffer net = ByteBuffer.wrap(file); // packets themselves are in network order
        int magic = b.getInt(0);
        b.order(magic == 0xa1b2c3d4 || magic == 0xa1b23c4d ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        int linkType = b.getInt(20);
        int linkHeader = linkType == 1 ? 14 : linkType == 113 ? 16 : 0;
        List<byte[]> out = new ArrayList<>();
        for (int at = 24; at + 16 <= b.limit(); ) {
            int captured = b.getInt(at + 8);
            int ip = at + 16 + linkHeader;
            int ihl = (net.get(ip) & 0x0F) * 4;
            int udp = ip + ihl;
            int length = (net.getShort(udp + 4) & 0xFFFF) - 8;
            byte[] payload = new byte[length];
            net.get(udp + 8, payload);
            out.add(payload);
            at += 16 + captured;
        }
        return out;
    }

    private static long delta(String before, String after, String counter) {
        return counter(after, counter) - counter(before, counter);
    }

    private static String hex(byte[] d) {
        return HexFormat.of().formatHex(d);
    }

}
