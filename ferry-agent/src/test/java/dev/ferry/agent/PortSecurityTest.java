package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.wire.Arp;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.Ethernet;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Port security (design §6.9): a VM sends only from its own MAC and IPs, and claims only its own
 * addresses in ARP, RARP and neighbour discovery; what it sends otherwise goes nowhere and is counted
 * on its port. Ports of the harness have MAC 52:54:00:00:00:xx and IP 198.18.0.xx.
 */
class PortSecurityTest {
    static final long A = 0x52_54_00_00_00_0AL, B = 0x52_54_00_00_00_0BL, R = 0x52_54_00_00_00_0CL;
    static final int IP_A = 0xC612000A, IP_B = 0xC612000B, IP_R = 0xC612000C;

    final AgentHarness h = new AgentHarness(Mode.FERRY);

    @Test
    void aFrameFromAnotherVmsMacIsDroppedAndCountedOnThePort() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        byte[] spoofed = new byte[40];
        writeTraffic(spoofed, 0, R, B, 1);
        h.sendFrame(a, spoofed);

        assertThat(h.sent).isEmpty();
        assertThat(h.count(Counter.DROP_SPOOFED_MAC)).isEqualTo(1);
        assertThat(h.agent.localPort(a.key).spoofedMac()).isEqualTo(1);
    }

    @Test
    void anIpPacketFromTheVmsOwnAddressGoesAndFromAnyOtherIsDropped() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        h.sendFrame(a, ipv4(R, A, IP_A, IP_R));
        h.sendFrame(a, ipv4(R, A, IP_B, IP_R));

        assertThat(h.sent).hasSize(1);
        assertThat(h.count(Counter.DROP_SPOOFED_IP)).isEqualTo(1);
        assertThat(h.agent.localPort(a.key).spoofedIp()).isEqualTo(1);
    }

    @Test
    void aDhcpRequestFromNoAddressToTheBroadcastAddressGoes() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        h.sendFrame(a, ipv4(Ethernet.BROADCAST, A, 0, -1));

        assertThat(h.sent).hasSize(1);
        assertThat(h.count(Counter.DROP_SPOOFED_IP)).isZero();
    }

    @Test
    void aGratuitousArpClaimingAnotherVmsAddressReachesNoOne() {
        TestPort a = h.localVm(A);
        TestPort b = h.localVm(B);
        h.remoteVm(R, 2);
        h.sendFrame(a, arp(Ethernet.TYPE_ARP, Arp.OP_REQUEST, A, IP_R, IP_R));

        assertThat(h.sent).as("not flooded to the VNI's hosts").isEmpty();
        assertThat(b.delivered).as("not flooded to the VNI's local VMs").isEmpty();
        assertThat(h.count(Counter.DROP_SPOOFED_ARP)).isEqualTo(1);
        assertThat(h.agent.localPort(a.key).spoofedArp()).isEqualTo(1);
    }

    @Test
    void anArpReplyWithAnotherSenderMacThanTheFramesIsDropped() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        byte[] f = new byte[Ethernet.HEADER_LENGTH + Arp.LENGTH];
        Arp.write(f, 0, Ethernet.TYPE_ARP, Arp.OP_REPLY, R, A, IP_A, R, IP_R);
        Bytes.put48(f, Ethernet.HEADER_LENGTH + 8, B);
        h.sendFrame(a, f);

        assertThat(h.sent).isEmpty();
        assertThat(h.count(Counter.DROP_SPOOFED_ARP)).isEqualTo(1);
    }

    @Test
    void theVmsOwnAnnouncementsAndAnArpProbeFromNoAddressGo() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        h.sendFrame(a, arp(Ethernet.TYPE_ARP, Arp.OP_REQUEST, A, IP_A, IP_A));
        h.sendFrame(a, arp(Ethernet.TYPE_ARP, Arp.OP_REQUEST, A, 0, IP_A));
        h.sendFrame(a, arp(Ethernet.TYPE_RARP, Arp.OP_RARP_REQUEST, A, 0, 0));

        assertThat(h.sent.size() + h.count(Counter.ARP_ANSWERED)).as("flooded, or the probe answered from the board's table").isEqualTo(3);
        assertThat(h.count(Counter.DROP_SPOOFED_ARP)).isZero();
    }

    @Test
    void aRarpAnnouncingAnotherMacIsDropped() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        byte[] f = arp(Ethernet.TYPE_RARP, Arp.OP_RARP_REQUEST, A, 0, 0);
        Bytes.put48(f, Ethernet.HEADER_LENGTH + 8, R);
        h.sendFrame(a, f);

        assertThat(h.sent).isEmpty();
        assertThat(h.count(Counter.DROP_SPOOFED_ARP)).isEqualTo(1);
    }

    @Test
    void aNeighbourAdvertisementCarryingAnotherMacIsDroppedAndOneCarryingItsOwnGoes() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        h.sendFrame(a, neighbourAdvertisement(A, R, 1));
        h.sendFrame(a, neighbourAdvertisement(A, A, 1));

        assertThat(h.sent).hasSize(1);
        assertThat(h.count(Counter.DROP_SPOOFED_ND)).isEqualTo(1);
        assertThat(h.agent.localPort(a.key).spoofedNd()).isEqualTo(1);
    }

    @Test
    void aNeighbourDiscoveryOptionOfLengthZeroIsDroppedNotLoopedOn() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        h.sendFrame(a, neighbourAdvertisement(A, A, 0));

        assertThat(h.count(Counter.DROP_SPOOFED_ND)).isEqualTo(1);
    }

    @Test
    void ipv6FromAGlobalAddressIsDroppedWhenThePortHasIpv4AddressesOnly() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        byte[] f = neighbourAdvertisement(A, A, 1);
        f[Ethernet.HEADER_LENGTH + 8] = 0x20;
        f[Ethernet.HEADER_LENGTH + 9] = 0x01;
        h.sendFrame(a, f);

        assertThat(h.sent).isEmpty();
        assertThat(h.count(Counter.DROP_SPOOFED_IP)).isEqualTo(1);
    }

    @Test
    void aVlanTaggedFrameFromASecuredPortIsDropped() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        byte[] f = ipv4(R, A, IP_A, IP_R);
        Bytes.put16(f, 12, 0x8100);
        h.sendFrame(a, f);

        assertThat(h.sent).isEmpty();
        assertThat(h.count(Counter.DROP_SPOOFED_IP)).isEqualTo(1);
    }

    @Test
    void withPortSecurityOffAVmMaySendFromAnyAddress() {
        TestPort open = new TestPort(A) {
            @Override public PortPolicy policy() { return new PortPolicy(Port.MAX_MTU, false); }
        };
        h.agent.addPort(open, h.now);
        h.remoteVm(R, 2);
        h.sendFrame(open, ipv4(R, B, IP_B, IP_R));
        h.sendFrame(open, arp(Ethernet.TYPE_ARP, Arp.OP_REQUEST, A, IP_R, IP_R));

        assertThat(h.sent).hasSize(2);
        assertThat(h.count(Counter.DROP_SPOOFED_MAC) + h.count(Counter.DROP_SPOOFED_ARP)).isZero();
    }

    @Test
    void aPortWithoutIpsHasPortSecurityOffByDefaultAndWhenSwitchedOnChecksItsMacOnly() {
        assertThat(PortPolicy.defaultsFor(List.of()).portSecurity()).isFalse();
        assertThat(PortPolicy.defaultsFor(List.of(IP_A)).portSecurity()).isTrue();
        TestPort macOnly = new TestPort(A) {
            @Override public List<Integer> ips() { return List.of(); }
            @Override public PortPolicy policy() { return new PortPolicy(Port.MAX_MTU, true); }
        };
        h.agent.addPort(macOnly, h.now);
        h.remoteVm(R, 2);
        h.sendFrame(macOnly, ipv4(R, A, IP_B, IP_R));
        h.sendFrame(macOnly, ipv4(R, B, IP_B, IP_R));

        assertThat(h.sent).hasSize(1);
        assertThat(h.count(Counter.DROP_SPOOFED_MAC)).isEqualTo(1);
    }

    @Test
    void oneVmsSpoofingIsCountedOnItsPortAloneAndTheOtherVmsTrafficFlows() {
        TestPort a = h.localVm(A);
        TestPort b = h.localVm(B);
        h.remoteVm(R, 2);
        for (int i = 0; i < 100; i++) h.sendFrame(a, arp(Ethernet.TYPE_ARP, Arp.OP_REPLY, A, IP_B, IP_R));
        h.send(b, R, 7);

        assertThat(h.sentData(2)).extracting(AgentHarness.Sent::seq).containsExactly(7L);
        assertThat(h.agent.localPort(a.key).spoofedArp()).isEqualTo(100);
        assertThat(h.agent.localPort(b.key).spoofedArp()).isZero();
    }

    // ------------------------------------------------------------------ frames a guest could write

    static byte[] ipv4(long dstMac, long srcMac, int srcIp, int dstIp) {
        byte[] f = new byte[Ethernet.HEADER_LENGTH + 28];
        int at = Ethernet.writeHeader(f, 0, dstMac, srcMac, Ethernet.TYPE_IPV4);
        f[at] = 0x45;
        Bytes.put16(f, at + 2, 28);
        f[at + 8] = 64;
        f[at + 9] = 17;
        Bytes.put32(f, at + 12, srcIp);
        Bytes.put32(f, at + 16, dstIp);
        return f;
    }

    static byte[] arp(int etherType, int op, long senderMac, int senderIp, int targetIp) {
        byte[] f = new byte[Ethernet.HEADER_LENGTH + Arp.LENGTH];
        Arp.write(f, 0, etherType, op, Ethernet.BROADCAST, senderMac, senderIp, etherType == Ethernet.TYPE_RARP ? senderMac : 0,
                targetIp);
        return f;
    }

    /** An unsolicited neighbour advertisement from fe80::1 with a target link-layer option of {@code optionUnits} × 8 bytes. */
    static byte[] neighbourAdvertisement(long srcMac, long optionMac, int optionUnits) {
        int icmp = 24 + 8;
        byte[] f = new byte[Ethernet.HEADER_LENGTH + 40 + icmp];
        int at = Ethernet.writeHeader(f, 0, 0x33_33_00_00_00_01L, srcMac, 0x86DD);
        f[at] = 0x60;
        Bytes.put16(f, at + 4, icmp);
        f[at + 6] = 58;
        f[at + 7] = (byte) 255;
        f[at + 8] = (byte) 0xFE;
        f[at + 9] = (byte) 0x80;
        f[at + 23] = 1;
        f[at + 24] = (byte) 0xFF;
        f[at + 25] = 0x02;
        f[at + 39] = 1;
        int o = at + 40;
        f[o] = (byte) 136;
        f[o + 24] = 2;
        f[o + 25] = (byte) optionUnits;
        Bytes.put48(f, o + 26, optionMac);
        return f;
    }
}
