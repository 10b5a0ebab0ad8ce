package dev.ferry.wire;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * TCP offload between a VM and the overlay: a super-frame the VM's kernel hands over is cut into
 * the segments Linux would send, each a valid packet; segments joined again make the super-frame a
 * VM's kernel takes in one write; a virtio-net header that lies is refused, not believed.
 */
class TcpOffloadTest {
    private static final int MSS = 1448;
    private final Random random = new Random(7);

    // ------------------------------------------------------------ frames

    private static byte[] superFrame(boolean v6, byte[] payload, int flags, int seq, int gsoSize) {
        return TcpFrames.superFrame(v6, payload, flags, seq, gsoSize);
    }

    private byte[] payload(int n) {
        byte[] p = new byte[n];
        random.nextBytes(p);
        return p;
    }

    private static List<byte[]> segments(byte[] superFrame) {
        return TcpFrames.segments(superFrame);
    }

    private static OffloadRefusal refusal(byte[] superFrame) {
        return new TcpSegmenter(9_018).segment(superFrame, 0, VirtioNetHeader.LENGTH, superFrame.length - VirtioNetHeader.LENGTH,
                (b, off, len) -> {});
    }

    // ------------------------------------------------------------ cutting

    @Test
    void anIpv4SuperFrameIsCutIntoValidSegmentsThatCarryItsPayloadInOrder() {
        byte[] payload = payload(10 * MSS + 100);
        List<byte[]> segments = segments(superFrame(false, payload, TcpHeaders.ACK | TcpHeaders.PSH, 1_000, MSS));

        assertThat(segments).hasSize(11);
        ByteArrayOutputStream carried = new ByteArrayOutputStream();
        TcpHeaders tcp = new TcpHeaders();
        for (int i = 0; i < segments.size(); i++) {
            byte[] s = segments.get(i);
            assertThat(tcp.wrap(s, 0, s.length)).isTrue();
            assertThat(tcp.payloadLength()).isEqualTo(i < 10 ? MSS : 100);
            assertThat(InternetChecksum.fold(InternetChecksum.add(0, s, tcp.l3(), tcp.ipLength()))).as("IPv4 checksum").isEqualTo(0xFFFF);
            assertThat(TcpHeaders.tcpChecksumValid(s, tcp.l3(), false, tcp.l4(), tcp.end() - tcp.l4())).as("TCP checksum of %d", i).isTrue();
            assertThat(Bytes.i32(s, tcp.l4() + 4)).isEqualTo(1_000 + i * MSS);
            assertThat(Bytes.u16(s, tcp.l3() + 4)).as("IP identification").isEqualTo(0x1234 + i);
            assertThat(s[tcp.l4() + 13] & TcpHeaders.PSH).as("PSH only on the last").isEqualTo(i == 10 ? TcpHeaders.PSH : 0);
            carried.write(s, tcp.payload(), tcp.payloadLength());
        }
        assertThat(carried.toByteArray()).isEqualTo(payload);
    }

    @Test
    void anIpv6SuperFrameIsCutWithPayloadLengthsAndChecksumsOfItsOwn() {
        List<byte[]> segments = segments(superFrame(true, payload(3 * MSS), TcpHeaders.ACK, 5, MSS));

        assertThat(segments).hasSize(3);
        TcpHeaders tcp = new TcpHeaders();
        for (byte[] s : segments) {
            assertThat(tcp.wrap(s, 0, s.length)).isTrue();
            assertThat(tcp.v6()).isTrue();
            assertThat(Bytes.u16(s, tcp.l3() + 4)).isEqualTo(32 + MSS);
            assertThat(TcpHeaders.tcpChecksumValid(s, tcp.l3(), true, tcp.l4(), tcp.end() - tcp.l4())).isTrue();
        }
    }

    @Test
    void finAndCwrAreWhereLinuxPutsThemFinOnTheLastCwrOnTheFirst() {
        List<byte[]> segments = segments(superFrame(false, payload(3 * MSS), TcpHeaders.ACK | TcpHeaders.FIN | TcpHeaders.CWR, 0, MSS));

        int flags = Ethernet.HEADER_LENGTH + 20 + 13;
        assertThat(segments.stream().map(s -> s[flags] & (TcpHeaders.FIN | TcpHeaders.CWR)).toList())
                .containsExactly(TcpHeaders.CWR, 0, TcpHeaders.FIN);
    }

