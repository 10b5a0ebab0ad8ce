package dev.ferry.agent.seal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.seal.Seal.Opened;
import dev.ferry.agent.seal.Seal.Sealed;
import dev.ferry.board.HostRecord;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The underlay's seal between two hosts (design §7b): what opens, and every way a datagram does not. */
class SealTest {
    private static final int VNI = 100;
    private static final SecureRandom RANDOM = new SecureRandom();

    private Seal one = sealOf(1);
    private Seal two = sealOf(2);

    SealTest() {
        introduce(one, two);
    }

    @Test
    void aSealedDatagramOpensToWhatItsSenderWrote() {
        byte[] datagram = datagram(1400, 7);
        byte[] sealed = seal(two, 1, datagram);

        assertThat(one.open(2, sealed, 0, sealed.length)).isEqualTo(Opened.OPENED);
        assertThat(Arrays.copyOf(one.opened(), one.openedLength())).isEqualTo(datagram);
        assertThat(sealed.length).isEqualTo(datagram.length + Geneve.SEAL_OVERHEAD);
    }

    @Test
    void theFrameTravelsEncryptedAndTheHeadersInTheClear() {
        byte[] datagram = datagram(200, 7);
        byte[] sealed = seal(two, 1, datagram);

        byte[] frame = Arrays.copyOfRange(datagram, Geneve.FERRY_HEADER_LENGTH, datagram.length);
        assertThat(indexOf(sealed, Arrays.copyOf(frame, 16))).as("the inner frame's first bytes").isEqualTo(-1);
        // VNI and Ferry's option stay readable (ECMP, tshark), though authenticated.
        byte[] ferryOption = Arrays.copyOfRange(datagram, Geneve.BASE_HEADER_LENGTH, Geneve.FERRY_HEADER_LENGTH);
        assertThat(indexOf(sealed, ferryOption)).isEqualTo(Geneve.BASE_HEADER_LENGTH + Geneve.SEAL_OPTION_LENGTH);
    }

    @Test
    void aDatagramOpensOnceAndItsReplayIsRefused() {
        byte[] sealed = seal(two, 1, datagram(100, 1));

        assertThat(one.open(2, sealed, 0, sealed.length)).isEqualTo(Opened.OPENED);
        assertThat(one.open(2, sealed, 0, sealed.length)).isEqualTo(Opened.REPLAYED);
    }

    @Test
    void datagramsReorderedWithinTheWindowOpenEachOnce() {
        List<byte[]> sent = new ArrayList<>();
        for (int i = 0; i < 1_000; i++) sent.add(seal(two, 1, datagram(60, i)));
        Collections.shuffle(sent, new Random(5));

        for (byte[] s : sent) assertThat(one.open(2, s, 0, s.length)).isEqualTo(Opened.OPENED);
        for (byte[] s : sent) assertThat(one.open(2, s, 0, s.length)).isEqualTo(Opened.REPLAYED);
    }

    @Test
    void aDatagramOlderThanTheWindowIsRefused() {
        byte[] old = seal(two, 1, datagram(60, 0));
        for (int i = 0; i <= ReplayWindow.SIZE; i++) {
            byte[] s = seal(two, 1, datagram(60, i));
            assertThat(one.open(2, s, 0, s.length)).isEqualTo(Opened.OPENED);
        }
        assertThat(one.open(2, old, 0, old.length)).isEqualTo(Opened.REPLAYED);
    }

    @Test
    void everyBitFlippedAnywhereIsRefusedAndMovesNothing() {
        byte[] sealed = seal(two, 1, datagram(120, 3));
        for (int bit = 0; bit < sealed.length * 8; bit++) {
            byte[] bent = sealed.clone();
            bent[bit / 8] ^= (byte) (1 << (bit % 8));
            assertThat(one.open(2, bent, 0, bent.length)).as("bit %d", bit).isNotEqualTo(Opened.OPENED);
        }
        assertThat(one.open(2, sealed, 0, sealed.length)).as("the original, after all that").isEqualTo(Opened.OPENED);
    }

    @Test
    void aCutDatagramIsRefusedAsForged() {
        byte[] sealed = seal(two, 1, datagram(120, 3));
        for (int len = Geneve.BASE_HEADER_LENGTH + Geneve.SEAL_OPTION_LENGTH; len < sealed.length; len++) {
            assertThat(one.open(2, sealed, 0, len)).isIn(Opened.FORGED, Opened.UNSEALED);
        }
    }

