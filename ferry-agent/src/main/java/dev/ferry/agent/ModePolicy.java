package dev.ferry.agent;

/**
 * How an agent handles migrations: Ferry's protocol ({@link Migrations}), or one of the baselines
 * the demo compares it with ({@link NaiveMode}, {@link EagerMode}). The protocol's own code never
 * asks which mode it runs in; what differs is here.
 */
interface ModePolicy {
    /** A detector's event for a VM of {@code net}. */
    void onEvent(VirtualNetwork net, MigrationEvent event, long now);

    /** A port plugged without a migration event, as the agent finds it. The baselines attach a running one. */
    default void plugged(VirtualNetwork net, LocalPort port, Agent.Found found, BoardSync board, long now) {
        if (found != Agent.Found.STOPPED) board.attach(port.key(), port.port, true, now);
    }

    /** Whether a frame for a VM no longer here is relayed once to where the cache says it is (design §6.2). */
    boolean relaysStaleFrames();

    /** Whether a stream that changes path is ended by a MARKER (design §6.5). */
    boolean marksPathChanges();
}
