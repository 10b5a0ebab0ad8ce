package dev.ferry.agent.seal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * ChaCha20-Poly1305 (RFC 8439 §2.8), the AEAD of WireGuard, written for the packet path: it keeps
 * its state in fields and locals and allocates nothing per datagram. The JDK's own implementation
 * (and its AES-GCM) builds a new engine and copies the key on every {@code Cipher.init}, that is on
 * every nonce, about a kilobyte a datagram; this one is checked byte for byte against it
 * ({@code ChaCha20Poly1305Test}). ARX only: no table, no secret-dependent branch or index, so its
 * time does not depend on keys or data.
 *
 * <p>One instance per thread (the agent's loop): its scratch state is not shared.
 */
public final class ChaCha20Poly1305 {
    public static final int KEY_LENGTH = 32, NONCE_LENGTH = 12, TAG_LENGTH = 16;
    private static final VarHandle LE32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LE64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final int C0 = 0x61707865, C1 = 0x3320646e, C2 = 0x79622d32, C3 = 0x6b206574;
    private static final long M26 = 0x3ffffff;

    /** A key, expanded once: the eight little-endian words ChaCha20's state starts from. */
    public static final class Key {
        final int k0, k1, k2, k3, k4, k5, k6, k7;

        public Key(byte[] key) {
            if (key.length != KEY_LENGTH) throw new IllegalArgumentException("a ChaCha20 key is 32 bytes, not " + key.length);
            k0 = le32(key, 0); k1 = le32(key, 4); k2 = le32(key, 8); k3 = le32(key, 12);
            k4 = le32(key, 16); k5 = le32(key, 20); k6 = le32(key, 24); k7 = le32(key, 28);
        }
    }

    /**
     * Whether the JDK's Vector API is present ({@code --add-modules jdk.incubator.vector}, as {@code
     * ferry} runs): then long datagrams' key stream is computed many blocks at once ({@link ChaChaLanes}).
     */
    public static final boolean LANES_AVAILABLE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    /** A batch of lanes costs about as much as three blocks one by one. */
    private static final int TAIL_IN_LANES = 3 * 64;

    private final ChaChaLanes lanes = LANES_AVAILABLE ? new ChaChaLanes() : null;
    private final int laneBytes = LANES_AVAILABLE ? ChaChaLanes.LANES * 64 : Integer.MAX_VALUE;
    private final byte[] stream = LANES_AVAILABLE ? new byte[ChaChaLanes.LANES * 64] : null;
    private final byte[] zeros = LANES_AVAILABLE ? new byte[ChaChaLanes.LANES * 64] : null;
    private final byte[] block = new byte[64];
    private final byte[] tag = new byte[TAG_LENGTH];
    private final byte[] pad = new byte[16];
    private int n0, n1, n2;
    // Poly1305: r and 5r in 26-bit limbs, the accumulator h, the final key s.
    private long r0, r1, r2, r3, r4, s1, s2, s3, s4, h0, h1, h2, h3, h4;
    // r^2 and 5r^2: two blocks at once, h = (h + m1) r^2 + m2 r, two independent chains of products.
    private long q0, q1, q2, q3, q4, p1, p2, p3, p4;
    private int pad0, pad1, pad2, pad3;

    /**
     * Encrypts {@code len} bytes of {@code in} into {@code out} (they may be the same array at the
     * same offset) and writes the 16-byte tag over {@code aad} and the ciphertext after them.
     * Returns {@code len + 16}.
     */
    public int seal(Key key, byte[] nonce, byte[] aad, int aadOff, int aadLen, byte[] in, int inOff, int len, byte[] out, int outOff) {
        start(key, nonce);
        xor(key, in, inOff, len, out, outOff);
        mac(aad, aadOff, aadLen, out, outOff, len);
        System.arraycopy(tag, 0, out, outOff + len, TAG_LENGTH);
        return len + TAG_LENGTH;
    }

    /**
     * Checks the tag at the end of {@code in} ({@code len} bytes: ciphertext, then tag) and only then
     * decrypts the ciphertext into {@code out}. Returns the plaintext's length, or -1 (and writes
     * nothing) when the tag does not match.
     */
    public int open(Key key, byte[] nonce, byte[] aad, int aadOff, int aadLen, byte[] in, int inOff, int len, byte[] out, int outOff) {
        if (len < TAG_LENGTH) return -1;
        int textLen = len - TAG_LENGTH;
        start(key, nonce);
        mac(aad, aadOff, aadLen, in, inOff, textLen);
        int diff = 0;
        for (int i = 0; i < TAG_LENGTH; i++) diff |= tag[i] ^ in[inOff + textLen + i];
        if (diff != 0) return -1;
        xor(key, in, inOff, textLen, out, outOff);
        return textLen;
    }

    /** The nonce's words, and Poly1305's one-time key from block 0 (RFC 8439 §2.6). */
    private void start(Key key, byte[] nonce) {
        n0 = le32(nonce, 0);
        n1 = le32(nonce, 4);
        n2 = le32(nonce, 8);
        chachaBlock(key, 0);
        int t0 = le32(block, 0), t1 = le32(block, 4), t2 = le32(block, 8), t3 = le32(block, 12);
        r0 = t0 & 0x3ffffffL;
        r1 = (((t0 & 0xffffffffL) >>> 26) | ((t1 & 0xffffffffL) << 6)) & 0x3ffff03L;
        r2 = (((t1 & 0xffffffffL) >>> 20) | ((t2 & 0xffffffffL) << 12)) & 0x3ffc0ffL;
        r3 = (((t2 & 0xffffffffL) >>> 14) | ((t3 & 0xffffffffL) << 18)) & 0x3f03fffL;
        r4 = ((t3 & 0xffffffffL) >>> 8) & 0x00fffffL;
        s1 = r1 * 5;
        s2 = r2 * 5;
        s3 = r3 * 5;
        s4 = r4 * 5;
        squareR();
        h0 = h1 = h2 = h3 = h4 = 0;
        pad0 = le32(block, 16);
        pad1 = le32(block, 20);
        pad2 = le32(block, 24);
        pad3 = le32(block, 28);
    }

    /** XORs the key stream from block 1 on into {@code len} bytes. */
    private void xor(Key key, byte[] in, int inOff, int len, byte[] out, int outOff) {
        int counter = 1;
        int done = 0;
        for (; len - done >= laneBytes; done += laneBytes, counter += laneBytes / 64) {
            lanes.xor(key, n0, n1, n2, counter, in, inOff + done, out, outOff + done);
        }
        if (lanes != null && len - done > TAIL_IN_LANES) {
            // The rest from one more batch of lanes, cheaper than its blocks one by one.
            lanes.xor(key, n0, n1, n2, counter, zeros, 0, stream, 0);
            xorStream(stream, in, inOff + done, out, outOff + done, len - done);
            return;
        }
        for (; done < len; done += 64) {
            chachaBlock(key, counter++);
            xorStream(block, in, inOff + done, out, outOff + done, Math.min(64, len - done));
        }
    }

    /** {@code out = in ^ stream} for {@code n} bytes, eight at a time while it can. */
    private static void xorStream(byte[] stream, byte[] in, int inOff, byte[] out, int outOff, int n) {
        int i = 0;
        for (; n - i >= 8; i += 8) LE64.set(out, outOff + i, (long) LE64.get(in, inOff + i) ^ (long) LE64.get(stream, i));
        for (; i < n; i++) out[outOff + i] = (byte) (in[inOff + i] ^ stream[i]);
    }

    /** The tag over aad, padded, the ciphertext, padded, and both lengths (RFC 8439 §2.8). */
    private void mac(byte[] aad, int aadOff, int aadLen, byte[] text, int textOff, int textLen) {
        polyPadded(aad, aadOff, aadLen);
        polyPadded(text, textOff, textLen);
        LE64.set(pad, 0, (long) aadLen);
        LE64.set(pad, 8, (long) textLen);
        polyBlock(pad, 0);
        finish();
    }

    private void polyPadded(byte[] m, int off, int len) {
        int done = 0;
        for (; len - done >= 32; done += 32) polyPair(m, off + done);
        for (; len - done >= 16; done += 16) polyBlock(m, off + done);
        if (done < len) {
            java.util.Arrays.fill(pad, (byte) 0);
            System.arraycopy(m, off + done, pad, 0, len - done);
            polyBlock(pad, 0);
        }
    }

    /** One full 16-byte block into the accumulator: h = (h + m + 2^128) r mod 2^130 - 5 (poly1305-donna). */
    private void polyBlock(byte[] m, int off) {
        long t0 = le32(m, off) & 0xffffffffL, t1 = le32(m, off + 4) & 0xffffffffL;
        long t2 = le32(m, off + 8) & 0xffffffffL, t3 = le32(m, off + 12) & 0xffffffffL;
        long a0 = h0 + (t0 & M26);
        long a1 = h1 + (((t0 >>> 26) | (t1 << 6)) & M26);
        long a2 = h2 + (((t1 >>> 20) | (t2 << 12)) & M26);
        long a3 = h3 + (((t2 >>> 14) | (t3 << 18)) & M26);
        long a4 = h4 + ((t3 >>> 8) | (1L << 24));
        timesR(a0, a1, a2, a3, a4);
    }

    /** h = a r mod 2^130 - 5, carried ({@link #carry}). */
    private void timesR(long a0, long a1, long a2, long a3, long a4) {
        long d0 = a0 * r0 + a1 * s4 + a2 * s3 + a3 * s2 + a4 * s1;
        long d1 = a0 * r1 + a1 * r0 + a2 * s4 + a3 * s3 + a4 * s2;
        long d2 = a0 * r2 + a1 * r1 + a2 * r0 + a3 * s4 + a4 * s3;
        long d3 = a0 * r3 + a1 * r2 + a2 * r1 + a3 * r0 + a4 * s4;
        long d4 = a0 * r4 + a1 * r3 + a2 * r2 + a3 * r1 + a4 * r0;
        carry(d0, d1, d2, d3, d4);
    }

    /** r^2 mod 2^130 - 5 into q, carried so that each limb is below 2^26 (q2 just above at most), and 5 q into p. */
    private void squareR() {
        // Computed in h, which start() clears after: q's limbs as h's, then one more step for q1.
        timesR(r0, r1, r2, r3, r4);
        q0 = h0;
        q1 = h1 & M26;
        q2 = h2 + (h1 >>> 26);
        q3 = h3;
        q4 = h4;
        p1 = q1 * 5;
        p2 = q2 * 5;
        p3 = q3 * 5;
        p4 = q4 * 5;
    }

    /**
     * Two full blocks into the accumulator: h = (h + m1 + 2^128) r^2 + (m2 + 2^128) r, the same as
     * two {@link #polyBlock}s; the two products do not wait for each other. Every product stays
     * below 2^56 and a limb's ten of them below 2^60, so nothing overflows before the carries.
     */
    private void polyPair(byte[] m, int off) {
        long t0 = le32(m, off) & 0xffffffffL, t1 = le32(m, off + 4) & 0xffffffffL;
        long t2 = le32(m, off + 8) & 0xffffffffL, t3 = le32(m, off + 12) & 0xffffffffL;
        long u0 = le32(m, off + 16) & 0xffffffffL, u1 = le32(m, off + 20) & 0xffffffffL;
        long u2 = le32(m, off + 24) & 0xffffffffL, u3 = le32(m, off + 28) & 0xffffffffL;
        long a0 = h0 + (t0 & M26);
        long a1 = h1 + (((t0 >>> 26) | (t1 << 6)) & M26);
        long a2 = h2 + (((t1 >>> 20) | (t2 << 12)) & M26);
        long a3 = h3 + (((t2 >>> 14) | (t3 << 18)) & M26);
        long a4 = h4 + ((t3 >>> 8) | (1L << 24));
        long b0 = u0 & M26;
        long b1 = ((u0 >>> 26) | (u1 << 6)) & M26;
        long b2 = ((u1 >>> 20) | (u2 << 12)) & M26;
        long b3 = ((u2 >>> 14) | (u3 << 18)) & M26;
        long b4 = (u3 >>> 8) | (1L << 24);
        long d0 = a0 * q0 + a1 * p4 + a2 * p3 + a3 * p2 + a4 * p1 + b0 * r0 + b1 * s4 + b2 * s3 + b3 * s2 + b4 * s1;
        long d1 = a0 * q1 + a1 * q0 + a2 * p4 + a3 * p3 + a4 * p2 + b0 * r1 + b1 * r0 + b2 * s4 + b3 * s3 + b4 * s2;
        long d2 = a0 * q2 + a1 * q1 + a2 * q0 + a3 * p4 + a4 * p3 + b0 * r2 + b1 * r1 + b2 * r0 + b3 * s4 + b4 * s3;
        long d3 = a0 * q3 + a1 * q2 + a2 * q1 + a3 * q0 + a4 * p4 + b0 * r3 + b1 * r2 + b2 * r1 + b3 * r0 + b4 * s4;
        long d4 = a0 * q4 + a1 * q3 + a2 * q2 + a3 * q1 + a4 * q0 + b0 * r4 + b1 * r3 + b2 * r2 + b3 * r1 + b4 * r0;
        carry(d0, d1, d2, d3, d4);
    }

    /**
     * The products' sums, limb by limb, carried into h: each limb below 2^26 but h1, which may hold
     * a few bits more (the next block's products still fit; {@link #finish} carries it).
     */
    private void carry(long d0, long d1, long d2, long d3, long d4) {
        long c = d0 >>> 26;
        h0 = d0 & M26;
        d1 += c;
        c = d1 >>> 26;
        h1 = d1 & M26;
        d2 += c;
        c = d2 >>> 26;
        h2 = d2 & M26;
        d3 += c;
        c = d3 >>> 26;
        h3 = d3 & M26;
        d4 += c;
        c = d4 >>> 26;
        h4 = d4 & M26;
        h0 += c * 5;
        c = h0 >>> 26;
        h0 &= M26;
        h1 += c;
    }

    /** h fully reduced mod 2^130 - 5, plus s, into {@link #tag}. */
    private void finish() {
        long c = h1 >>> 26;
        h1 &= M26;
        h2 += c;
        c = h2 >>> 26;
        h2 &= M26;
        h3 += c;
        c = h3 >>> 26;
        h3 &= M26;
        h4 += c;
        c = h4 >>> 26;
        h4 &= M26;
        h0 += c * 5;
        c = h0 >>> 26;
        h0 &= M26;
        h1 += c;
        long g0 = h0 + 5;
        c = g0 >>> 26;
        g0 &= M26;
        long g1 = h1 + c;
        c = g1 >>> 26;
        g1 &= M26;
        long g2 = h2 + c;
        c = g2 >>> 26;
        g2 &= M26;
        long g3 = h3 + c;
        c = g3 >>> 26;
        g3 &= M26;
        long g4 = h4 + c - (1L << 26);
        long useG = (g4 >>> 63) - 1; // all ones when h >= p: take h - p
        long f0 = (h0 & ~useG) | (g0 & useG), f1 = (h1 & ~useG) | (g1 & useG), f2 = (h2 & ~useG) | (g2 & useG);
        long f3 = (h3 & ~useG) | (g3 & useG), f4 = (h4 & ~useG) | (g4 & useG);
        long w0 = (f0 | (f1 << 26)) & 0xffffffffL;
        long w1 = ((f1 >>> 6) | (f2 << 20)) & 0xffffffffL;
        long w2 = ((f2 >>> 12) | (f3 << 14)) & 0xffffffffL;
        long w3 = ((f3 >>> 18) | (f4 << 8)) & 0xffffffffL;
        long s = w0 + (pad0 & 0xffffffffL);
        LE32.set(tag, 0, (int) s);
        s = w1 + (pad1 & 0xffffffffL) + (s >>> 32);
        LE32.set(tag, 4, (int) s);
        s = w2 + (pad2 & 0xffffffffL) + (s >>> 32);
        LE32.set(tag, 8, (int) s);
        s = w3 + (pad3 & 0xffffffffL) + (s >>> 32);
        LE32.set(tag, 12, (int) s);
    }

    /** ChaCha20's block function (RFC 8439 §2.3) for {@code counter}, into {@link #block}. */
    private void chachaBlock(Key k, int counter) {
        int x0 = C0, x1 = C1, x2 = C2, x3 = C3, x4 = k.k0, x5 = k.k1, x6 = k.k2, x7 = k.k3;
        int x8 = k.k4, x9 = k.k5, x10 = k.k6, x11 = k.k7, x12 = counter, x13 = n0, x14 = n1, x15 = n2;
        for (int i = 0; i < 10; i++) {
            x0 += x4; x12 = Integer.rotateLeft(x12 ^ x0, 16); x8 += x12; x4 = Integer.rotateLeft(x4 ^ x8, 12);
            x0 += x4; x12 = Integer.rotateLeft(x12 ^ x0, 8); x8 += x12; x4 = Integer.rotateLeft(x4 ^ x8, 7);
            x1 += x5; x13 = Integer.rotateLeft(x13 ^ x1, 16); x9 += x13; x5 = Integer.rotateLeft(x5 ^ x9, 12);
            x1 += x5; x13 = Integer.rotateLeft(x13 ^ x1, 8); x9 += x13; x5 = Integer.rotateLeft(x5 ^ x9, 7);
            x2 += x6; x14 = Integer.rotateLeft(x14 ^ x2, 16); x10 += x14; x6 = Integer.rotateLeft(x6 ^ x10, 12);
            x2 += x6; x14 = Integer.rotateLeft(x14 ^ x2, 8); x10 += x14; x6 = Integer.rotateLeft(x6 ^ x10, 7);
            x3 += x7; x15 = Integer.rotateLeft(x15 ^ x3, 16); x11 += x15; x7 = Integer.rotateLeft(x7 ^ x11, 12);
            x3 += x7; x15 = Integer.rotateLeft(x15 ^ x3, 8); x11 += x15; x7 = Integer.rotateLeft(x7 ^ x11, 7);
            x0 += x5; x15 = Integer.rotateLeft(x15 ^ x0, 16); x10 += x15; x5 = Integer.rotateLeft(x5 ^ x10, 12);
            x0 += x5; x15 = Integer.rotateLeft(x15 ^ x0, 8); x10 += x15; x5 = Integer.rotateLeft(x5 ^ x10, 7);
            x1 += x6; x12 = Integer.rotateLeft(x12 ^ x1, 16); x11 += x12; x6 = Integer.rotateLeft(x6 ^ x11, 12);
            x1 += x6; x12 = Integer.rotateLeft(x12 ^ x1, 8); x11 += x12; x6 = Integer.rotateLeft(x6 ^ x11, 7);
            x2 += x7; x13 = Integer.rotateLeft(x13 ^ x2, 16); x8 += x13; x7 = Integer.rotateLeft(x7 ^ x8, 12);
            x2 += x7; x13 = Integer.rotateLeft(x13 ^ x2, 8); x8 += x13; x7 = Integer.rotateLeft(x7 ^ x8, 7);
            x3 += x4; x14 = Integer.rotateLeft(x14 ^ x3, 16); x9 += x14; x4 = Integer.rotateLeft(x4 ^ x9, 12);
            x3 += x4; x14 = Integer.rotateLeft(x14 ^ x3, 8); x9 += x14; x4 = Integer.rotateLeft(x4 ^ x9, 7);
        }
        LE32.set(block, 0, x0 + C0); LE32.set(block, 4, x1 + C1); LE32.set(block, 8, x2 + C2); LE32.set(block, 12, x3 + C3);
        LE32.set(block, 16, x4 + k.k0); LE32.set(block, 20, x5 + k.k1); LE32.set(block, 24, x6 + k.k2); LE32.set(block, 28, x7 + k.k3);
        LE32.set(block, 32, x8 + k.k4); LE32.set(block, 36, x9 + k.k5); LE32.set(block, 40, x10 + k.k6); LE32.set(block, 44, x11 + k.k7);
        LE32.set(block, 48, x12 + counter); LE32.set(block, 52, x13 + n0); LE32.set(block, 56, x14 + n1); LE32.set(block, 60, x15 + n2);
    }

    private static int le32(byte[] b, int off) {
        return (int) LE32.get(b, off);
    }
}
