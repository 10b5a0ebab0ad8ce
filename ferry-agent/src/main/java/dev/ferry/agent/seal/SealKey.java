package dev.ferry.agent.seal;

import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.interfaces.XECPublicKey;
import java.security.spec.NamedParameterSpec;
import java.security.spec.XECPublicKeySpec;
import java.util.Base64;
import javax.crypto.KeyAgreement;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * An agent's X25519 key pair for one boot, and the derivations of the keys that seal its underlay
 * with each peer. A fresh pair every boot: keys (and so nonces) never repeat across restarts, and
 * what a later boot's memory holds opens nothing an earlier boot sent.
 *
 * <p>The root of direction a→b is {@code HMAC-SHA256(X25519(a, B), "ferry underlay v1" | a | b | A | B)}
 * with host ids and raw public keys; each epoch's ChaCha20-Poly1305 key is {@code HMAC(chain, 0x01)} and the
 * next chain {@code HMAC(chain, 0x02)}, a one-way ratchet: an epoch's key, once forgotten, cannot be
 * derived again from what comes after it.
 */
public final class SealKey {
    private static final byte[] LABEL = "ferry underlay v1".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    /** Length of an X25519 public key, raw. */
    public static final int PUBLIC_KEY_BYTES = 32;

    private final KeyPair pair;
    private final byte[] raw;
    private final String text;
    private final int id;

    private SealKey(KeyPair pair) {
        this.pair = pair;
        this.raw = rawOf(pair.getPublic());
        this.text = Base64.getEncoder().encodeToString(raw);
        this.id = idOf(raw);
    }

    /** A new key pair. */
    public static SealKey generate(SecureRandom random) {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("X25519");
            g.initialize(NamedParameterSpec.X25519, random);
            return new SealKey(g.generateKeyPair());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JDK has no X25519", e);
        }
    }

    /** The public key as registered at the board: base64 of its 32 raw bytes. */
    public String publicKey() { return text; }

    /** The public key's id on the wire: the first 4 bytes of its SHA-256. */
    public int id() { return id; }

    /** The raw bytes of a registered public key, or null when it is not one. */
    static byte[] decode(String publicKey) {
        try {
            byte[] b = Base64.getDecoder().decode(publicKey);
            return b.length == PUBLIC_KEY_BYTES ? b : null;
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static int idOf(byte[] raw) {
        try {
            return ByteBuffer.wrap(MessageDigest.getInstance("SHA-256").digest(raw)).getInt();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The two chain roots with a peer, from one X25519 agreement: {@code [this host to the peer, the
     * peer to this host]}; null if the peer's key is unusable (an all-zero shared secret, a low-order
     * point, is refused by the JDK).
     */
    byte[][] roots(int self, int peer, byte[] peerKey) {
        try {
            KeyAgreement ka = KeyAgreement.getInstance("X25519");
            ka.init(pair.getPrivate());
            ka.doPhase(publicKeyOf(peerKey), true);
            byte[] shared = ka.generateSecret();
            return new byte[][] {root(shared, self, raw, peer, peerKey), root(shared, peer, peerKey, self, raw)};
        } catch (GeneralSecurityException | RuntimeException e) {
            return null;
        }
    }

    /** The chain root of direction {@code from}→{@code to}. */
    private static byte[] root(byte[] shared, int from, byte[] fromKey, int to, byte[] toKey) throws GeneralSecurityException {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(shared, "HmacSHA256"));
        mac.update(LABEL);
        mac.update(ByteBuffer.allocate(8).putInt(from).putInt(to).array());
        mac.update(fromKey);
        mac.update(toKey);
        return mac.doFinal();
    }

    /** {@code HMAC(chain, step)}: step 1 the epoch's key, step 2 the next chain. */
    static byte[] step(byte[] chain, int step) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(chain, "HmacSHA256"));
            mac.update((byte) step);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] rawOf(PublicKey key) {
        // RFC 7748: the u-coordinate, 32 bytes little-endian.
        byte[] big = ((XECPublicKey) key).getU().toByteArray();
        byte[] raw = new byte[PUBLIC_KEY_BYTES];
        for (int i = 0; i < PUBLIC_KEY_BYTES && i < big.length; i++) raw[i] = big[big.length - 1 - i];
        return raw;
    }

    private static PublicKey publicKeyOf(byte[] raw) throws GeneralSecurityException {
        byte[] big = new byte[PUBLIC_KEY_BYTES + 1];
        for (int i = 0; i < PUBLIC_KEY_BYTES; i++) big[PUBLIC_KEY_BYTES - i] = raw[i];
        big[1] &= 0x7F; // RFC 7748 §5: the top bit of the last byte is ignored
        return KeyFactory.getInstance("X25519").generatePublic(new XECPublicKeySpec(NamedParameterSpec.X25519, new BigInteger(big)));
    }
}
