package dev.ferry.board;

import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A {@link Store} in the board's heap: nothing survives a restart; the agents attach their ports
 * again when they reconnect.
 */
public final class InMemoryStore implements Store {
    private final Map<VmKey, NodeRecord> records = new LinkedHashMap<>();
    private final Map<Integer, HostRecord> hosts = new HashMap<>();
    private long revision;

    /** Versions from 1: for a board that never restarts (tests, simulations). */
    public InMemoryStore() {
        this(0);
    }

    public InMemoryStore(long revision) {
        this.revision = revision;
    }

    /**
     * For a board process: versions start above any an earlier run of the board could have given
     * (microseconds of wall time), so agents' caches take the new board's records as newer.
     */
    public static InMemoryStore forBoardProcess() {
        return new InMemoryStore(System.currentTimeMillis() * 1_000);
    }

    @Override public NodeRecord get(VmKey key) { return records.get(key); }
    @Override public void put(NodeRecord record) { records.put(record.key(), record); }
    @Override public void remove(VmKey key) { records.remove(key); }
    @Override public Collection<NodeRecord> records() { return Collections.unmodifiableCollection(records.values()); }
    @Override public HostRecord host(int hostId) { return hosts.get(hostId); }
    @Override public void putHost(HostRecord host) { hosts.put(host.hostId(), host); }
    @Override public Collection<HostRecord> hosts() { return Collections.unmodifiableCollection(hosts.values()); }
    @Override public long revision() { return revision; }
    @Override public void revision(long revision) { this.revision = revision; }
}
