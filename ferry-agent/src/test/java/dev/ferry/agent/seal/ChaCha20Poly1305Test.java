package dev.ferry.agent.seal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;

/** Ferry's ChaCha20-Poly1305 is RFC 8439's: the RFC's own example, and the JDK's output for any input. */
class ChaCha20Poly1305Test {
    private static final HexFormat HEX = HexFormat.of();
    private final ChaCha20Poly1305 aead = new ChaCha20Poly1305();

    @Test
    void sealsTheRfcsExampleAsTheRfcDoes() {
        // RFC 8439 §2.8.2
        byte[] key = HEX.parseHex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        byte[] nonce = HEX.parseHex("070000004041424344454647");
        byte[] aad = HEX.parseHex("50515253c0c1c2c3c4c5c6c7");
        byte[] text = ("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
                + "sunscreen would be it.").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] out = new byte[text.length + 16];

        int n = aead.seal(new ChaCha20Poly1305.Key(key), nonce, aad, 0, aad.length, text, 0, text.length, out, 0);

        assertThat(n).isEqualTo(text.length + 16);
        assertThat(HEX.formatHex(out, 0, 16)).isEqualTo("d31a8d34648e60db7b86afbc53ef7ec2");
        assertThat(HEX.formatHex(out, text.length, text.length + 16)).isEqualTo("1ae10b594f09e26a7e902ecbd0600691");
    }

    @Test
    void sealsAndOpensExactlyAsTheJdkDoesForAnyLengthKeyNonceAndAad() throws Exception {
        Random random = new Random(8439);
        Cipher jdk = Cipher.getInstance("ChaCha20-Poly1305");
        for (int round = 0; round < 3_000; round++) {
            byte[] key = bytes(random, 32), nonce = bytes(random, 12);
            byte[] aad = bytes(random, random.nextInt(80));
            int len = round < 300 ? round : random.nextInt(9_100);
            byte[] text = bytes(random, len);
            int inOff = random.nextInt(8), outOff = random.nextInt(8);
            byte[] in = new byte[inOff + len];
            System.arraycopy(text, 0, in, inOff, len);
            byte[] ours = new byte[outOff + len + 16];
            aead.seal(new ChaCha20Poly1305.Key(key), nonce, aad, 0, aad.length, in, inOff, len, ours, outOff);

            jdk.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "ChaCha20"), new IvParameterSpec(nonce));
            jdk.updateAAD(aad);
            byte[] theirs = jdk.doFinal(text);
            assertThat(Arrays.copyOfRange(ours, outOff, ours.length)).as("round %d, %d bytes", round, len).isEqualTo(theirs);

            byte[] opened = new byte[len];
            assertThat(aead.open(new ChaCha20Poly1305.Key(key), nonce, aad, 0, aad.length, ours, outOff, len + 16, opened, 0))
                    .isEqualTo(len);
            assertThat(opened).isEqualTo(text);
        }
    }

    @Test
    void opensNothingWithOneBitChangedAnywhereAndWritesNothing() {
        Random random = new Random(7);
        byte[] key = bytes(random, 32), nonce = bytes(random, 12), aad = bytes(random, 24), text = bytes(random, 100);
        ChaCha20Poly1305.Key k = new ChaCha20Poly1305.Key(key);
        byte[] sealed = new byte[116];
        aead.seal(k, nonce, aad, 0, aad.length, text, 0, text.length, sealed, 0);
        for (int bit = 0; bit < (aad.length + sealed.length + nonce.length) * 8; bit++) {
            byte[] a = aad.clone(), s = sealed.clone(), n = nonce.clone();
            int at = bit / 8;
            if (at < a.length) a[at] ^= (byte) (1 << bit % 8);
            else if (at < a.length + s.length) s[at - a.length] ^= (byte) (1 << bit % 8);
            else n[at - a.length - s.length] ^= (byte) (1 << bit % 8);
            byte[] out = new byte[100];
            assertThat(aead.open(k, n, a, 0, a.length, s, 0, s.length, out, 0)).as("bit %d", bit).isEqualTo(-1);
            assertThat(out).as("nothing written for bit %d", bit).containsOnly(0);
        }
        byte[] otherKey = key.clone();
        otherKey[0] ^= 1;
        assertThat(aead.open(new ChaCha20Poly1305.Key(otherKey), nonce, aad, 0, aad.length, sealed, 0, sealed.length, new byte[100], 0))
                .isEqualTo(-1);
        assertThat(aead.open(k, nonce, aad, 0, aad.length, sealed, 0, 15, new byte[100], 0)).as("shorter than a tag").isEqualTo(-1);
    }

    private static byte[] bytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }
}