    @Test
    void aFrameLeftForTheDeviceToChecksumLeavesWithItsChecksumComputed() {
        byte[] frame = superFrame(false, payload(333), TcpHeaders.ACK, 9, 0);
        List<byte[]> out = segments(frame);

        assertThat(out).hasSize(1);
        TcpHeaders tcp = new TcpHeaders();
        byte[] s = out.getFirst();
        assertThat(tcp.wrap(s, 0, s.length)).isTrue();
        assertThat(TcpHeaders.tcpChecksumValid(s, tcp.l3(), false, tcp.l4(), tcp.end() - tcp.l4())).isTrue();
    }

    // ------------------------------------------------------------ a header that lies

    @Test
    void aSegmentSizeOfZeroIsRefused() {
        byte[] f = superFrame(false, payload(4000), TcpHeaders.ACK, 0, MSS);
        f[4] = 0;
        f[5] = 0;
        assertThat(refusal(f)).isEqualTo(OffloadRefusal.BAD_GSO_SIZE);
    }

    @Test
    void segmentsThatWouldNotFitAFrameAreRefused() {
        byte[] f = superFrame(false, payload(20_000), TcpHeaders.ACK, 0, 9_500);
        assertThat(refusal(f)).isEqualTo(OffloadRefusal.BAD_GSO_SIZE);
    }

    @Test
    void anIpLengthPastTheFramesEndIsNotBelieved() {
        byte[] f = superFrame(false, payload(4000), TcpHeaders.ACK, 0, MSS);
        Bytes.put16(f, VirtioNetHeader.LENGTH + Ethernet.HEADER_LENGTH + 2, 60_000);
        assertThat(refusal(f)).isEqualTo(OffloadRefusal.NOT_TCP);
    }

    @Test
    void udpFragmentationOffloadWasNeverOfferedAndIsRefused() {
        byte[] f = superFrame(false, payload(4000), TcpHeaders.ACK, 0, MSS);
        f[1] = VirtioNetHeader.GSO_UDP;
        assertThat(refusal(f)).isEqualTo(OffloadRefusal.UNSUPPORTED_GSO);
    }

    @Test
    void aTcpv6RequestOnAnIpv4PacketIsRefused() {
        byte[] f = superFrame(false, payload(4000), TcpHeaders.ACK, 0, MSS);
        f[1] = VirtioNetHeader.GSO_TCPV6;
        assertThat(refusal(f)).isEqualTo(OffloadRefusal.NOT_TCP);
    }

    @Test
    void aChecksumFieldOutsideTheFrameIsRefused() {
        byte[] f = superFrame(false, payload(100), TcpHeaders.ACK, 0, 0);
        f[6] = (byte) 0xF0;
        f[7] = 0x7F;
        assertThat(refusal(f)).isEqualTo(OffloadRefusal.BAD_CHECKSUM_OFFSET);
    }

    // ------------------------------------------------------------ joining

    @Test
    void segmentsCutFromASuperFrameJoinIntoOneTheVmsKernelTakes() {
        byte[] payload = payload(30 * MSS + 7);
        List<byte[]> segments = segments(superFrame(false, payload, TcpHeaders.ACK | TcpHeaders.PSH, 42, MSS));
        TcpCoalescer joiner = new TcpCoalescer();
        for (byte[] s : segments) assertThat(joiner.offer(s, 0, s.length)).isTrue();

        assertThat(joiner.segments()).isEqualTo(31);
        int n = joiner.finish();
        byte[] b = joiner.buffer();
        assertThat(VirtioNetHeader.gsoType(b, 0)).isEqualTo(VirtioNetHeader.GSO_TCPV4);
        assertThat(VirtioNetHeader.gsoSize(b, 0)).isEqualTo(MSS);
        assertThat(VirtioNetHeader.flags(b, 0)).isEqualTo(VirtioNetHeader.FLAG_NEEDS_CSUM);
        TcpHeaders tcp = new TcpHeaders();
        assertThat(tcp.wrap(b, VirtioNetHeader.LENGTH, n - VirtioNetHeader.LENGTH)).isTrue();
        assertThat(java.util.Arrays.copyOfRange(b, tcp.payload(), tcp.end())).isEqualTo(payload);
        assertThat(Bytes.i32(b, tcp.l4() + 4)).isEqualTo(42);
        assertThat(b[tcp.l4() + 13] & TcpHeaders.PSH).isEqualTo(TcpHeaders.PSH);
        assertThat(VirtioNetHeader.headerLength(b, 0)).isEqualTo(tcp.payload() - VirtioNetHeader.LENGTH);
        // Cut again, the joined frame gives back the very segments it was made of.
        List<byte[]> again = segments(java.util.Arrays.copyOf(b, n));
        assertThat(again).hasSize(segments.size());
        for (int i = 0; i < again.size(); i++) assertThat(again.get(i)).isEqualTo(segments.get(i));
    }

