package dev.ferry.agent;

import dev.ferry.board.NodeRecord;
import org.agrona.collections.Long2LongHashMap;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * One VNI's slice of the location cache: mac to {@link Location}, ip to mac. Filled by the board's
 * snapshot, lookups and pushes; a record only replaces what it knows if its version is newer, so
 * duplicated and reordered pushes are harmless. Touched by the agent's thread only.
 */
public final class LocationCache {
    private static final long NO_MAC = -1;
    private final Long2ObjectHashMap<Location> byMac = new Long2ObjectHashMap<>();
    private final Long2LongHashMap macByIp = new Long2LongHashMap(NO_MAC);

    public Location get(long mac) {
        return byMac.get(mac);
    }

    /** The MAC of the VM with this IPv4 address, or -1. */
    public long macOf(int ip) {
        return macByIp.get(ip & 0xFFFFFFFFL);
    }

    /** Applies a record if it is newer than what is cached; returns true if it changed the cache. */
    public boolean update(NodeRecord r) {
        Location loc = byMac.get(r.key().mac());
        if (loc == null) {
            loc = new Location();
            byMac.put(r.key().mac(), loc);
        } else if (r.version() <= loc.version) {
            return false;
        }
        for (int ip : loc.ips) macByIp.remove(ip & 0xFFFFFFFFL);
        loc.host = r.hostId();
        loc.version = r.version();
        loc.vmId = r.vmId();
        loc.ips = r.isAttached() ? r.ips() : java.util.List.of();
        for (int ip : loc.ips) macByIp.put(ip & 0xFFFFFFFFL, r.key().mac());
        return true;
    }

    /**
     * Forgets every VM not in {@code kept} whose location is older than {@code version}: a whole
     * snapshot as of that version did not show it, so the board forgot its (detached) record. One
     * learned since, from a push, is newer and stays.
     */
    void forgetAllBut(org.agrona.collections.LongHashSet kept, long version) {
        var gone = new java.util.ArrayList<Long>();
        byMac.forEach((mac, loc) -> {
            if (!kept.contains(mac) && loc.version < version) gone.add(mac);
        });
        for (long mac : gone) {
            for (int ip : byMac.remove(mac).ips) macByIp.remove(ip & 0xFFFFFFFFL);
        }
    }

    public int size() {
        return byMac.size();
    }

    public void forEach(java.util.function.BiConsumer<Long, Location> action) {
        byMac.forEach(action);
    }
}