    @Test
    void anAuthenticDatagramFromAnotherHostsEndpointIsRefused() {
        Seal three = sealOf(3);
        introduce(one, three);
        byte[] fromTwo = seal(two, 1, datagram(100, 1));

        assertThat(one.open(3, fromTwo, 0, fromTwo.length)).isNotEqualTo(Opened.OPENED);
        assertThat(one.open(2, fromTwo, 0, fromTwo.length)).isEqualTo(Opened.OPENED);
    }

    @Test
    void aDatagramFromAnEndpointNoHostRegisteredIsRefused() {
        byte[] sealed = seal(two, 1, datagram(100, 1));
        assertThat(one.open(0, sealed, 0, sealed.length)).isEqualTo(Opened.UNKNOWN_PEER);
    }

    @Test
    void aDatagramForAnotherHostDoesNotOpenHere() {
        Seal three = sealOf(3);
        introduce(two, three);
        introduce(one, three);
        byte[] toThree = seal(two, 3, datagram(100, 1));
        assertThat(one.open(2, toThree, 0, toThree.length)).isNotEqualTo(Opened.OPENED);
    }

    @Test
    void plaintextFromAnAgentIsRefusedAndFromAStaticVtepTaken() {
        byte[] plain = datagram(100, 1);
        assertThat(one.open(2, plain, 0, plain.length)).isEqualTo(Opened.UNSEALED);

        one.learn(new HostRecord(9, "198.18.0.9:6081", Set.of(VNI), 0, HostRecord.STATIC), 0);
        assertThat(one.open(9, plain, 0, plain.length)).isEqualTo(Opened.PLAIN);
        assertThat(one.seal(9, plain, 0, plain.length, 0)).isEqualTo(Sealed.PLAIN);
    }

    @Test
    void anAgentRegisteredWithoutAKeyIsNotSpokenTo() {
        one.learn(new HostRecord(5, "198.18.0.5:6081", Set.of(VNI), 3_000, Long.MAX_VALUE - 1, ""), 0);
        byte[] plain = datagram(100, 1);
        assertThat(one.seal(5, plain, 0, plain.length, 0)).isEqualTo(Sealed.INSECURE_PEER);
        assertThat(one.open(5, plain, 0, plain.length)).isEqualTo(Opened.UNSEALED);
    }

    @Test
    void aHostWhoseKeyIsNotKnownYetIsNotSealedTo() {
        byte[] plain = datagram(100, 1);
        assertThat(one.seal(7, plain, 0, plain.length, 0)).isEqualTo(Sealed.NO_KEY);
    }

    @Test
    void sendingMovesToTheNextEpochAfterItsMessagesAndTheReceiverFollows() {
        two.rekeyAfter(100, Long.MAX_VALUE);
        for (int i = 0; i < 1_000; i++) {
            byte[] s = seal(two, 1, datagram(60, i));
            assertThat(one.open(2, s, 0, s.length)).as("datagram %d", i).isEqualTo(Opened.OPENED);
        }
        assertThat(two.sendingEpoch(1)).isEqualTo(9);
    }

    @Test
    void sendingMovesToTheNextEpochAfterItsTime() {
        two.rekeyAfter(Long.MAX_VALUE, 1_000);
        byte[] first = seal(two, 1, datagram(60, 0), 0);
        byte[] later = seal(two, 1, datagram(60, 1), 5_000);
        assertThat(two.sendingEpoch(1)).isEqualTo(1);
        assertThat(one.open(2, later, 0, later.length)).isEqualTo(Opened.OPENED);
        assertThat(one.open(2, first, 0, first.length)).as("the epoch before, still on its way").isEqualTo(Opened.OPENED);
    }

    @Test
    void aKeyTwoEpochsOldNoLongerOpens() {
        two.rekeyAfter(10, Long.MAX_VALUE);
        byte[] epochZero = seal(two, 1, datagram(60, 0));
        for (int i = 1; i < 30; i++) {
            byte[] s = seal(two, 1, datagram(60, i));
            one.open(2, s, 0, s.length);
        }
        assertThat(one.open(2, epochZero, 0, epochZero.length)).isEqualTo(Opened.STALE_KEY);
    }

    @Test
    void aReceiverFollowsASenderWhoseWholeEpochsWereLost() {
        two.rekeyAfter(10, Long.MAX_VALUE);
        for (int i = 0; i < 35; i++) seal(two, 1, datagram(60, i)); // epochs 0..3, all lost
        byte[] s = seal(two, 1, datagram(60, 35));
        assertThat(one.open(2, s, 0, s.length)).isEqualTo(Opened.OPENED);
    }

