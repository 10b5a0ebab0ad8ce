package dev.ferry.wire;

/**
 * Turns a frame read with a {@link VirtioNetHeader} into the plain frames the overlay carries: a
 * TCP super-frame (TSO, {@code GSO_TCPV4}/{@code GSO_TCPV6}) is cut into segments of
 * {@code gso_size} payload bytes, each with its own IP length, IPv4 identification and checksum,
 * TCP sequence number and checksum, FIN and PSH on the last only and CWR on the first only, as
 * Linux's own segmentation does; a frame whose transport checksum was left to the device
 * ({@code NEEDS_CSUM}) gets it computed. So every frame on the wire is one a VM without offloads
 * could have sent, and the agent's rules (port security, migration order) see each segment.
 *
 * <p>The header is hostile input: the packet's own headers decide the lengths, never the header's
 * {@code hdr_len}. One instance per reading thread; its segment buffer is reused, nothing is
 * allocated per frame.
 */
public final class TcpSegmenter {
    /** Receives each segment, in order; must not keep {@code b}. */
    @FunctionalInterface
    public interface Sink {
        void accept(byte[] b, int off, int len);
    }

    private final int maxFrame;
    private final byte[] segment;
    private final TcpHeaders tcp = new TcpHeaders();

    /** Segments of at most {@code maxFrame} bytes (Ethernet header included). */
    public TcpSegmenter(int maxFrame) {
        this.maxFrame = maxFrame;
        this.segment = new byte[maxFrame];
    }

    /**
     * The frame {@code b[frame, frame+len)}, its header at {@code b[header, header+LENGTH)}, handed to
     * {@code sink} as plain frames (the frame itself when there is nothing to cut; completing its
     * checksum writes into {@code b}). Returns null, or why nothing was handed on.
     */
    public OffloadRefusal segment(byte[] b, int header, int frame, int len, Sink sink) {
        int type = VirtioNetHeader.gsoType(b, header);
        int flags = VirtioNetHeader.flags(b, header);
        if (type == VirtioNetHeader.GSO_NONE) {
            if ((flags & VirtioNetHeader.FLAG_NEEDS_CSUM) != 0) {
                int start = VirtioNetHeader.csumStart(b, header);
                int field = start + VirtioNetHeader.csumOffset(b, header);
                if (start >= len || field + 2 > len) return OffloadRefusal.BAD_CHECKSUM_OFFSET;
                // The field holds the pseudo-header's sum: summing over it completes the checksum.
                Bytes.put16(b, frame + field, InternetChecksum.checksum(InternetChecksum.add(0, b, frame + start, len - start)));
            }
            sink.accept(b, frame, len);
            return null;
        }
        // The ECN bit qualifies a TCP type; alone, or with another, it is no request Linux would make.
        int gso = type & ~VirtioNetHeader.GSO_ECN;
        if (gso != VirtioNetHeader.GSO_TCPV4 && gso != VirtioNetHeader.GSO_TCPV6) return OffloadRefusal.UNSUPPORTED_GSO;
        if (!tcp.wrap(b, frame, len)) return len < Ethernet.HEADER_LENGTH + 40 ? OffloadRefusal.TRUNCATED : OffloadRefusal.NOT_TCP;
        if (tcp.v6() != (gso == VirtioNetHeader.GSO_TCPV6)) return OffloadRefusal.NOT_TCP;
        int mss = VirtioNetHeader.gsoSize(b, header);
        int headers = tcp.payload() - frame;
        if (mss == 0 || headers + mss > maxFrame) return OffloadRefusal.BAD_GSO_SIZE;
        cut(b, frame, headers, mss, sink);
        return null;
    }

    private void cut(byte[] b, int frame, int headers, int mss, TcpSegmenter.Sink sink) {
        boolean v6 = tcp.v6();
        int l3 = tcp.l3() - frame, l4 = tcp.l4() - frame, ipLength = tcp.ipLength();
        int payload = tcp.payload(), remaining = tcp.payloadLength();
        int seq = Bytes.i32(b, tcp.l4() + 4);
        int id = v6 ? 0 : Bytes.u16(b, tcp.l3() + 4);
        int lastFlags = b[tcp.l4() + 13] & 0xFF;
        System.arraycopy(b, frame, segment, 0, headers);
        for (int n = 0; ; n++) {
            int chunk = Math.min(mss, remaining);
            System.arraycopy(b, payload, segment, headers, chunk);
            payload += chunk;
            remaining -= chunk;
            boolean last = remaining == 0;
            int tcpFlags = lastFlags;
            if (!last) tcpFlags &= ~(TcpHeaders.FIN | TcpHeaders.PSH);
            if (n > 0) tcpFlags &= ~TcpHeaders.CWR;
            segment[l4 + 13] = (byte) tcpFlags;
            Bytes.put32(segment, l4 + 4, seq);
            if (!v6) Bytes.put16(segment, l3 + 4, id + n);
            int l4Bytes = headers - l4 + chunk;
            TcpHeaders.setIpLength(segment, l3, v6, ipLength, l4Bytes);
            TcpHeaders.setTcpChecksum(segment, l3, v6, l4, l4Bytes);
            sink.accept(segment, 0, headers + chunk);
            seq += chunk;
            if (last) return;
        }
    }
}
