package dev.ferry.agent.seal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * ChaCha20's key stream for {@link #LANES} consecutive blocks at once, one block per vector lane
 * (the JDK's Vector API: 16 lanes with AVX-512, 8 with AVX2), as the assembly of OpenSSL and
 * WireGuard runs it. Loaded only where the {@code jdk.incubator.vector} module is present
 * ({@link ChaCha20Poly1305#LANES_AVAILABLE}); the scalar path computes the same bytes otherwise.
 */
final class ChaChaLanes {
    private static final VectorSpecies<Integer> S = IntVector.SPECIES_PREFERRED;
    static final int LANES = S.length();
    private static final VarHandle LE32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final int C0 = 0x61707865, C1 = 0x3320646e, C2 = 0x79622d32, C3 = 0x6b206574;
    private static final IntVector STEP = IntVector.fromArray(S, iota(), 0);

    private final int[] words = new int[16 * LANES];

    private static int[] iota() {
        int[] i = new int[LANES];
        for (int l = 0; l < LANES; l++) i[l] = l;
        return i;
    }

    /** XORs the key stream of blocks {@code counter .. counter + LANES - 1} into {@code LANES * 64} bytes. */
    void xor(ChaCha20Poly1305.Key k, int n0, int n1, int n2, int counter, byte[] in, int inOff, byte[] out, int outOff) {
        IntVector ctr = STEP.add(counter);
        IntVector x0 = IntVector.broadcast(S, C0), x1 = IntVector.broadcast(S, C1), x2 = IntVector.broadcast(S, C2);
        IntVector x3 = IntVector.broadcast(S, C3), x4 = IntVector.broadcast(S, k.k0), x5 = IntVector.broadcast(S, k.k1);
        IntVector x6 = IntVector.broadcast(S, k.k2), x7 = IntVector.broadcast(S, k.k3), x8 = IntVector.broadcast(S, k.k4);
        IntVector x9 = IntVector.broadcast(S, k.k5), x10 = IntVector.broadcast(S, k.k6), x11 = IntVector.broadcast(S, k.k7);
        IntVector x12 = ctr, x13 = IntVector.broadcast(S, n0), x14 = IntVector.broadcast(S, n1), x15 = IntVector.broadcast(S, n2);
        for (int i = 0; i < 10; i++) {
            x0 = x0.add(x4); x12 = x12.lanewise(VectorOperators.XOR, x0).lanewise(VectorOperators.ROL, 16);
            x8 = x8.add(x12); x4 = x4.lanewise(VectorOperators.XOR, x8).lanewise(VectorOperators.ROL, 12);
            x0 = x0.add(x4); x12 = x12.lanewise(VectorOperators.XOR, x0).lanewise(VectorOperators.ROL, 8);
            x8 = x8.add(x12); x4 = x4.lanewise(VectorOperators.XOR, x8).lanewise(VectorOperators.ROL, 7);
            x1 = x1.add(x5); x13 = x13.lanewise(VectorOperators.XOR, x1).lanewise(VectorOperators.ROL, 16);
            x9 = x9.add(x13); x5 = x5.lanewise(VectorOperators.XOR, x9).lanewise(VectorOperators.ROL, 12);
            x1 = x1.add(x5); x13 = x13.lanewise(VectorOperators.XOR, x1).lanewise(VectorOperators.ROL, 8);
            x9 = x9.add(x13); x5 = x5.lanewise(VectorOperators.XOR, x9).lanewise(VectorOperators.ROL, 7);
            x2 = x2.add(x6); x14 = x14.lanewise(VectorOperators.XOR, x2).lanewise(VectorOperators.ROL, 16);
            x10 = x10.add(x14); x6 = x6.lanewise(VectorOperators.XOR, x10).lanewise(VectorOperators.ROL, 12);
            x2 = x2.add(x6); x14 = x14.lanewise(VectorOperators.XOR, x2).lanewise(VectorOperators.ROL, 8);
            x10 = x10.add(x14); x6 = x6.lanewise(VectorOperators.XOR, x10).lanewise(VectorOperators.ROL, 7);
            x3 = x3.add(x7); x15 = x15.lanewise(VectorOperators.XOR, x3).lanewise(VectorOperators.ROL, 16);
            x11 = x11.add(x15); x7 = x7.lanewise(VectorOperators.XOR, x11).lanewise(VectorOperators.ROL, 12);
            x3 = x3.add(x7); x15 = x15.lanewise(VectorOperators.XOR, x3).lanewise(VectorOperators.ROL, 8);
            x11 = x11.add(x15); x7 = x7.lanewise(VectorOperators.XOR, x11).lanewise(VectorOperators.ROL, 7);

            x0 = x0.add(x5); x15 = x15.lanewise(VectorOperators.XOR, x0).lanewise(VectorOperators.ROL, 16);
            x10 = x10.add(x15); x5 = x5.lanewise(VectorOperators.XOR, x10).lanewise(VectorOperators.ROL, 12);
            x0 = x0.add(x5); x15 = x15.lanewise(VectorOperators.XOR, x0).lanewise(VectorOperators.ROL, 8);
            x10 = x10.add(x15); x5 = x5.lanewise(VectorOperators.XOR, x10).lanewise(VectorOperators.ROL, 7);
            x1 = x1.add(x6); x12 = x12.lanewise(VectorOperators.XOR, x1).lanewise(VectorOperators.ROL, 16);
            x11 = x11.add(x12); x6 = x6.lanewise(VectorOperators.XOR, x11).lanewise(VectorOperators.ROL, 12);
            x1 = x1.add(x6); x12 = x12.lanewise(VectorOperators.XOR, x1).lanewise(VectorOperators.ROL, 8);
            x11 = x11.add(x12); x6 = x6.lanewise(VectorOperators.XOR, x11).lanewise(VectorOperators.ROL, 7);
            x2 = x2.add(x7); x13 = x13.lanewise(VectorOperators.XOR, x2).lanewise(VectorOperators.ROL, 16);
            x8 = x8.add(x13); x7 = x7.lanewise(VectorOperators.XOR, x8).lanewise(VectorOperators.ROL, 12);
            x2 = x2.add(x7); x13 = x13.lanewise(VectorOperators.XOR, x2).lanewise(VectorOperators.ROL, 8);
            x8 = x8.add(x13); x7 = x7.lanewise(VectorOperators.XOR, x8).lanewise(VectorOperators.ROL, 7);
            x3 = x3.add(x4); x14 = x14.lanewise(VectorOperators.XOR, x3).lanewise(VectorOperators.ROL, 16);
            x9 = x9.add(x14); x4 = x4.lanewise(VectorOperators.XOR, x9).lanewise(VectorOperators.ROL, 12);
            x3 = x3.add(x4); x14 = x14.lanewise(VectorOperators.XOR, x3).lanewise(VectorOperators.ROL, 8);
            x9 = x9.add(x14); x4 = x4.lanewise(VectorOperators.XOR, x9).lanewise(VectorOperators.ROL, 7);
        }
        // Word i of block (counter + b) is lane b of xi: written word-major, then read out block by block.
        x0.add(C0).intoArray(words, 0);
        x1.add(C1).intoArray(words, LANES);
        x2.add(C2).intoArray(words, 2 * LANES);
        x3.add(C3).intoArray(words, 3 * LANES);
        x4.add(k.k0).intoArray(words, 4 * LANES);
        x5.add(k.k1).intoArray(words, 5 * LANES);
        x6.add(k.k2).intoArray(words, 6 * LANES);
        x7.add(k.k3).intoArray(words, 7 * LANES);
        x8.add(k.k4).intoArray(words, 8 * LANES);
        x9.add(k.k5).intoArray(words, 9 * LANES);
        x10.add(k.k6).intoArray(words, 10 * LANES);
        x11.add(k.k7).intoArray(words, 11 * LANES);
        x12.add(ctr).intoArray(words, 12 * LANES);
        x13.add(n0).intoArray(words, 13 * LANES);
        x14.add(n1).intoArray(words, 14 * LANES);
        x15.add(n2).intoArray(words, 15 * LANES);
        for (int b = 0; b < LANES; b++) {
            int base = b * 64;
            for (int i = 0; i < 16; i++) {
                int at = base + i * 4;
                LE32.set(out, outOff + at, (int) LE32.get(in, inOff + at) ^ words[i * LANES + b]);
            }
        }
    }
}