    @Test
    void aRestartedHostIsOpenedWithItsNewKeyOnlyOnceTheBoardToldIt() {
        byte[] fromOldProcess = seal(two, 1, datagram(60, 0));
        Seal restarted = sealOf(2);
        restarted.learn(record(1, one), 0);
        byte[] fromNew = seal(restarted, 1, datagram(60, 1));

        assertThat(one.open(2, fromNew, 0, fromNew.length)).isEqualTo(Opened.UNKNOWN_KEY);
        assertThat(one.learn(record(2, restarted), 0)).isTrue();
        assertThat(one.open(2, fromNew, 0, fromNew.length)).isEqualTo(Opened.OPENED);
        assertThat(one.open(2, fromOldProcess, 0, fromOldProcess.length)).as("from the process before: never to be opened")
                .isEqualTo(Opened.STALE_KEY);
    }

    @Test
    void whatWasSealedForAnEarlierProcessOfThisHostIsStale() {
        Seal restartedOne = sealOf(1);
        restartedOne.learn(record(2, two), 0);
        byte[] toOldOne = seal(two, 1, datagram(60, 0));
        assertThat(restartedOne.open(2, toOldOne, 0, toOldOne.length)).isEqualTo(Opened.STALE_KEY);
    }

    @Test
    void aPlaintextAgentLeavesSealedDatagramsToItsParserWhichRefusesTheirCriticalOption() {
        Seal plaintext = new Seal(1, null);
        byte[] sealed = seal(two, 1, datagram(60, 0));
        assertThat(plaintext.open(2, sealed, 0, sealed.length)).isEqualTo(Opened.PLAIN);
        assertThat(new dev.ferry.wire.GeneveFrame().wrap(sealed, 0, sealed.length))
                .isEqualTo(dev.ferry.wire.Malformed.UNKNOWN_CRITICAL_OPTION);
    }

    @Test
    void aLearnedKeyThatIsNotAKeyIsRefused() {
        assertThat(SealKey.decode("not base64!")).isNull();
        assertThat(SealKey.decode(java.util.Base64.getEncoder().encodeToString(new byte[31]))).isNull();
        // An all-zero public key (a low-order point) gives no shared secret: the host gets no key.
        one.learn(new HostRecord(6, "198.18.0.6:6081", Set.of(VNI), 3_000, Long.MAX_VALUE - 1,
                java.util.Base64.getEncoder().encodeToString(new byte[32])), 0);
        byte[] plain = datagram(60, 0);
        assertThat(one.seal(6, plain, 0, plain.length, 0)).isEqualTo(Sealed.NO_KEY);
    }

    // ---------------------------------------------------------------- helpers

    private static Seal sealOf(int host) {
        return new Seal(host, SealKey.generate(RANDOM));
    }

    private static HostRecord record(int host, Seal seal) {
        return new HostRecord(host, "198.18.0." + host + ":6081", Set.of(VNI), 3_000, Long.MAX_VALUE - 1, seal.publicKey());
    }

    /** Each host learns the other's registration, as the board's host table tells it. */
    private static void introduce(Seal a, Seal b) {
        a.learn(record(hostOf(b), b), 0);
        b.learn(record(hostOf(a), a), 0);
    }

    private static int hostOf(Seal s) {
        return s.self();
    }

    private static byte[] seal(Seal from, int to, byte[] datagram) {
        return seal(from, to, datagram, 0);
    }

    private static byte[] seal(Seal from, int to, byte[] datagram, long now) {
        assertThat(from.seal(to, datagram, 0, datagram.length, now)).isEqualTo(Sealed.SEALED);
        return Arrays.copyOf(from.sealed(), from.sealedLength());
    }

    /** A Geneve data datagram with Ferry's option whose frame is {@code frameLength} bytes, numbered {@code seq}. */
    private static byte[] datagram(int frameLength, int seq) {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + frameLength];
        int at = GeneveWriter.writeHeader(b, 0, VNI, false, Geneve.PROTOCOL_ETHERNET, 0, 2, 0, 0);
        for (int i = at; i < b.length; i++) b[i] = (byte) (i * 31 + seq);
        return b;
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) if (hay[i + j] != needle[j]) continue outer;
            return i;
        }
        return -1;
    }
}
