package dev.ferry.agent.seal;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ferry.board.HostRecord;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Set;

/**
 * Coverage-guided fuzzing (Jazzer) of what opens a datagram before anything else reads it (design
 * §7b): inputs are mostly sealed datagrams of a real peer, bent (any byte, the seal option's fields,
 * cut, replayed, from another endpoint), sometimes raw bytes behind a well-formed seal option.
 * Properties: opening never throws; nothing opens that the peer did not seal exactly so; what
 * opens, opens once; a rekeying sender is followed. The seal is kept across executions.
 */
class SealFuzzTest {
    private static final SecureRandom RANDOM = new SecureRandom();
    private final Seal one = new Seal(1, SealKey.generate(RANDOM));
    private final Seal two = new Seal(2, SealKey.generate(RANDOM));
    private final byte[] datagram = new byte[2_048];

    {
        one.learn(new HostRecord(2, "198.18.0.2:6081", Set.of(100), 3_000, Long.MAX_VALUE - 1, two.publicKey()), 0);
        two.learn(new HostRecord(1, "198.18.0.1:6081", Set.of(100), 3_000, Long.MAX_VALUE - 1, one.publicKey()), 0);
        two.rekeyAfter(500, Long.MAX_VALUE);
    }

    @FuzzTest(maxDuration = "5s")
    void openAnything(FuzzedDataProvider data) {
        int frame = data.consumeInt(14, 1_500);
        int at = GeneveWriter.writeHeader(datagram, 0, 100, data.consumeBoolean(), Geneve.PROTOCOL_ETHERNET, data.consumeInt(0, 7),
                2, data.consumeLong(), data.consumeLong(), data.consumeLong());
        byte[] payload = data.consumeBytes(frame);
        System.arraycopy(payload, 0, datagram, at, payload.length);
        int plainLength = at + payload.length;
        assertThat(two.seal(1, datagram, 0, plainLength, 0)).isEqualTo(Seal.Sealed.SEALED);
        byte[] sealed = Arrays.copyOf(two.sealed(), two.sealedLength());
        byte[] original = Arrays.copyOf(datagram, plainLength);

        int from = 2;
        byte[] input = sealed.clone();
        int length = input.length;
        boolean bent = false;
        switch (data.consumeInt(0, 5)) {
            case 0 -> {} // as sealed
            case 1 -> { // any bytes changed
                int n = data.consumeInt(1, 8);
                for (int i = 0; i < n; i++) {
                    int where = data.consumeInt(0, length - 1);
                    byte b = data.consumeByte();
                    bent |= input[where] != b;
                    input[where] = b;
                }
            }
            case 2 -> { // the seal option's fields
                int field = Geneve.BASE_HEADER_LENGTH + 4 + 4 * data.consumeInt(0, 4);
                int before = Bytes.i32(input, field);
                int after = data.consumeInt();
                Bytes.put32(input, field, after);
                bent = before != after;
            }
            case 3 -> { // cut
                int cut = data.consumeInt(0, length - 1);
                bent = true;
                length = cut;
            }
            case 4 -> { // from another endpoint, or none registered
                from = data.consumeInt(0, 3);
                bent = from != 2;
            }
            default -> { // raw bytes behind the seal option
                byte[] raw = data.consumeRemainingAsBytes();
                int keep = Geneve.BASE_HEADER_LENGTH + Geneve.SEAL_OPTION_LENGTH;
                input = Arrays.copyOf(input, Math.max(keep, keep + raw.length));
                System.arraycopy(raw, 0, input, keep, raw.length);
                length = input.length;
                bent = true;
            }
        }
        // Changes may undo each other: what counts is whether the bytes and the sender differ in the end.
        bent = from != 2 || !Arrays.equals(input, 0, length, sealed, 0, sealed.length);
        Seal.Opened first = one.open(from, input, 0, length);
        if (first == Seal.Opened.OPENED) {
            assertThat(bent).as("a bent datagram opened").isFalse();
            assertThat(Arrays.copyOf(one.opened(), one.openedLength())).isEqualTo(original);
            assertThat(one.open(from, input, 0, length)).as("opened twice").isEqualTo(Seal.Opened.REPLAYED);
        } else {
            // Every byte before the tag is authenticated (the headers) or encrypted (the frame): nothing genuine is refused.
            assertThat(bent).as("the genuine datagram refused: %s", first).isTrue();
        }
        // The genuine datagram opens, unless a bent copy of it already did (its counter is then spent).
        if (bent && first != Seal.Opened.OPENED) {
            assertThat(one.open(2, sealed, 0, sealed.length)).isEqualTo(Seal.Opened.OPENED);
        }
    }
}
