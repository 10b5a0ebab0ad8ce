package dev.ferry.wire;

/**
 * Where the headers of a TCP segment over IPv4 or IPv6 lie in an Ethernet frame, read without
 * trusting any length the frame does not prove: the IP header's lengths are checked against the
 * frame, the TCP data offset against the IP length. IPv6 extension headers and IPv4 fragments are
 * not TCP segments here. A reusable view: {@link #wrap} fills it, nothing is allocated.
 */
public final class TcpHeaders {
    public static final int PROTOCOL_TCP = 6;
    /** TCP flag bits in the byte at offset 13 of the TCP header. */
    public static final int FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10, URG = 0x20, ECE = 0x40, CWR = 0x80;

    private int l3, ipLength, l4, tcpLength, end;
    private boolean v6;

    /**
     * Reads the frame {@code b[off, off+len)}; true when it is a TCP segment over IPv4 (options
     * allowed, not a fragment) or IPv6 (no extension header) whose lengths hold together.
     */
    public boolean wrap(byte[] b, int off, int len) {
        if (len < Ethernet.HEADER_LENGTH + 20) return false;
        int type = Ethernet.etherType(b, off);
        int at = off + Ethernet.HEADER_LENGTH;
        int total;
        if (type == Ethernet.TYPE_IPV4) {
            if ((b[at] & 0xF0) != 0x40) return false;
            ipLength = (b[at] & 0x0F) * 4;
            total = Bytes.u16(b, at + 2);
            if (ipLength < 20 || b[at + 9] != PROTOCOL_TCP || (Bytes.u16(b, at + 6) & 0x3FFF) != 0) return false;
            v6 = false;
        } else if (type == Ethernet.TYPE_IPV6) {
            if (len < Ethernet.HEADER_LENGTH + 40 || (b[at] & 0xF0) != 0x60 || b[at + 6] != PROTOCOL_TCP) return false;
            ipLength = 40;
            total = 40 + Bytes.u16(b, at + 4);
            v6 = true;
        } else {
            return false;
        }
        if (total < ipLength + 20 || Ethernet.HEADER_LENGTH + total > len) return false;
        l3 = at;
        l4 = at + ipLength;
        tcpLength = ((b[l4 + 12] & 0xF0) >>> 4) * 4;
        if (tcpLength < 20 || ipLength + tcpLength > total) return false;
        end = at + total;
        return true;
    }

    /** Where the IP header starts. */
    public int l3() { return l3; }
    public boolean v6() { return v6; }
    /** Bytes of the IP header (IPv4 with its options; IPv6's fixed 40). */
    public int ipLength() { return ipLength; }
    /** Where the TCP header starts. */
    public int l4() { return l4; }
    /** Bytes of the TCP header with its options. */
    public int tcpLength() { return tcpLength; }
    /** Where the payload starts. */
    public int payload() { return l4 + tcpLength; }
    /** Where the IP packet ends (Ethernet padding after it is not part of it). */
    public int end() { return end; }
    public int payloadLength() { return end - payload(); }

    /** Writes the IP header's length field for a packet of {@code l4Bytes} after it; IPv4's checksum too. */
    public static void setIpLength(byte[] b, int l3, boolean v6, int ipLength, int l4Bytes) {
        if (v6) {
            Bytes.put16(b, l3 + 4, l4Bytes);
            return;
        }
        Bytes.put16(b, l3 + 2, ipLength + l4Bytes);
        Bytes.put16(b, l3 + 10, 0);
        Bytes.put16(b, l3 + 10, InternetChecksum.checksum(InternetChecksum.add(0, b, l3, ipLength)));
    }

    /** Computes and writes the TCP checksum of the segment whose TCP header is at {@code l4}, {@code l4Bytes} long. */
    public static void setTcpChecksum(byte[] b, int l3, boolean v6, int l4, int l4Bytes) {
        Bytes.put16(b, l4 + 16, 0);
        long sum = InternetChecksum.pseudoHeader(b, l3, v6, PROTOCOL_TCP, l4Bytes);
        Bytes.put16(b, l4 + 16, InternetChecksum.checksum(InternetChecksum.add(sum, b, l4, l4Bytes)));
    }

    /** True when the TCP segment's checksum (pseudo-header included) is right. */
    public static boolean tcpChecksumValid(byte[] b, int l3, boolean v6, int l4, int l4Bytes) {
        long sum = InternetChecksum.pseudoHeader(b, l3, v6, PROTOCOL_TCP, l4Bytes);
        return InternetChecksum.fold(InternetChecksum.add(sum, b, l4, l4Bytes)) == 0xFFFF;
    }
}
