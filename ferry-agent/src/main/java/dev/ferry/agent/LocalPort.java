package dev.ferry.agent;

import dev.ferry.board.VmKey;
import org.agrona.collections.Long2ObjectHashMap;

/** A port plugged into this agent, with the agent's per-port state. Handed to the port's driver by {@link Agent#addPort}. */
public final class LocalPort {
    final Port port;
    final VirtualNetwork net;
    final long mac;
    /** Streams to other VMs, by destination MAC. */
    final Long2ObjectHashMap<OutStream> streams = new Long2ObjectHashMap<>();
    boolean removed;

    LocalPort(Port port, VirtualNetwork net) {
        this.port = port;
        this.net = net;
        this.mac = port.key().mac();
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
