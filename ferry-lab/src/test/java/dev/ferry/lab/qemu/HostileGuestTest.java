package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.service.AgentStatus;
import dev.ferry.wire.Ethernet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A hostile guest next to an honest one, real QEMU VMs on Ferry's vhost-user ports: while "tx" on
 * host 1 streams sequenced UDP to "rx" on host 2, "evil", on the same agent as tx, sends frames
 * longer than any MTU, frames from tx's MAC, packets from tx's IP, gratuitous ARP claiming rx's
 * address and a flood to random MACs. Malformed descriptor chains are the virtqueue's tests' and
 * fuzz targets' (a guest kernel does not write them).
 */
class HostileGuestTest {
    private static final long MAC_TX = 0x52_54_00_00_0A_01L, MAC_RX = 0x52_54_00_00_0A_02L, MAC_EVIL = 0x52_54_00_00_0A_03L;
    private static final String IP_TX = "198.18.0.1", IP_RX = "198.18.0.2", IP_EVIL = "198.18.0.3";
    private static final int PORT = 5555, RATE = 1_000, FRAMES = 20_000;
    private static final Pattern SUMMARY = Pattern.compile(
            "recv received=(\\d+) lost=(-?\\d+) dup=(\\d+) reordered=(\\d+) max_gap_ms=([0-9.]+) last=(-?\\d+)");
    private static final Pattern SENT = Pattern.compile("hostile (\\S+) sent (\\d+) errors=(\\d+)");

    private FerryVms vms;
    private FerryNetwork network;

    @AfterEach
    void close() {
        if (vms != null) vms.close();
    }

    @Test
    void aHostileGuestCannotHurtAnotherVmsStreamThroughTheSameAgentAndEveryBadFrameIsCounted() throws Exception {
        Run run = attack(true, "big 2000", "spoof-mac 20000", "spoof-ip 20000", "arp-poison 20000", "flood 20000");

        assertThat(run.received).as("received of %d; evil sent %s", FRAMES, run.sent).isEqualTo(FRAMES);
        assertThat(run.lost).isZero();
        assertThat(run.duplicated).isZero();
        assertThat(run.reordered).isZero();
        AgentStatus host1 = network.agent(1).status();
        Map<String, Long> c = host1.counters();
        System.err.printf("  evil sent %s; tx->rx received %d of %d; agent 1: %s%n", run.sent, run.received, FRAMES,
                c.entrySet().stream().filter(e -> e.getKey().startsWith("drop_") && e.getValue() != 0).toList());
        assertThat(c.get("drop_frame_too_long")).as("16,000-byte frames").isEqualTo(run.sent.get("big"));
        assertThat(c.get("drop_spoofed_mac")).as("frames from tx's MAC").isEqualTo(run.sent.get("spoof-mac"));
        assertThat(c.get("drop_spoofed_ip")).as("packets from tx's IP").isEqualTo(run.sent.get("spoof-ip"));
        assertThat(c.get("drop_spoofed_arp")).as("ARP claiming rx's IP").isEqualTo(run.sent.get("arp-poison"));
        assertThat(c.get("drop_lookup_wait_full") + c.get("drop_unknown_destination")).as("the flood to random MACs")
                .isEqualTo(run.sent.get("flood"));
        AgentStatus.PortStatus evil = host1.ports().stream().filter(p -> p.id().equals("evil")).findFirst().orElseThrow();
        assertThat(evil.spoofed()).as("counted on the hostile VM's port")
                .containsEntry("mac", c.get("drop_spoofed_mac")).containsEntry("ip", c.get("drop_spoofed_ip"))
                .containsEntry("arp", c.get("drop_spoofed_arp"));
        AgentStatus.PortStatus tx = host1.ports().stream().filter(p -> p.id().equals("tx")).findFirst().orElseThrow();
        assertThat(tx.spoofed().values()).as("nothing of tx's refused").allMatch(n -> n == 0);
        assertThat(host1.underlay().get("loop_errors")).as("the agent's loop never failed").isZero();
        assertThat(host1.underlay().get("ports_faulted")).isZero();
    }

    /** Proof that the test can fail: without port security, the same ARP poisoning takes rx's frames away. */
    @Test
    void withoutPortSecurityTheSameArpPoisoningStealsTheStream() throws Exception {
        Run run = attack(false, "arp-poison 200000");

        System.err.printf("  without port security: evil sent %s; tx->rx received %d of %d%n", run.sent, run.received, FRAMES);
        assertThat(run.lost).as("frames tx sent to the poisoner instead of rx; evil sent %s", run.sent).isGreaterThan(0);
    }

    private record Run(long received, long lost, long duplicated, long reordered, Map<String, Long> sent) {}

    /** Boots the three VMs, streams tx to rx, has evil send each of {@code attacks} in turn, and reads rx's summary. */
    private Run attack(boolean portSecurity, String... attacks) throws Exception {
        vms = new FerryVms();
        network = vms.network;
        if (!portSecurity) network.withoutPortSecurity("evil");
        QemuVm tx = vms.start("tx", 1, MAC_TX, IP_TX);
        QemuVm evil = vms.start("evil", 1, MAC_EVIL, IP_EVIL);
        QemuVm rx = vms.start("rx", 2, MAC_RX, IP_RX);
        vms.awaitReady();

        rx.type("ferry-traffic recv " + PORT + " 5000 180 &");
        rx.await(Pattern.compile("recv listening"), 10_000);
        tx.type("ferry-traffic send " + IP_RX + " " + PORT + " " + RATE + " " + FRAMES);
        Thread.sleep(2_000);
        evil.type("ip link set eth0 mtu 16000");
        Map<String, Long> sent = new LinkedHashMap<>();
        for (String attack : attacks) {
            evil.type("ferry-traffic hostile " + attack + " " + IP_RX + " " + Ethernet.format(MAC_TX));
            Matcher m = evil.await(SENT, 120_000);
            sent.put(m.group(1), Long.parseLong(m.group(2)));
        }
        if (!portSecurity) {
            // Poisoning that is not stopped works only while it lasts: go on until tx is done.
            evil.type("ferry-traffic hostile arp-poison 400000 " + IP_RX + " " + Ethernet.format(MAC_TX));
        }
        Matcher summary = rx.await(SUMMARY, 180_000);
        long received = Long.parseLong(summary.group(1));
        return new Run(received, FRAMES - received, Long.parseLong(summary.group(3)), Long.parseLong(summary.group(4)), sent);
    }
}
