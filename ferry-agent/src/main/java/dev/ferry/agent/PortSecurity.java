package dev.ferry.agent;

import dev.ferry.wire.Arp;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.Ethernet;

/**
 * Port security, as OVN's {@code port_security} does it (design §6.9): a VM sends only from its own
 * MAC and, when its port has IPs, only from those; its ARP and RARP claim only its own MAC and IPs, its
 * IPv6 neighbour discovery only its own MAC. Without this a guest can poison every ARP cache of its
 * VNI, or take another VM's frames by sending from its MAC. Reads the frame in place, allocates
 * nothing. Agent's thread only.
 */
final class PortSecurity {
    private PortSecurity() {}

    /** Why a frame was refused; each has its per-port count and its {@code drop_spoofed_*} counter. */
    enum Violation {
        /** Sent from a MAC other than the port's. */
        MAC(Counter.DROP_SPOOFED_MAC),
        /** An IP packet from an address the port does not have, or a frame whose addresses cannot be read (VLAN tag, truncated header). */
        IP(Counter.DROP_SPOOFED_IP),
        /** ARP or RARP claiming another MAC or IP, or malformed. */
        ARP(Counter.DROP_SPOOFED_ARP),
        /** IPv6 neighbour discovery carrying another MAC, or malformed. */
        ND(Counter.DROP_SPOOFED_ND);

        final Counter counter;

        Violation(Counter counter) {
            this.counter = counter;
        }
    }

    private static final int TYPE_VLAN = 0x8100;
    private static final int TYPE_QINQ = 0x88A8;
    private static final int IPV4_HEADER = 20;
    private static final int IPV6_HEADER = 40;
    private static final int ICMPV6 = 58;
    private static final int ND_NEIGHBOR_SOLICIT = 135;
    private static final int ND_NEIGHBOR_ADVERT = 136;
    /** Type, code, checksum, reserved or flags, and the target address: where the options start. */
    private static final int ND_FIXED = 24;
    private static final int ND_OPT_SOURCE_LL = 1;
    private static final int ND_OPT_TARGET_LL = 2;

    /** Null when the frame may leave the port; what is wrong with it otherwise. The frame is at least an Ethernet header long. */
    static Violation check(LocalPort port, byte[] b, int off, int len) {
        if (Ethernet.src(b, off) != port.mac) return Violation.MAC;
        boolean checksIps = port.ips.length > 0;
        int type = Ethernet.etherType(b, off);
        int at = off + Ethernet.HEADER_LENGTH;
        int rest = len - Ethernet.HEADER_LENGTH;
        return switch (type) {
            case Ethernet.TYPE_IPV4 -> checksIps ? ipv4(port, b, at, rest) : null;
            case Ethernet.TYPE_ARP -> arp(port, b, at, rest, checksIps);
            case Ethernet.TYPE_RARP -> Arp.isValid(b, at, rest) && Arp.senderMac(b, at) == port.mac ? null : Violation.ARP;
            case Ethernet.TYPE_IPV6 -> ipv6(port, b, at, rest, checksIps);
            // A tag hides the addresses behind it; VNIs carry untagged frames.
            case TYPE_VLAN, TYPE_QINQ -> checksIps ? Violation.IP : null;
            default -> null;
        };
    }

    private static Violation ipv4(LocalPort port, byte[] b, int at, int rest) {
        if (rest < IPV4_HEADER || (b[at] & 0xF0) != 0x40) return Violation.IP;
        int src = Bytes.i32(b, at + 12);
        if (port.hasIp(src)) return null;
        // DHCP: a VM asks for its address from 0.0.0.0 to the broadcast address (RFC 2131).
        return src == 0 && Bytes.i32(b, at + 16) == -1 ? null : Violation.IP;
    }

    private static Violation arp(LocalPort port, byte[] b, int at, int rest, boolean checksIps) {
        if (!Arp.isValid(b, at, rest) || Arp.senderMac(b, at) != port.mac) return Violation.ARP;
        int sender = Arp.senderIp(b, at);
        // An ARP probe (RFC 5227) comes from 0.0.0.0 before the VM claims its address.
        return !checksIps || sender == 0 || port.hasIp(sender) ? null : Violation.ARP;
    }

    private static Violation ipv6(LocalPort port, byte[] b, int at, int rest, boolean checksIps) {
        if (rest < IPV6_HEADER || (b[at] & 0xF0) != 0x60) return checksIps ? Violation.IP : null;
        // Ports have IPv4 addresses only: IPv6 may come from the link-local or unspecified address.
        if (checksIps && !linkLocalOrUnspecified(b, at + 8)) return Violation.IP;
        if ((b[at + 6] & 0xFF) != ICMPV6 || rest < IPV6_HEADER + ND_FIXED) return null;
        int icmp = at + IPV6_HEADER;
        int kind = b[icmp] & 0xFF;
        if (kind != ND_NEIGHBOR_SOLICIT && kind != ND_NEIGHBOR_ADVERT) return null;
        int end = at + Math.min(rest, IPV6_HEADER + (Bytes.u16(b, at + 4)));
        for (int o = icmp + ND_FIXED; o < end; ) {
            if (end - o < 2) return Violation.ND;
            int units = b[o + 1] & 0xFF;
            // A zero length would loop for ever (RFC 4861 §4.6: such a packet is discarded).
            if (units == 0 || o + units * 8 > end) return Violation.ND;
            int option = b[o] & 0xFF;
            if ((option == ND_OPT_SOURCE_LL || option == ND_OPT_TARGET_LL) && (units != 1 || Bytes.u48(b, o + 2) != port.mac)) {
                return Violation.ND;
            }
            o += units * 8;
        }
        return null;
    }

    private static boolean linkLocalOrUnspecified(byte[] b, int address) {
        if ((b[address] & 0xFF) == 0xFE && (b[address + 1] & 0xC0) == 0x80) return true;
        for (int i = 0; i < 16; i++) if (b[address + i] != 0) return false;
        return true;
    }
}
