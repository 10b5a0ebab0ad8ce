package dev.ferry.agent.seal;

/**
 * Which counters of one key's datagrams were already accepted: the highest one and a bitmap of the
 * {@link #SIZE} below it, as RFC 6479 keeps it (a ring of words, cleared as the top moves on, so
 * moving never loops over more than the ring). A counter older than the window is refused: it may have
 * been seen. Checked before a datagram is opened, marked only once it authenticated, so a forger
 * cannot move the window. Agent's thread only; allocation-free.
 */
public final class ReplayWindow {
    private static final int WORDS = 64;
    /** Counters at most this far below the highest accepted one are still told apart. */
    public static final int SIZE = (WORDS - 1) * 64;

    private final long[] bits = new long[WORDS];
    private long top = -1;

    /** The counter was accepted already, or is too old to tell. */
    public boolean seen(long counter) {
        if (counter < 0) return true;
        if (counter > top) return false;
        if (top - counter >= SIZE) return true;
        return (bits[word(counter)] & (1L << (counter & 63))) != 0;
    }

    /** Records an authenticated counter ({@link #seen} was false). */
    public void mark(long counter) {
        if (counter > top) {
            long from = (top >> 6) + 1;
            long to = Math.min(counter >> 6, (top >> 6) + WORDS);
            for (long w = from; w <= to; w++) bits[(int) (w & (WORDS - 1))] = 0;
            top = counter;
        }
        bits[word(counter)] |= 1L << (counter & 63);
    }

    void reset() {
        java.util.Arrays.fill(bits, 0);
        top = -1;
    }

    private static int word(long counter) {
        return (int) ((counter >> 6) & (WORDS - 1));
    }
}
