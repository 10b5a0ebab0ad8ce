package dev.ferry.board;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Where the board keeps its state. The board applies its rules and hands the store whole records;
 * the store only keeps them. {@link InMemoryStore} keeps them in the heap, {@link SqliteStore} on
 * disk, {@link EtcdStore} in an etcd cluster that several boards share.
 */
public interface Store {
    NodeRecord get(VmKey key);

    void put(NodeRecord record);

    /** Forgets a record: one detached from every host for longer than the board's grace period. */
    void remove(VmKey key);

    Collection<NodeRecord> records();

    HostRecord host(int hostId);

    void putHost(HostRecord host);

    Collection<HostRecord> hosts();

    /** The board revision: the version given to the last applied change. */
    long revision();

    void revision(long revision);

    /**
     * A request (or a tick) starts: a store others write to as well notes from now on what it reads,
     * so that {@link #commit} can tell whether an answer was given from values since changed.
     */
    default void begin() {}

    /**
     * Makes every change since the last commit durable, all of them or none; the board calls it once
     * a request is applied and before it answers. Throws when it cannot: {@link Conflict} or
     * {@link Unavailable} after the store has taken its changes back, anything else when it cannot
     * even do that (then nothing is answered any more).
     */
    default void commit() {}

    /** How many requests' changes one commit may hold (group commit). */
    default int groupLimit() {
        return 1_024;
    }

    /** Records whose lock lease ran out by {@code now} (the board's clock). */
    default List<NodeRecord> expiredLocks(long now) {
        List<NodeRecord> out = new ArrayList<>();
        for (NodeRecord r : records()) {
            if (r.isLocked() && r.lock().expiresAt() <= now) out.add(r);
        }
        return out;
    }

    /** Agents (not static VTEPs, not lapsed already) whose lease ran out by {@code now}. */
    default List<HostRecord> expiredHosts(long now) {
        List<HostRecord> out = new ArrayList<>();
        for (HostRecord h : hosts()) {
            if (h.isAlive() && h.expiresAt() <= now) out.add(h);
        }
        return out;
    }

    /**
     * For a store other boards write to as well: from now on it reports their changes to
     * {@code listener}. A store only this board writes has nothing to report.
     */
    default void listen(StoreListener listener) {}

    /**
     * Another board changed what this change read, so it was not made; the store has taken the change
     * back and holds the other board's values, which {@link #seen} reports as the watch would have:
     * the board takes them in, then applies the request again.
     */
    final class Conflict extends RuntimeException {
        private final transient StoreListener.Changes seen;

        public Conflict(String message, StoreListener.Changes seen) {
            super(message, null, false, false);
            this.seen = seen;
        }

        public StoreListener.Changes seen() {
            return seen;
        }
    }

    /**
     * The store could not be reached: the change is taken back here, but it may or may not have been
     * made (a shared store then reports it as another board's change). Nothing is answered; the
     * requester retries, and the same request ids and migration ids make the retry harmless.
     */
    final class Unavailable extends RuntimeException {
        public Unavailable(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
