package dev.ferry.agent;

import dev.ferry.board.VmKey;
import org.agrona.collections.Long2ObjectHashMap;

/** A port plugged into this agent, with the agent's per-port state. Handed to the port's driver by {@link Agent#addPort}. */
public final class LocalPort {
    /** The copy of the VM that receives its frames: changes only at a local migration's switch (design §6.7). */
    Port port;
    final VirtualNetwork net;
    final long mac;
    /** The longest frame the VM may send: its MTU, the Ethernet header and one VLAN tag. */
    final int maxFrame;
    /** Streams to other VMs, by destination MAC. */
    final Long2ObjectHashMap<OutStream> streams = new Long2ObjectHashMap<>();
    boolean removed;
    /** The VM was handed over to another host: a standby appearing now is its return, not a local migration. */
    boolean departed;
    /** The VM moving to another copy on this host, or null. */
    LocalMigration local;

    LocalPort(Port port, VirtualNetwork net) {
        this.port = port;
        this.net = net;
        this.mac = port.key().mac();
        this.maxFrame = Math.min(port.mtu(), Port.MAX_MTU) + dev.ferry.wire.Ethernet.HEADER_LENGTH + 4;
    }

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
