package dev.ferry.agent.port;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.Port;

/**
 * A port backed by an operating-system endpoint (a UDP socket, a TAP device) that the agent's loop
 * polls on every turn. Everything here runs on the agent's thread; the counters are read by others
 * as a possibly slightly stale snapshot.
 */
public interface PolledPort extends Port, AutoCloseable {
    /** Hands the frames the VM sent to {@code agent}; returns how many. */
    int poll(Agent agent, LocalPort handle, long now);

    /**
     * A descriptor that turns readable when the VM has sent something (a TAP device's, a vhost-user
     * port's set of kick eventfds), for the agent's
     * loop to sleep on when idle; -1 when the port can only be polled, and then the loop, while the
     * port is plugged, parks for short times instead of sleeping.
     */
    default int readableFd() {
        return -1;
    }

    /**
     * Called by the loop just before it sleeps on {@link #readableFd}: arranges for what the VM sends
     * next to make that descriptor readable (a vhost-user guest is asked to kick), and says false if
     * something came meanwhile, so the loop polls again instead. Loop's thread.
     */
    default boolean readyToSleep() {
        return true;
    }

    /**
     * Writes to the VM what {@link #deliver} kept back to join (a TAP port's TCP super-frame): the
     * loop calls this at the end of every turn, so nothing delivered waits for the loop's sleep.
     */
    default void flush() {}

    /** "qemu-socket" or "tap". */
    String kind();

    /** Where the VM's side is: a socket address pair or a device name. */
    String describe();

    /** Frames read from the VM. */
    long framesIn();

    /** Frames written to the VM. */
    long framesOut();

    /** Frames read but not taken: from a stranger (QEMU socket) or failed reads. */
    long inDropped();

    /** Frames for the VM that the operating system refused (full buffer, device down). */
    long outDropped();

    /**
     * Times the VM broke the port's protocol beyond one frame (vhost-user: a ring), each stopping that
     * part of the port until the VM resets its device; the agent's other ports are not touched.
     */
    default long faults() {
        return 0;
    }

    /** Reads that carried a TCP super-frame, cut into segments for the overlay (offloading ports only). */
    default long superFramesIn() {
        return 0;
    }

    /**
     * Times the VM was signalled again because it left frames waiting and took none of its buffers
     * back for a while: a signal it missed (vhost-user ports only).
     */
    default long nudges() {
        return 0;
    }

    /** Frames that wait in the port's own queue for the VM now (agent's thread): lost if the port is closed. */
    default int unread() {
        return 0;
    }

    /** Writes that joined segments of one TCP stream into a super-frame for the VM (offloading ports only). */
    default long superFramesOut() {
        return 0;
    }

    @Override
    void close();
}
