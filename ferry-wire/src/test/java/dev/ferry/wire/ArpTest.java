package dev.ferry.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ArpTest {
    private static final long MAC = 0x52_54_00_12_34_56L;
    private static final int IP = Arp.parseIp("198.18.0.5");

    @Test
    void anArpRequestRoundTrips() {
        byte[] b = new byte[64];
        int n = Arp.write(b, 0, Ethernet.TYPE_ARP, Arp.OP_REQUEST, Ethernet.BROADCAST, MAC, IP, 0, Arp.parseIp("198.18.0.6"));
        assertThat(n).isEqualTo(42);
        int at = Ethernet.HEADER_LENGTH;
        assertThat(Arp.isValid(b, at, n - at)).isTrue();
        assertThat(Arp.op(b, at)).isEqualTo(Arp.OP_REQUEST);
        assertThat(Arp.senderMac(b, at)).isEqualTo(MAC);
        assertThat(Arp.senderIp(b, at)).isEqualTo(IP);
        assertThat(Arp.targetIp(b, at)).isEqualTo(Arp.parseIp("198.18.0.6"));
        assertThat(Arp.isAnnouncement(b, 0, n)).isFalse();
    }

    @Test
    void aRarpRequestIsAnAnnouncement() {
        // What QEMU's announce-self sends after a migration.
        byte[] b = new byte[64];
        int n = Arp.write(b, 0, Ethernet.TYPE_RARP, Arp.OP_RARP_REQUEST, Ethernet.BROADCAST, MAC, 0, MAC, 0);
        assertThat(Arp.isAnnouncement(b, 0, n)).isTrue();
    }

    @Test
    void aGratuitousArpIsAnAnnouncement() {
        byte[] b = new byte[64];
        int n = Arp.write(b, 0, Ethernet.TYPE_ARP, Arp.OP_REQUEST, Ethernet.BROADCAST, MAC, IP, 0, IP);
        assertThat(Arp.isAnnouncement(b, 0, n)).isTrue();
    }

    @Test
    void aTruncatedArpIsNotValid() {
        byte[] b = new byte[64];
        int n = Arp.write(b, 0, Ethernet.TYPE_ARP, Arp.OP_REQUEST, Ethernet.BROADCAST, MAC, IP, 0, IP);
        assertThat(Arp.isAnnouncement(b, 0, n - 1)).isFalse();
    }

    @Test
    void macAndIpTextRoundTrip() {
        assertThat(Ethernet.format(MAC)).isEqualTo("52:54:00:12:34:56");
        assertThat(Ethernet.parse("52:54:00:12:34:56")).isEqualTo(MAC);
        assertThat(Arp.formatIp(IP)).isEqualTo("198.18.0.5");
        assertThat(Ethernet.isGroup(Ethernet.BROADCAST)).isTrue();
        assertThat(Ethernet.isGroup(MAC)).isFalse();
    }

    @Test
    void badTextIsRefusedWithTheText() {
        assertThatThrownBy(() -> Ethernet.parse("52:54:00:zz:34:56")).hasMessageContaining("52:54:00:zz:34:56");
        assertThatThrownBy(() -> Arp.parseIp("198.18.0.256")).hasMessageContaining("198.18.0.256");
    }
}
