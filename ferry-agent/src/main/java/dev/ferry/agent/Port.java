package dev.ferry.agent;

import dev.ferry.board.VmKey;
import java.util.List;

/**
 * A local VM's virtual NIC as the agent sees it. Frames the VM sends reach the agent through
 * {@link Agent#onPortFrame}; {@link #deliver} hands a frame to the VM. Implementations: in-process
 * (tests, demo), QEMU socket, TAP.
 */
public interface Port {
    VmKey key();

    String vmId();

    List<Integer> ips();

    /** Delivers one Ethernet frame to the VM. Called on the agent's thread; must not keep {@code buf}. */
    void deliver(byte[] buf, int offset, int length);
}
