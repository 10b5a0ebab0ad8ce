package dev.ferry.service;

import dev.ferry.agent.PortPolicy;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ferry.agent.port.TapPort;
import dev.ferry.board.InMemoryStore;
import dev.ferry.board.VmKey;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Network namespaces as VMs: three agents (the service {@code ferry agent} runs) on one board, each
 * with a TAP port whose device is moved into a namespace of its own with an address of
 * 198.18.0.0/15. Ping and a TCP transfer (iperf3) cross the overlay. Needs root, /dev/net/tun, ip,
 * ping and iperf3 (scripts/install-deps.sh installs them).
 */
class TapNamespaceTest {
    private static final int VNI = 4242;
    private static final String TAG = Long.toString(ProcessHandle.current().pid() % 100_000);

    private final List<AutoCloseable> started = new ArrayList<>();
    private final List<String> namespaces = new ArrayList<>();
    private BoardService board;

    private static String sh(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not end");
        }
        if (p.exitValue() != 0) throw new AssertionError(String.join(" ", cmd) + " exited " + p.exitValue() + ":\n" + out);
        return out;
    }

    private static boolean canRun() {
        return Files.exists(Path.of("/dev/net/tun")) && ProcessHandle.current().info().user().map("root"::equals).orElse(false)
                && Files.isExecutable(Path.of("/usr/sbin/ip")) || Files.isExecutable(Path.of("/sbin/ip"));
    }

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(canRun(), "needs root and /dev/net/tun");
        board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, InMemoryStore.forBoardProcess());
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : started.reversed()) c.close();
        for (String ns : namespaces) {
            new ProcessBuilder("ip", "netns", "del", ns).start().waitFor(10, TimeUnit.SECONDS);
        }
        if (board != null) board.close();
    }

    private static String mac(int i) {
        return "52:54:00:12:00:0" + i;
    }

    private static String ip(int i) {
        return "198.18.0." + i;
    }

    /** Agent {@code i} with TAP port "vm{i}", its device moved into namespace ferry{TAG}-{i} as 198.18.0.{i}/24. */
    private AgentService agentWithNamespacedVm(int i) throws Exception {
        return agentWithNamespacedVm(i, null);
    }

    private AgentService agentWithNamespacedVm(int i, Boolean offload) throws Exception {
        String device = "fy" + TAG + "t" + i;
        String ns = "ferry" + TAG + "-" + i;
        var spec = new PortSpec("vm" + i, "tap", VNI, mac(i), List.of(ip(i)), null, null, device, null, null, null, null, null, null, offload, null);
        var settings = AgentSettings.empty().override(i, "127.0.0.1:0", null, "127.0.0.1:" + board.port(), "127.0.0.1:0",
                List.of(VNI), null, List.of(spec)).validate();
        AgentService agent = AgentService.start(settings);
        started.add(agent);
        sh("ip", "netns", "add", ns);
        namespaces.add(ns);
        sh("ip", "link", "set", device, "netns", ns);
        sh("ip", "-n", ns, "link", "set", device, "address", mac(i));
        sh("ip", "-n", ns, "addr", "add", ip(i) + "/24", "dev", device);
        sh("ip", "-n", ns, "link", "set", device, "up");
        sh("ip", "-n", ns, "link", "set", "lo", "up");
        return agent;
    }

    @Test
    void namespacesBehindTapPortsOfThreeAgentsPingAndTransferOverTheOverlay() throws Exception {
        List<AgentService> agents = new ArrayList<>();
        for (int i = 1; i <= 3; i++) agents.add(agentWithNamespacedVm(i));
        String ns1 = "ferry" + TAG + "-1";

        String ping2 = sh("ip", "netns", "exec", ns1, "ping", "-c", "5", "-i", "0.2", "-W", "2", ip(2));
        assertThat(ping2).contains("5 received");
        String ping3 = sh("ip", "netns", "exec", ns1, "ping", "-c", "5", "-i", "0.2", "-W", "2", ip(3));
        assertThat(ping3).contains("5 received");

        String ns3 = "ferry" + TAG + "-3";
        Process server = new ProcessBuilder("ip", "netns", "exec", ns3, "iperf3", "-s", "-1", "-B", ip(3), "-p", "5201")
                .redirectErrorStream(true).start();
        started.add(() -> {
            server.destroy();
            server.waitFor(5, TimeUnit.SECONDS);
        });
        Thread.sleep(500);
        String transfer = sh("ip", "netns", "exec", ns1, "iperf3", "-c", ip(3), "-p", "5201", "-n", "20M", "--connect-timeout", "5000",
                "-J");
        var result = HttpEndpoint.JSON.readTree(transfer);
        assertThat(result.has("error")).as("iperf3 error: %s", result.path("error").asText()).isFalse();
        // TCP delivered all of it or iperf3 would not end; its receiver total stops at the last report interval.
        assertThat(result.path("end").path("sum_sent").path("bytes").asLong()).as("bytes sent").isGreaterThanOrEqualTo(20L << 20);
        assertThat(result.path("end").path("sum_received").path("bytes").asLong()).as("bytes received").isPositive();
        System.out.printf("iperf3 across the overlay: %.1f Mbit/s%n",
                result.path("end").path("sum_received").path("bits_per_second").asDouble() / 1e6);

        AgentStatus s1 = agents.getFirst().status();
        assertThat(s1.ports().getFirst().framesIn()).isPositive();
        assertThat(s1.ports().getFirst().framesOut()).isPositive();
        assertThat(s1.counters().get("underlay_out")).isPositive();
    }

    /** Sends 20 MB by TCP (iperf3) from VM {@code from}'s namespace to VM {@code to}'s; fails unless all of it arrived. */
    private void transfer(int from, int to) throws Exception {
        Process server = new ProcessBuilder("ip", "netns", "exec", "ferry" + TAG + "-" + to, "iperf3", "-s", "-1", "-B", ip(to), "-p", "5202")
                .redirectErrorStream(true).start();
        started.add(() -> {
            server.destroy();
            server.waitFor(5, TimeUnit.SECONDS);
        });
        Thread.sleep(500);
        String out = sh("ip", "netns", "exec", "ferry" + TAG + "-" + from, "iperf3", "-c", ip(to), "-p", "5202", "-n", "20M",
                "--connect-timeout", "5000", "-J");
        var result = HttpEndpoint.JSON.readTree(out);
        assertThat(result.has("error")).as("iperf3 error: %s", result.path("error").asText()).isFalse();
        assertThat(result.path("end").path("sum_sent").path("bytes").asLong()).isGreaterThanOrEqualTo(20L << 20);
    }

    @Test
    void tcpLeavesAVmAsSuperFramesCutByItsAgentAndReachesTheOtherJoinedAgain() throws Exception {
        AgentService sender = agentWithNamespacedVm(1);
        AgentService receiver = agentWithNamespacedVm(2);

        transfer(1, 2);

        AgentStatus.PortStatus out = sender.status().ports().getFirst();
        AgentStatus.PortStatus in = receiver.status().ports().getFirst();
        assertThat(out.where()).contains("offload");
        assertThat(out.superFramesIn()).as("super-frames read from the sending VM").isPositive();
        assertThat(out.framesIn()).as("segments cut from them, and the rest").isGreaterThan(4 * out.superFramesIn());
        assertThat(out.inDropped()).isZero();
        assertThat(in.superFramesOut()).as("writes of joined segments to the receiving VM").isPositive();
        assertThat(in.framesOut()).isGreaterThan(4 * in.superFramesOut());
        assertThat(sender.status().counters().get("drop_malformed")).isZero();
    }

    @Test
    void withOffloadOffEveryFrameCrossesOneByOne() throws Exception {
        AgentService sender = agentWithNamespacedVm(1, false);
        AgentService receiver = agentWithNamespacedVm(2, false);

        transfer(1, 2);

        assertThat(sender.status().ports().getFirst().superFramesIn()).isZero();
        assertThat(receiver.status().ports().getFirst().superFramesOut()).isZero();
        // 20 MB in frames of at most 1,500 bytes; iperf3 may end with some still in its socket's buffer.
        assertThat(sender.status().ports().getFirst().framesIn()).isGreaterThan(8_000);
    }

    @Test
    void aDeviceThatIsNotATapIsRefusedWithTheSystemsReason() {
        assertThatThrownBy(() -> new TapPort(new VmKey(VNI, 1), "vm", List.of(), PortPolicy.defaultsFor(List.of()), "lo"))
                .isInstanceOf(TapPort.TapException.class).hasMessageContaining("'lo'");
    }
}
