package dev.ferry.agent;

import dev.ferry.board.VmKey;
import java.util.List;

/**
 * A local VM's virtual NIC as the agent sees it. Frames the VM sends reach the agent through
 * {@link Agent#onPortFrame}; {@link #deliver} hands a frame to the VM. Implementations: in-process
 * (tests, demo), vhost-user, QEMU socket, TAP.
 */
public interface Port {
    VmKey key();

    String vmId();

    List<Integer> ips();

    /** Jumbo frames: the largest MTU a port may have, and the default. */
    int MAX_MTU = 9_000;

    /** The port's MTU and port security; by default jumbo frames, and port security when it has IPs. */
    default PortPolicy policy() {
        return PortPolicy.defaultsFor(ips());
    }

    /**
     * Delivers one Ethernet frame to the VM. Called on the agent's thread; must not keep {@code buf}.
     * Returns false when the port had to drop it (no room: the VM does not keep up, or a frame it
     * cannot take), so the agent counts it as {@code drop_port_full}: the count outlives the port.
     */
    boolean deliver(byte[] buf, int offset, int length);

    /**
     * Hands back, oldest first, frames {@link #deliver} gave a VM that has now stopped for the last
     * copy of its migration but that it never read (in the hypervisor's socket, or in the port itself
     * when its rings stopped first). Called on the agent's thread when the source stops; most ports
     * cannot tell, and hand back nothing.
     */
    default void takeBackUnread(java.util.function.Consumer<byte[]> frames) {}
}