    @Test
    void aLoneSegmentIsWrittenAsItCameWithAPlainHeader() {
        byte[] s = segments(superFrame(false, payload(200), TcpHeaders.ACK, 1, MSS)).getFirst();
        TcpCoalescer joiner = new TcpCoalescer();
        assertThat(joiner.offer(s, 0, s.length)).isTrue();

        int n = joiner.finish();
        assertThat(java.util.Arrays.copyOfRange(joiner.buffer(), 0, VirtioNetHeader.LENGTH)).containsOnly(0);
        assertThat(java.util.Arrays.copyOfRange(joiner.buffer(), VirtioNetHeader.LENGTH, n)).isEqualTo(s);
    }

    @Test
    void aSegmentOutOfSequenceDoesNotJoin() {
        List<byte[]> segments = segments(superFrame(false, payload(3 * MSS), TcpHeaders.ACK, 0, MSS));
        TcpCoalescer joiner = new TcpCoalescer();
        assertThat(joiner.offer(segments.get(0), 0, segments.get(0).length)).isTrue();
        assertThat(joiner.offer(segments.get(2), 0, segments.get(2).length)).isFalse();
        assertThat(joiner.segments()).isEqualTo(1);
    }

    @Test
    void anotherStreamDoesNotJoin() {
        byte[] a = segments(superFrame(false, payload(MSS), TcpHeaders.ACK, 0, MSS)).getFirst();
        byte[] other = superFrame(false, payload(MSS), TcpHeaders.ACK, MSS, MSS);
        Bytes.put16(other, VirtioNetHeader.LENGTH + Ethernet.HEADER_LENGTH + 20, 40_001); // another source port
        byte[] b = segments(other).getFirst();
        TcpCoalescer joiner = new TcpCoalescer();
        assertThat(joiner.offer(a, 0, a.length)).isTrue();
        assertThat(joiner.offer(b, 0, b.length)).isFalse();
    }

    @Test
    void aSegmentWithAWrongChecksumIsNotJoinedButHandedOnForTheVmToDrop() {
        List<byte[]> segments = segments(superFrame(false, payload(2 * MSS), TcpHeaders.ACK, 0, MSS));
        segments.get(1)[200] ^= 1;
        TcpCoalescer joiner = new TcpCoalescer();
        assertThat(joiner.offer(segments.get(0), 0, segments.get(0).length)).isTrue();
        assertThat(joiner.offer(segments.get(1), 0, segments.get(1).length)).isFalse();
    }

    @Test
    void nothingJoinsAfterAShorterSegment() {
        List<byte[]> first = segments(superFrame(false, payload(MSS + 10), TcpHeaders.ACK, 0, MSS));
        List<byte[]> next = segments(superFrame(false, payload(MSS), TcpHeaders.ACK, MSS + 10, MSS));
        TcpCoalescer joiner = new TcpCoalescer();
        for (byte[] s : first) assertThat(joiner.offer(s, 0, s.length)).isTrue();
        assertThat(joiner.offer(next.getFirst(), 0, next.getFirst().length)).isFalse();
    }

    @Test
    void aSynDoesNotJoinNorStartASuperFrame() {
        byte[] syn = segments(superFrame(false, payload(10), TcpHeaders.SYN, 0, MSS)).getFirst();
        assertThat(new TcpCoalescer().offer(syn, 0, syn.length)).isFalse();
    }
}
