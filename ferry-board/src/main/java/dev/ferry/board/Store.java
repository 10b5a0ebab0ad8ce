package dev.ferry.board;

import java.util.Collection;

/**
 * Where the board keeps its state. The board applies its rules and hands the store whole records;
 * the store only keeps them. {@link InMemoryStore} keeps them in the heap, {@link SqliteStore} on
 * disk; a replicated store implements the same interface.
 */
public interface Store {
    NodeRecord get(VmKey key);

    void put(NodeRecord record);

    Collection<NodeRecord> records();

    HostRecord host(int hostId);

    void putHost(HostRecord host);

    Collection<HostRecord> hosts();

    /** The board revision: the version given to the last applied change. */
    long revision();

    void revision(long revision);

    /**
     * Makes every change since the last commit durable, all of them or none; the board calls it once
     * a request is applied and before it answers. Throws when it cannot: then nothing is answered.
     */
    default void commit() {}
}
