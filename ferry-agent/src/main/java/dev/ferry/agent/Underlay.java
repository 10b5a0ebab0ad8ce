package dev.ferry.agent;

/** The agent's way out to other agents: one datagram per call, to an agent named by its host id. */
public interface Underlay {
    /** The sender of a datagram from an endpoint no host registered. */
    int UNKNOWN_HOST = 0;

    /** Sends {@code length} bytes; the implementation copies or sends before returning. */
    void send(int toHost, byte[] buf, int offset, int length);

    /**
     * Where agent {@code hostId} listens, as it registered at the board ("host:port"). Underlays
     * that address hosts by id alone (simulated) ignore it.
     */
    default void learnHost(int hostId, String endpoint) {}

    /** As above, from the host's record at the board: a static VTEP sends from ports of its choosing. */
    default void learnHost(dev.ferry.board.HostRecord host) {
        learnHost(host.hostId(), host.endpoint());
    }

    /** Datagrams not sent so far because the host's endpoint is not known here (0 where all are). */
    default long unknownHosts() { return 0; }
}
