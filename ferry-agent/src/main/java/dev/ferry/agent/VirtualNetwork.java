package dev.ferry.agent;

import org.agrona.collections.IntHashSet;
import org.agrona.collections.Long2ObjectHashMap;

/** Everything an agent keeps for one VNI: its local ports, location cache, migration table and stream order. */
public final class VirtualNetwork {
    final int vni;
    final Long2ObjectHashMap<LocalPort> ports = new Long2ObjectHashMap<>();
    final LocationCache cache = new LocationCache();
    final MigrationTable migrations = new MigrationTable();
    final StreamOrder order;
    /** Agents that host VMs of this VNI: where local broadcasts are flooded. */
    final IntHashSet hosts = new IntHashSet();

    VirtualNetwork(int vni, long forgetAfterNanos) {
        this.vni = vni;
        this.order = new StreamOrder(forgetAfterNanos);
    }

    public int vni() { return vni; }
    public LocationCache cache() { return cache; }
    public MigrationTable migrations() { return migrations; }
    public int heldFrames() { return order.heldFrames(); }
}
