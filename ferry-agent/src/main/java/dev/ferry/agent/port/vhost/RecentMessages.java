package dev.ferry.agent.port.vhost;

/**
 * The last {@value #KEPT} vhost-user messages a port received, with when and what they carried, kept
 * in memory so that a port can say what QEMU told it when its guest's ring goes wrong (logged then,
 * not as they come: logging every message changes the timing it is meant to show). Written by the
 * port's vhost-user thread, read by the agent's; the lock is taken once per message.
 */
final class RecentMessages {
    static final int KEPT = 48;
    private static final String[] NAMES = {"0", "GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER", "SET_MEM_TABLE",
            "SET_LOG_BASE", "SET_LOG_FD", "SET_VRING_NUM", "SET_VRING_ADDR", "SET_VRING_BASE", "GET_VRING_BASE", "SET_VRING_KICK",
            "SET_VRING_CALL", "SET_VRING_ERR", "GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "SET_VRING_ENABLE",
            "SEND_RARP"};

    private final long[] at = new long[KEPT];
    private final int[] request = new int[KEPT];
    private final long[] first = new long[KEPT];
    private final int[] fds = new int[KEPT];
    private long count;

    /** One message: its request, the first eight bytes of its payload, and how many descriptors came with it. */
    synchronized void add(int request, long firstWord, int descriptors) {
        int i = (int) (count++ % KEPT);
        this.at[i] = System.nanoTime();
        this.request[i] = request;
        this.first[i] = firstWord;
        this.fds[i] = descriptors;
    }

    /** The kept messages, oldest first, each with its age in milliseconds at {@code now} (System.nanoTime). */
    synchronized String describe(long now) {
        StringBuilder b = new StringBuilder();
        for (long n = Math.max(0, count - KEPT); n < count; n++) {
            int i = (int) (n % KEPT);
            int r = request[i];
            b.append("\n    -").append((now - at[i]) / 1_000_000).append(" ms ").append(r >= 0 && r < NAMES.length ? NAMES[r] : r)
                    .append(" 0x").append(Long.toHexString(first[i]));
            if (fds[i] > 0) b.append(" fds=").append(fds[i]);
        }
        return b.toString();
    }
}
