package dev.ferry.wire;

/** TCP frames as a VM's kernel hands them to a device with offloads: for the tests of the wire and of the ports. */
public final class TcpFrames {
    private TcpFrames() {}

    /** A virtio-net header and an Ethernet/IP/TCP frame carrying {@code payload}, its TCP checksum left to the device. */
    public static byte[] superFrame(boolean v6, byte[] payload, int flags, int seq, int gsoSize) {
        int ip = v6 ? 40 : 20, tcpLength = 32; // 12 bytes of options, as timestamps make them
        int frameLength = Ethernet.HEADER_LENGTH + ip + tcpLength + payload.length;
        byte[] b = new byte[VirtioNetHeader.LENGTH + frameLength];
        int f = VirtioNetHeader.LENGTH;
        Ethernet.writeHeader(b, f, 0x02_00_00_00_00_02L, 0x02_00_00_00_00_01L, v6 ? Ethernet.TYPE_IPV6 : Ethernet.TYPE_IPV4);
        int l3 = f + Ethernet.HEADER_LENGTH;
        int l4Bytes = tcpLength + payload.length;
        if (v6) {
            b[l3] = 0x60;
            Bytes.put16(b, l3 + 4, l4Bytes);
            b[l3 + 6] = TcpHeaders.PROTOCOL_TCP;
            b[l3 + 7] = 64;
            for (int i = 0; i < 16; i++) {
                b[l3 + 8 + i] = (byte) (0x20 + i);
                b[l3 + 24 + i] = (byte) (0x40 + i);
            }
        } else {
            b[l3] = 0x45;
            Bytes.put16(b, l3 + 2, ip + l4Bytes);
            Bytes.put16(b, l3 + 4, 0x1234);
            Bytes.put16(b, l3 + 6, 0x4000); // DF
            b[l3 + 8] = 64;
            b[l3 + 9] = TcpHeaders.PROTOCOL_TCP;
            Bytes.put32(b, l3 + 12, 0xC612_0001); // 198.18.0.1
            Bytes.put32(b, l3 + 16, 0xC612_0002);
            Bytes.put16(b, l3 + 10, InternetChecksum.checksum(InternetChecksum.add(0, b, l3, 20)));
        }
        int l4 = l3 + ip;
        Bytes.put16(b, l4, 40_000);
        Bytes.put16(b, l4 + 2, 5201);
        Bytes.put32(b, l4 + 4, seq);
        Bytes.put32(b, l4 + 8, 0x0BAD_CAFE);
        b[l4 + 12] = (byte) ((tcpLength / 4) << 4);
        b[l4 + 13] = (byte) flags;
        Bytes.put16(b, l4 + 14, 501);
        b[l4 + 20] = 1; b[l4 + 21] = 1; b[l4 + 22] = 8; b[l4 + 23] = 10; // NOP NOP TS
        Bytes.put32(b, l4 + 24, 777);
        Bytes.put32(b, l4 + 28, 555);
        System.arraycopy(payload, 0, b, l4 + tcpLength, payload.length);
        // As Linux leaves it for the device: the pseudo-header's sum in the checksum field.
        Bytes.put16(b, l4 + 16, InternetChecksum.fold(InternetChecksum.pseudoHeader(b, l3, v6, TcpHeaders.PROTOCOL_TCP, l4Bytes)));
        VirtioNetHeader.write(b, 0, VirtioNetHeader.FLAG_NEEDS_CSUM,
                gsoSize == 0 ? VirtioNetHeader.GSO_NONE : v6 ? VirtioNetHeader.GSO_TCPV6 : VirtioNetHeader.GSO_TCPV4,
                Ethernet.HEADER_LENGTH + ip + tcpLength, gsoSize, Ethernet.HEADER_LENGTH + ip, 16);
        return b;
    }

    /** The plain segments {@code superFrame} is cut into, as a port hands them to the agent. */
    public static java.util.List<byte[]> segments(byte[] superFrame) {
        java.util.List<byte[]> out = new java.util.ArrayList<>();
        OffloadRefusal refused = new TcpSegmenter(9_018).segment(superFrame, 0, VirtioNetHeader.LENGTH,
                superFrame.length - VirtioNetHeader.LENGTH, (b, off, len) -> out.add(java.util.Arrays.copyOfRange(b, off, off + len)));
        if (refused != null) throw new IllegalArgumentException("not a super-frame the segmenter cuts: " + refused);
        return out;
    }
}
