package dev.ferry.wire;

/**
 * ARP and RARP over Ethernet for IPv4 (RFC 826, RFC 903), read and written in place. IPv4 addresses
 * are ints in network order. A resumed QEMU VM announces itself with RARP (QEMU's announce-self) or
 * gratuitous ARP; {@link #isAnnouncement} recognises both.
 */
public final class Arp {
    private Arp() {}

    public static final int LENGTH = 28;
    public static final int OP_REQUEST = 1;
    public static final int OP_REPLY = 2;
    public static final int OP_RARP_REQUEST = 3;

    /** True if the payload at {@code at} is an Ethernet/IPv4 ARP packet of full length. */
    public static boolean isValid(byte[] b, int at, int available) {
        return available >= LENGTH && Bytes.u16(b, at) == 1 && Bytes.u16(b, at + 2) == Ethernet.TYPE_IPV4
                && (b[at + 4] & 0xFF) == 6 && (b[at + 5] & 0xFF) == 4;
    }

    public static int op(byte[] b, int at) { return Bytes.u16(b, at + 6); }
    public static long senderMac(byte[] b, int at) { return Bytes.u48(b, at + 8); }
    public static int senderIp(byte[] b, int at) { return Bytes.i32(b, at + 14); }
    public static long targetMac(byte[] b, int at) { return Bytes.u48(b, at + 18); }
    public static int targetIp(byte[] b, int at) { return Bytes.i32(b, at + 24); }

    /**
     * A frame with which a VM says "I am here": a RARP request (what QEMU's announce-self sends), or a
     * gratuitous ARP (sender IP equal to target IP).
     */
    public static boolean isAnnouncement(byte[] b, int frame, int length) {
        int type = Ethernet.etherType(b, frame);
        int at = frame + Ethernet.HEADER_LENGTH;
        if (!isValid(b, at, length - Ethernet.HEADER_LENGTH)) {
            return false;
        }
        if (type == Ethernet.TYPE_RARP) {
            return op(b, at) == OP_RARP_REQUEST;
        }
        return type == Ethernet.TYPE_ARP && senderIp(b, at) == targetIp(b, at);
    }

    /** Writes a whole Ethernet+ARP frame at {@code frame}; returns its length. */
    public static int write(byte[] b, int frame, int etherType, int op, long ethDst, long senderMac, int senderIp,
                            long targetMac, int targetIp) {
        int at = Ethernet.writeHeader(b, frame, ethDst, senderMac, etherType);
        Bytes.put16(b, at, 1);
        Bytes.put16(b, at + 2, Ethernet.TYPE_IPV4);
        b[at + 4] = 6;
        b[at + 5] = 4;
        Bytes.put16(b, at + 6, op);
        Bytes.put48(b, at + 8, senderMac);
        Bytes.put32(b, at + 14, senderIp);
        Bytes.put48(b, at + 18, targetMac);
        Bytes.put32(b, at + 24, targetIp);
        return Ethernet.HEADER_LENGTH + LENGTH;
    }

    public static String formatIp(int ip) {
        return ((ip >>> 24) & 0xFF) + "." + ((ip >>> 16) & 0xFF) + "." + ((ip >>> 8) & 0xFF) + "." + (ip & 0xFF);
    }

    public static int parseIp(String text) {
        String[] p = text.split("\\.");
        if (p.length != 4) throw new IllegalArgumentException("not an IPv4 address: '" + text + "'");
        int ip = 0;
        for (String s : p) {
            int v;
            try {
                v = Integer.parseInt(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not an IPv4 address: '" + text + "'");
            }
            if (v < 0 || v > 255) throw new IllegalArgumentException("not an IPv4 address: '" + text + "'");
            ip = (ip << 8) | v;
        }
        return ip;
    }
}
