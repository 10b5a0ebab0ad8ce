package dev.ferry.wire;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Coverage-guided fuzzing (Jazzer) of every decoder of the wire format a stranger reaches: under
 * {@code mvn test} the saved inputs are replayed (the regression corpus in src/test/resources), and
 * {@code scripts/fuzz.sh} fuzzes each target for as long as it is given. Properties: a decoder never
 * throws, and what it accepts round-trips.
 */
class WireFuzzTest {
    private final GeneveFrame frame = new GeneveFrame();
    private final byte[] out = new byte[65_536];
    private final TcpSegmenter segmenter = new TcpSegmenter(9_018);
    private final TcpCoalescer joiner = new TcpCoalescer();
    private final TcpHeaders tcp = new TcpHeaders();

    /** A datagram from the underlay: parsed or refused with a reason; an accepted Ferry header re-encodes to itself. */
    @FuzzTest(maxDuration = "5s")
    void geneve(byte[] datagram) {
        Malformed bad = frame.wrap(datagram, 0, datagram.length);
        if (bad != null) return;
        assertThat(frame.payloadOffset()).isBetween(Geneve.BASE_HEADER_LENGTH, datagram.length);
        assertThat(frame.payloadLength()).isNotNegative();
        if (!frame.hasFerryOption()) return;
        byte[] again = new byte[Geneve.FERRY_HEADER_LENGTH + frame.payloadLength()];
        int at = GeneveWriter.writeHeader(again, 0, frame.vni(), frame.isControl(), frame.protocol(), frame.flags(), frame.origin(),
                frame.token(), frame.await(), frame.via());
        System.arraycopy(datagram, frame.payloadOffset(), again, at, frame.payloadLength());
        GeneveFrame back = new GeneveFrame();
        assertThat(back.wrap(again, 0, again.length)).isNull();
        assertThat(new long[] {back.vni(), back.protocol(), back.flags(), back.origin(), back.token(), back.await(), back.via()})
                .containsExactly(frame.vni(), frame.protocol(), frame.flags(), frame.origin(), frame.token(), frame.await(), frame.via());
        assertThat(back.isControl()).isEqualTo(frame.isControl());
    }

    /** A control payload: decoded or refused (null); what decodes encodes to a message that decodes to itself. */
    @FuzzTest(maxDuration = "5s")
    void control(byte[] payload) {
        ControlMessage m = ControlCodec.decode(payload, 0, payload.length);
        if (m == null) return;
        int n = ControlCodec.encode(m, out, 0);
        assertThat(ControlCodec.decode(out, 0, n)).isEqualTo(m);
    }

    /** A guest's Ethernet frame read as ARP or RARP at any offset the agent might use: never out of bounds. */
    @FuzzTest(maxDuration = "5s")
    void arp(FuzzedDataProvider data) {
        int wanted = data.consumeInt(0, 64);
        byte[] b = data.consumeRemainingAsBytes();
        int at = Math.min(wanted, b.length);
        if (Arp.isValid(b, at, b.length - at)) {
            Arp.op(b, at);
            Arp.senderMac(b, at);
            Arp.targetIp(b, at);
        }
        if (b.length >= Ethernet.HEADER_LENGTH) Arp.isAnnouncement(b, 0, b.length);
    }

    /**
     * What a VM's kernel hands a TAP port with offloads: a virtio-net header and a frame, both
     * chosen by the guest. Cut or refused, never thrown; a frame with nothing to cut goes on whole
     * (the agent's own checks follow); every segment cut fits a frame, is a valid TCP segment with a
     * right checksum, and may be joined again without harm.
     */
    @FuzzTest(maxDuration = "5s")
    void offload(byte[] read) {
        if (read.length < VirtioNetHeader.LENGTH) return;
        segmenter.segment(read, 0, VirtioNetHeader.LENGTH, read.length - VirtioNetHeader.LENGTH, (b, off, len) -> {
            if (VirtioNetHeader.gsoType(read, 0) == VirtioNetHeader.GSO_NONE) {
                assertThat(len).as("a frame with nothing to cut goes on as it is").isEqualTo(read.length - VirtioNetHeader.LENGTH);
            } else {
                assertThat(len).isBetween(1, 9_018);
                assertThat(tcp.wrap(b, off, len)).isTrue();
                assertThat(TcpHeaders.tcpChecksumValid(b, tcp.l3(), tcp.v6(), tcp.l4(), tcp.end() - tcp.l4())).isTrue();
            }
            if (!joiner.offer(b, off, len)) {
                joiner.finish();
                joiner.offer(b, off, len);
            }
        });
        int n = joiner.finish();
        assertThat(n).isBetween(0, joiner.buffer().length);
    }
}
