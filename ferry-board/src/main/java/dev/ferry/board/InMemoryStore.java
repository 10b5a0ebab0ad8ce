package dev.ferry.board;

import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** A {@link Store} in the board's heap: nothing survives a restart. */
public final class InMemoryStore implements Store {
    private final Map<VmKey, NodeRecord> records = new LinkedHashMap<>();
    private final Map<Integer, HostRecord> hosts = new HashMap<>();
    private long revision;

    @Override public NodeRecord get(VmKey key) { return records.get(key); }
    @Override public void put(NodeRecord record) { records.put(record.key(), record); }
    @Override public Collection<NodeRecord> records() { return Collections.unmodifiableCollection(records.values()); }
    @Override public HostRecord host(int hostId) { return hosts.get(hostId); }
    @Override public void putHost(HostRecord host) { hosts.put(host.hostId(), host); }
    @Override public Collection<HostRecord> hosts() { return Collections.unmodifiableCollection(hosts.values()); }
    @Override public long revision() { return revision; }
    @Override public void revision(long revision) { this.revision = revision; }
}
