package dev.ferry.agent;

import org.agrona.collections.Long2ObjectHashMap;

/**
 * The patent's migration information table for one VNI: the VMs this agent is migrating out or in,
 * by MAC. Empty for almost every VM, so the common path pays one failed hash look-up here.
 */
public final class MigrationTable {
    private final Long2ObjectHashMap<MigrationEntry> entries = new Long2ObjectHashMap<>();

    public MigrationEntry get(long mac) {
        return entries.get(mac);
    }

    void put(MigrationEntry e) {
        entries.put(e.key.mac(), e);
    }

    void remove(MigrationEntry e) {
        entries.remove(e.key.mac(), e);
    }

    /** The DESTINATION row of migration {@code migrationId}, or null; a scan, for the rare frame that needs it. */
    MigrationEntry arrivingBy(long migrationId) {
        if (migrationId == 0) return null;
        for (MigrationEntry e : entries.values()) {
            if (e.role == MigrationEntry.Role.DESTINATION && e.migrationId == migrationId) return e;
        }
        return null;
    }

    public int size() {
        return entries.size();
    }

    public java.util.Collection<MigrationEntry> entries() {
        return entries.values();
    }
}
