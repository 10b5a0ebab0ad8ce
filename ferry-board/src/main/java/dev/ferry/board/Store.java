package dev.ferry.board;

import java.util.Collection;

/**
 * Where the board keeps its state. The board applies its rules and hands the store whole records;
 * the store only keeps them. {@link InMemoryStore} is the one implementation today; durable and
 * replicated stores implement the same interface.
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
}
