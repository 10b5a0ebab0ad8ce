package dev.ferry.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import java.util.Random;
import org.junit.jupiter.api.Test;

class GeneveFrameTest {
    private static final long DST = 0x52_54_00_aa_bb_ccL;
    private static final long SRC = 0x52_54_00_11_22_33L;

    private static byte[] dataPacket(int vni, int flags, int origin, long token, long await) {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + 64];
        int at = GeneveWriter.writeHeader(b, 0, vni, false, Geneve.PROTOCOL_ETHERNET, flags, origin, token, await);
        Ethernet.writeHeader(b, at, DST, SRC, 0x88B6);
        return b;
    }

    @Test
    void dataPacketRoundTripsEveryHeaderField() {
        byte[] b = dataPacket(0xABCDEF, Geneve.FLAG_FORWARDED | Geneve.FLAG_AWAIT, 4242, 0x1122334455667788L, -5L);
        GeneveFrame f = new GeneveFrame();
        assertThat(f.wrap(b, 0, b.length)).isNull();
        assertThat(f.vni()).isEqualTo(0xABCDEF);
        assertThat(f.isControl()).isFalse();
        assertThat(f.protocol()).isEqualTo(Geneve.PROTOCOL_ETHERNET);
        assertThat(f.hasFerryOption()).isTrue();
        assertThat(f.hasFlag(Geneve.FLAG_FORWARDED)).isTrue();
        assertThat(f.hasFlag(Geneve.FLAG_AWAIT)).isTrue();
        assertThat(f.hasFlag(Geneve.FLAG_MARKER)).isFalse();
        assertThat(f.origin()).isEqualTo(4242);
        assertThat(f.token()).isEqualTo(0x1122334455667788L);
        assertThat(f.await()).isEqualTo(-5L);
        assertThat(f.payloadOffset()).isEqualTo(Geneve.FERRY_HEADER_LENGTH);
        assertThat(f.payloadLength()).isEqualTo(64);
        assertThat(Ethernet.dst(b, f.payloadOffset())).isEqualTo(DST);
        assertThat(Ethernet.src(b, f.payloadOffset())).isEqualTo(SRC);
    }

    @Test
    void parsesAtAnOffsetInsideALargerBuffer() {
        byte[] p = dataPacket(7, 0, 1, 0, 0);
        byte[] b = new byte[p.length + 100];
        System.arraycopy(p, 0, b, 37, p.length);
        GeneveFrame f = new GeneveFrame();
        assertThat(f.wrap(b, 37, p.length)).isNull();
        assertThat(f.vni()).isEqualTo(7);
        assertThat(f.payloadOffset()).isEqualTo(37 + Geneve.FERRY_HEADER_LENGTH);
    }

    @Test
    void controlBitIsReadBack() {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + 1];
        GeneveWriter.writeHeader(b, 0, 1, true, Geneve.PROTOCOL_FERRY_CONTROL, 0, 9, 0, 0);
        GeneveFrame f = new GeneveFrame();
        assertThat(f.wrap(b, 0, b.length)).isNull();
        assertThat(f.isControl()).isTrue();
        assertThat(f.protocol()).isEqualTo(Geneve.PROTOCOL_FERRY_CONTROL);
    }

    @Test
    void aPacketWithoutFerrysOptionStillParses() {
        // What a kernel geneve device sends: base header only.
        byte[] b = new byte[Geneve.BASE_HEADER_LENGTH + 14];
        Bytes.put16(b, 2, Geneve.PROTOCOL_ETHERNET);
        Bytes.put24(b, 4, 99);
        GeneveFrame f = new GeneveFrame();
        assertThat(f.wrap(b, 0, b.length)).isNull();
        assertThat(f.hasFerryOption()).isFalse();
        assertThat(f.origin()).isZero();
        assertThat(f.vni()).isEqualTo(99);
    }

    @Test
    void otherOptionsAreSkipped() {
        byte[] b = new byte[Geneve.BASE_HEADER_LENGTH + 8 + Geneve.FERRY_OPTION_LENGTH + 14];
        b[0] = (byte) ((8 + Geneve.FERRY_OPTION_LENGTH) / 4);
        Bytes.put16(b, 2, Geneve.PROTOCOL_ETHERNET);
        Bytes.put16(b, 8, 0x0101); // someone else's option class, 4 bytes of data
        b[10] = 1;
        b[11] = 1;
        byte[] ours = new byte[Geneve.FERRY_HEADER_LENGTH];
        GeneveWriter.writeHeader(ours, 0, 0, false, Geneve.PROTOCOL_ETHERNET, Geneve.FLAG_MARKER, 3, 77, 0);
        System.arraycopy(ours, Geneve.BASE_HEADER_LENGTH, b, 16, Geneve.FERRY_OPTION_LENGTH);
        GeneveFrame f = new GeneveFrame();
        assertThat(f.wrap(b, 0, b.length)).isNull();
        assertThat(f.hasFlag(Geneve.FLAG_MARKER)).isTrue();
        assertThat(f.token()).isEqualTo(77);
    }

    @Test
    void anUnknownCriticalOptionDropsThePacket() {
        byte[] b = new byte[Geneve.BASE_HEADER_LENGTH + 8 + 14];
        b[0] = 2;
        b[1] = 0x40; // C: critical options present
        Bytes.put16(b, 2, Geneve.PROTOCOL_ETHERNET);
        Bytes.put16(b, 8, 0x0101);
        b[10] = (byte) 0x81; // a critical type nobody here knows
        b[11] = 1;
        assertThat(new GeneveFrame().wrap(b, 0, b.length)).isEqualTo(Malformed.UNKNOWN_CRITICAL_OPTION);
    }

    @Test
    void anOamFrameWithTheOBitIsNeverTakenForAVmsFrame() {
        byte[] b = new byte[Geneve.BASE_HEADER_LENGTH + 14];
        b[1] = (byte) 0x80; // O: a control packet
        Bytes.put16(b, 2, Geneve.PROTOCOL_ETHERNET);
        assertThat(new GeneveFrame().wrap(b, 0, b.length)).isEqualTo(Malformed.CONTROL_FRAME);
    }

    @Test
    void aFerryMarkerIsAControlPacketCarryingAFrame() {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + 14];
        GeneveWriter.writeHeader(b, 0, 1, true, Geneve.PROTOCOL_ETHERNET, Geneve.FLAG_MARKER, 3, 77, 0);
        GeneveFrame f = new GeneveFrame();
        assertThat(f.wrap(b, 0, b.length)).isNull();
        assertThat(f.isControl()).isTrue();
    }

    @Test
    void shorterThanTheBaseHeaderIsTooShort() {
        assertThat(new GeneveFrame().wrap(new byte[7], 0, 7)).isEqualTo(Malformed.TOO_SHORT);
    }

    @Test
    void optionsRunningPastTheEndAreTooShort() {
        byte[] b = dataPacket(1, 0, 1, 0, 0);
        assertThat(new GeneveFrame().wrap(b, 0, Geneve.FERRY_HEADER_LENGTH - 4)).isEqualTo(Malformed.TOO_SHORT);
    }

    @Test
    void aVersionOtherThanZeroIsRefused() {
        byte[] b = dataPacket(1, 0, 1, 0, 0);
        b[0] |= 0x40;
        assertThat(new GeneveFrame().wrap(b, 0, b.length)).isEqualTo(Malformed.BAD_VERSION);
    }

    @Test
    void anOptionLongerThanTheOptionAreaIsRefused() {
        byte[] b = dataPacket(1, 0, 1, 0, 0);
        b[Geneve.BASE_HEADER_LENGTH + 3] = 0x1F; // 31 words of data in a 7-word area
        assertThat(new GeneveFrame().wrap(b, 0, b.length)).isEqualTo(Malformed.BAD_OPTION_LENGTH);
    }

    @Test
    void aFerryOptionOfTheWrongSizeIsRefused() {
        byte[] b = dataPacket(1, 0, 1, 0, 0);
        b[0] = 3; // option area of 3 words
        b[Geneve.BASE_HEADER_LENGTH + 3] = 2; // our option claiming 2 words of data
        assertThat(new GeneveFrame().wrap(b, 0, b.length)).isEqualTo(Malformed.BAD_OPTION_LENGTH);
    }

    @Test
    void anUnknownFerryOptionVersionIsRefused() {
        byte[] b = dataPacket(1, 0, 1, 0, 0);
        b[Geneve.BASE_HEADER_LENGTH + 4] = 9;
        assertThat(new GeneveFrame().wrap(b, 0, b.length)).isEqualTo(Malformed.BAD_FERRY_VERSION);
    }

    @Test
    void aDataPacketWithoutAWholeEthernetHeaderIsTruncated() {
        byte[] b = dataPacket(1, 0, 1, 0, 0);
        assertThat(new GeneveFrame().wrap(b, 0, Geneve.FERRY_HEADER_LENGTH + 13)).isEqualTo(Malformed.TRUNCATED_FRAME);
    }

    @Test
    void anUnknownProtocolTypeIsRefused() {
        byte[] b = dataPacket(1, 0, 1, 0, 0);
        Bytes.put16(b, 2, 0x0800);
        assertThat(new GeneveFrame().wrap(b, 0, b.length)).isEqualTo(Malformed.BAD_PROTOCOL);
    }

    @Test
    void randomBytesNeverThrow() {
        Random r = new Random(1);
        GeneveFrame f = new GeneveFrame();
        byte[] b = new byte[128];
        for (int i = 0; i < 200_000; i++) {
            r.nextBytes(b);
            int len = r.nextInt(b.length + 1);
            assertThatCode(() -> f.wrap(b, 0, len)).doesNotThrowAnyException();
        }
    }

    @Test
    void aVniOutsideTwentyFourBitsIsRefusedWhenWriting() {
        org.assertj.core.api.Assertions.assertThatThrownBy(
                () -> GeneveWriter.writeHeader(new byte[64], 0, 1 << 24, false, Geneve.PROTOCOL_ETHERNET, 0, 1, 0, 0))
                .hasMessageContaining("vni");
    }
}
