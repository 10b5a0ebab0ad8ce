package dev.ferry.wire;

/**
 * The receiving half of TCP offload: consecutive in-order segments of one TCP stream, handed to a
 * VM one after another, are joined into one super-frame with a {@link VirtioNetHeader} asking for
 * segmentation ({@code GSO_TCPV4}/{@code GSO_TCPV6}, {@code gso_size} the first segment's payload),
 * so the VM's kernel takes tens of segments in one write and one pass through its stack, as Linux's
 * GRO joins what a NIC receives. Only what GRO would join is joined: same addresses, ports, ACK,
 * window and TCP options, each segment's sequence number following the last, no SYN, RST, URG or
 * FIN, and every segment but the last of the stream's {@code gso_size}; a PSH, or a shorter segment,
 * ends a super-frame. Each segment's checksum is verified before it is joined: a wrong one is handed
 * on alone, for the VM to drop as it would.
 *
 * <p>Order is kept by construction: a frame that cannot join is refused ({@link #offer} false), and
 * the caller writes what is pending ({@link #finish}) before it. Reused; nothing is allocated per frame.
 */
public final class TcpCoalescer {
    private static final int MAX_IP_PACKET = 65_535;
    private static final int STOPPING_FLAGS = TcpHeaders.SYN | TcpHeaders.RST | TcpHeaders.URG | TcpHeaders.FIN | TcpHeaders.CWR;

    private final TcpHeaders tcp = new TcpHeaders();
    /** The pending super-frame, its virtio-net header first. */
    private final byte[] buf = new byte[VirtioNetHeader.LENGTH + Ethernet.HEADER_LENGTH + MAX_IP_PACKET];
    private int length;
    private int segments, mss, l3, l4, headers, ipLength;
    private boolean v6, closed;
    private int nextSeq;

    /** Segments joined in the pending super-frame; 0 when none is pending. */
    public int segments() { return segments; }

    /**
     * Takes the frame {@code b[off, off+len)} into the pending super-frame (starting one when none is
     * pending); false when it cannot join it, and then nothing changed.
     */
    public boolean offer(byte[] b, int off, int len) {
        if (!tcp.wrap(b, off, len)) return false;
        int flags = b[tcp.l4() + 13] & 0xFF;
        int payload = tcp.payloadLength();
        if (payload == 0 || (flags & STOPPING_FLAGS) != 0 || (flags & TcpHeaders.ACK) == 0) return false;
        int l4Bytes = tcp.end() - tcp.l4();
        if (segments == 0) {
            if (!TcpHeaders.tcpChecksumValid(b, tcp.l3(), tcp.v6(), tcp.l4(), l4Bytes)) return false;
            start(b, off, flags, payload);
            return true;
        }
        if (closed || !joins(b, off) || payload > mss || length + payload - VirtioNetHeader.LENGTH - Ethernet.HEADER_LENGTH > MAX_IP_PACKET
                || Bytes.i32(b, tcp.l4() + 4) != nextSeq
                || !TcpHeaders.tcpChecksumValid(b, tcp.l3(), tcp.v6(), tcp.l4(), l4Bytes)) {
            return false;
        }
        System.arraycopy(b, tcp.payload(), buf, length, payload);
        length += payload;
        segments++;
        nextSeq += payload;
        if ((flags & TcpHeaders.PSH) != 0) buf[VirtioNetHeader.LENGTH + l4 + 13] |= (byte) TcpHeaders.PSH;
        closed = payload < mss || (flags & TcpHeaders.PSH) != 0;
        return true;
    }

    private void start(byte[] b, int off, int flags, int payload) {
        int frameLength = tcp.end() - off;
        System.arraycopy(b, off, buf, VirtioNetHeader.LENGTH, frameLength);
        length = VirtioNetHeader.LENGTH + frameLength;
        segments = 1;
        mss = payload;
        v6 = tcp.v6();
        l3 = tcp.l3() - off;
        l4 = tcp.l4() - off;
        headers = tcp.payload() - off;
        ipLength = tcp.ipLength();
        nextSeq = Bytes.i32(b, tcp.l4() + 4) + payload;
        closed = (flags & TcpHeaders.PSH) != 0;
    }

    /** Same Ethernet header, IP header but its length, ID and checksum, and TCP header but sequence, PSH and checksum. */
    private boolean joins(byte[] b, int off) {
        if (tcp.v6() != v6 || tcp.l4() - off != l4 || tcp.payload() - off != headers) return false;
        int p = VirtioNetHeader.LENGTH;
        if (!same(b, off, p, Ethernet.HEADER_LENGTH)) return false;
        int ip = tcp.l3(), mine = p + l3;
        if (v6) {
            if (!same(b, ip, mine, 4) || !same(b, ip + 6, mine + 6, 34)) return false;
        } else {
            if (!same(b, ip, mine, 2) || !same(b, ip + 6, mine + 6, 4) || !same(b, ip + 12, mine + 12, ipLength - 12)) return false;
        }
        int t = tcp.l4(), their = p + l4;
        return same(b, t, their, 4) && same(b, t + 8, their + 8, 4) && b[t + 12] == buf[their + 12]
                && ((b[t + 13] ^ buf[their + 13]) & ~TcpHeaders.PSH) == 0 && same(b, t + 14, their + 14, 2)
                && same(b, t + 20, their + 20, headers - l4 - 20);
    }

    private boolean same(byte[] b, int at, int mine, int n) {
        return java.util.Arrays.equals(b, at, at + n, buf, mine, mine + n);
    }

    /**
     * Ends the pending super-frame and returns its length, virtio-net header included, in
     * {@link #buffer()}: a lone segment as it came with a plain header, several joined with their
     * IP length and checksum rewritten and the TCP checksum left to the VM's kernel as a device's
     * would ({@code NEEDS_CSUM} over the pseudo-header). 0 when nothing was pending.
     */
    public int finish() {
        if (segments == 0) return 0;
        int n = length;
        if (segments == 1) {
            VirtioNetHeader.writePlain(buf, 0);
        } else {
            int p = VirtioNetHeader.LENGTH;
            int l4Bytes = n - p - l4;
            TcpHeaders.setIpLength(buf, p + l3, v6, ipLength, l4Bytes);
            long pseudo = InternetChecksum.pseudoHeader(buf, p + l3, v6, TcpHeaders.PROTOCOL_TCP, l4Bytes);
            Bytes.put16(buf, p + l4 + 16, InternetChecksum.fold(pseudo));
            VirtioNetHeader.write(buf, 0, VirtioNetHeader.FLAG_NEEDS_CSUM, v6 ? VirtioNetHeader.GSO_TCPV6 : VirtioNetHeader.GSO_TCPV4,
                    headers, mss, l4, 16);
        }
        segments = 0;
        length = 0;
        return n;
    }

    /** The buffer {@link #finish} leaves its super-frame in, from index 0. */
    public byte[] buffer() {
        return buf;
    }
}
