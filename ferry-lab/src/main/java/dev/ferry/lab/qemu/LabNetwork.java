package dev.ferry.lab.qemu;

import java.io.IOException;
import java.util.List;

/**
 * What the lab's VMs are plugged into: Ferry (a board and three agents) or the baseline, a Linux
 * bridge. A "host" is a number 1 to 3: an agent, or a TAP per host on the one bridge.
 */
sealed interface LabNetwork extends AutoCloseable permits FerryNetwork, BridgeNetwork {

    /** The NIC for a new copy of VM {@code name} on {@code host}, ready before its QEMU starts. */
    QemuVm.Nic nic(String name, int host, long mac) throws IOException;

    /** The copy's QEMU runs: returns once the network carries its frames (or would, once it runs). */
    void plug(String name, int host, String ip, QemuVm.Nic nic, QemuVm vm) throws Exception;

    /** One line per host on what it did, for the end of a run. */
    List<String> report();

    /** Where {@code lost} frames went, {@code inVm} of them lost inside the VMs by the guests' own count. */
    dev.ferry.lab.LossAccount account(long lost, long inVm);

    /** Frames written to VM {@code name}'s copies so far, read from any thread; null when this network cannot count them. */
    default java.util.function.LongSupplier framesTo(String name) {
        return null;
    }

    /**
     * The newest migration of VM {@code mac} that {@code host}'s agent recorded, begun at or after
     * {@code since} on this process's clock; null when none (or no agents: the bridge).
     */
    default dev.ferry.agent.MigrationTimeline.Past history(int host, long mac, long since) {
        return null;
    }

    /**
     * When {@code host}'s agent first learned, at or after {@code since}, that VM {@code mac} is on
     * host {@code to}: its cache turned to the new path. Null when it did not (or no agents).
     */
    default Long cacheTurned(int host, long mac, int to, long since) {
        return null;
    }

    /** Ends everything this network started; the lab's QEMU processes are already gone. */
    @Override
    void close();
}
