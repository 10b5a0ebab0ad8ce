package dev.ferry.agent;

import dev.ferry.board.VmKey;
import org.agrona.collections.Long2ObjectHashMap;

/** A port plugged into this agent, with the agent's per-port state. Handed to the port's driver by {@link Agent#addPort}. */
public final class LocalPort {
    /** The copy of the VM that receives its frames: changes only at a local migration's switch (design §6.7). */
    Port port;
    final VirtualNetwork net;
    final long mac;
    /** The longest frame the VM may send or be given: its MTU (and its VNI's), the Ethernet header and one VLAN tag. */
    final int maxFrame;
    /** What the operator allows the VM: its MTU and whether its sources are checked. */
    final PortPolicy policy;
    /** The VM's IPv4 addresses, for port security. */
    final int[] ips;
    /** Frames port security refused, by {@link PortSecurity.Violation}: this port's share of the {@code drop_spoofed_*} counters. */
    private final long[] spoofed = new long[PortSecurity.Violation.values().length];
    /** Streams to other VMs, by destination MAC. */
    final Long2ObjectHashMap<OutStream> streams = new Long2ObjectHashMap<>();
    boolean removed;
    /** The VM was handed over to another host: a standby appearing now is its return, not a local migration. */
    boolean departed;
    /** The VM moving to another copy on this host, or null. */
    LocalMigration local;
    /** The timeline of the migration that just brought the VM here, until its first frame is delivered. */
    MigrationTimeline.Record arrival;
    /**
     * The same timeline until the port wrote the first frame into the guest's ring: QEMU starts the
     * copy's device after its RESUME event, under load often after the HANDOVER_ACK ended the entry.
     */
    MigrationTimeline.Record landed;

    LocalPort(Port port, VirtualNetwork net) {
        this.port = port;
        this.net = net;
        this.mac = port.key().mac();
        this.policy = port.policy();
        this.ips = port.ips().stream().mapToInt(Integer::intValue).toArray();
        this.maxFrame = Math.min(policy.mtu(), net.mtu) + dev.ferry.wire.Ethernet.HEADER_LENGTH + 4;
    }

    boolean hasIp(int ip) {
        for (int mine : ips) if (mine == ip) return true;
        return false;
    }

    void refused(PortSecurity.Violation v) {
        spoofed[v.ordinal()]++;
    }

    public PortPolicy policy() { return policy; }

    /** Frames port security refused from this VM: spoofed MAC, IP, ARP/RARP claims, neighbour discovery. Read by other threads as a possibly stale snapshot. */
    public long spoofedMac() { return spoofed[PortSecurity.Violation.MAC.ordinal()]; }
    public long spoofedIp() { return spoofed[PortSecurity.Violation.IP.ordinal()]; }
    public long spoofedArp() { return spoofed[PortSecurity.Violation.ARP.ordinal()]; }
    public long spoofedNd() { return spoofed[PortSecurity.Violation.ND.ordinal()]; }

    public Port port() { return port; }
    public VmKey key() { return port.key(); }

    OutStream stream(long dst) {
        OutStream s = streams.get(dst);
        if (s == null) {
            s = new OutStream(dst);
            streams.put(dst, s);
        }
        return s;
    }
}
