package dev.ferry.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.wire.ControlMessage.*;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

class ControlCodecTest {
    static Stream<ControlMessage> messages() {
        return Stream.of(
                new Prepare(1L << 40 | 7, 0x525400000001L),
                new PrepareAck(-1L, 0xFFFFFFFFFFFFL),
                new Handover(42, 0x020000000001L),
                new HandoverAck(42, 0x525400000002L, List.of(new StreamToken(0x525400000003L, 99), new StreamToken(1, -2)),
                        List.of(5L, 6L, 7L)),
                new HandoverAck(43, 1, List.of(), List.of()),
                new MarkerAck(0x525400000001L, 0x525400000002L, Long.MIN_VALUE),
                new LocationHint(0x525400000009L));
    }

    @ParameterizedTest
    @MethodSource("messages")
    void everyMessageRoundTrips(ControlMessage m) {
        byte[] b = new byte[512];
        int n = ControlCodec.encode(m, b, 3);
        assertThat(ControlCodec.decode(b, 3, n)).isEqualTo(m);
    }

    @ParameterizedTest
    @MethodSource("messages")
    void everyTruncationOfAMessageIsRefused(ControlMessage m) {
        byte[] b = new byte[512];
        int n = ControlCodec.encode(m, b, 0);
        for (int len = 0; len < n; len++) {
            assertThat(ControlCodec.decode(b, 0, len)).as("first %d of %d bytes", len, n).isNull();
        }
    }

    @Test
    void aHandoverAckWithMoreStreamsAndTokensThanOneCarriesIsCappedAndFitsADatagram() {
        List<StreamToken> streams = java.util.stream.LongStream.range(0, 5_000).mapToObj(i -> new StreamToken(i, i)).toList();
        List<Long> consumed = java.util.stream.LongStream.range(0, 9_000).boxed().toList();
        byte[] b = new byte[65_507];

        int n = ControlCodec.encode(new HandoverAck(1, 2, streams, consumed), b, 0);
        HandoverAck back = (HandoverAck) ControlCodec.decode(b, 0, n);

        assertThat(n).isEqualTo(ControlCodec.maxLength(5_000, 9_000)).isLessThan(65_507);
        assertThat(back.streams()).hasSize(ControlCodec.MAX_STREAMS).isEqualTo(streams.subList(0, ControlCodec.MAX_STREAMS));
        assertThat(back.consumed()).hasSize(ControlCodec.MAX_CONSUMED);
    }

    @Test
    void aHandoverAckClaimingMoreThanTheCapIsRefused() {
        byte[] b = new byte[1 + 16 + 2_049 * 14 + 2];
        b[0] = 4;
        Bytes.put16(b, 15, 2_049);
        assertThat(ControlCodec.decode(b, 0, b.length)).isNull();
    }

    @Test
    void anUnknownTypeIsRefused() {
        assertThat(ControlCodec.decode(new byte[] {(byte) 200, 0, 0, 0}, 0, 4)).isNull();
    }

    @Test
    void randomBytesNeverThrow() {
        Random r = new Random(2);
        byte[] b = new byte[64];
        for (int i = 0; i < 100_000; i++) {
            r.nextBytes(b);
            ControlCodec.decode(b, 0, r.nextInt(b.length + 1));
        }
    }
}
