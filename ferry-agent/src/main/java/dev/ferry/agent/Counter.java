package dev.ferry.agent;

import java.util.Locale;

/**
 * Every count an agent keeps. Each way a frame can be dropped has its own name (design §6.4): nothing
 * is ever lost without one of the {@code DROP_*} counters growing.
 */
public enum Counter {
    UNDERLAY_IN, UNDERLAY_OUT, PORT_IN, DELIVERED, CONTROL_IN, CONTROL_OUT,
    /** Frames relayed by an old location to the VM's new one. */
    RELAYED,
    /** Frames kept in a migration buffer (source stopped, or destination still paused). */
    BUFFERED,
    /** Frames held at a new location until their stream's MARKER arrived. */
    HELD,
    /** Frames given to a VM's port that the paused source VM never read, taken back for its new place. */
    TAKEN_BACK,
    MARKERS_SENT, MARKERS_CONSUMED, HINTS_SENT, ARP_ANSWERED, BROADCAST_IN, BROADCAST_OUT,
    MIGRATIONS_COMPLETED, MIGRATIONS_ABORTED,
    /**
     * A VM's virtio ring started on this host's port with its used index behind where the queue takes
     * the next buffer: the VM's memory came without the last buffers a back-end returned (a page its
     * migration did not copy again). Its guest may take a buffer back twice; it should never grow.
     */
    VM_RINGS_BEHIND,
    /** Migrations a destination finished without its source, which stopped answering (design §5). */
    MIGRATIONS_SOURCE_LOST,
    /** Holds released by their bounded wait instead of by the MARKER: order may have been lost. */
    MARKER_WAIT_EXPIRED,
    /** MARKERs no longer resent because no acknowledgement came within ten grace periods. */
    MARKERS_ABANDONED,
    /** Board requests not sent: too many were unanswered already (the board away for long). */
    BOARD_CALLS_REFUSED,
    /**
     * Consumed MARKER tokens not remembered: the VNI already remembers {@link StreamOrder#MAX_TOKENS}
     * (someone planting tokens). Frames awaiting such a token wait out their bounded hold.
     */
    MARKER_TOKENS_REFUSED,
    /** Streams and consumed MARKER tokens left out of a HANDOVER_ACK, more than one carries (order may be lost for them). */
    HANDOVER_ENTRIES_CAPPED,
    DROP_MALFORMED, DROP_UNKNOWN_VNI, DROP_BUFFER_FULL, DROP_BUFFER_EXPIRED, DROP_HOLD_FULL,
    DROP_EGRESS_HOLD_FULL, DROP_UNKNOWN_DESTINATION, DROP_NOT_HERE_FORWARDED, DROP_PORT_NOT_RUNNING,
    /** Frames a VM's port could not take (its queue full: the VM does not keep up, or a frame too large for it). */
    DROP_PORT_FULL,
    /** Frames still waiting for a VM in its port's own queue when the port was unplugged (the VM gone without a migration). */
    DROP_PORT_UNPLUGGED,
    /** Frames a migration entry still kept when it ended (its peer never answered, or gave up). */
    DROP_MIGRATION_ENDED,
    /** A frame from a VM shorter than an Ethernet header. */
    DROP_RUNT_FRAME,
    /** A frame to a destination not known yet, refused: the VNI's frames waiting for look-ups are at their bound (destinations or bytes). */
    DROP_LOOKUP_WAIT_FULL,
    /** A frame longer than its port's MTU allows (plus the Ethernet header and one VLAN tag), or than the underlay can carry. */
    DROP_FRAME_TOO_LONG,
    /** Port security: a frame from a VM whose source MAC is not its port's. */
    DROP_SPOOFED_MAC,
    /** Port security: an IP packet from an address the VM's port does not have (or whose addresses cannot be read). */
    DROP_SPOOFED_IP,
    /** Port security: ARP or RARP from a VM claiming another MAC or IP (ARP poisoning). */
    DROP_SPOOFED_ARP,
    /** Port security: IPv6 neighbour discovery from a VM carrying another MAC. */
    DROP_SPOOFED_ND,
    /** Underlay: a datagram from an endpoint no host registered at the board. */
    DROP_UNKNOWN_PEER,
    /** Underlay: a plaintext datagram from a host that must seal (only static VTEPs may send plaintext), or a sealed one from a host with no key. */
    DROP_UNSEALED,
    /** Underlay: sealed for or by an earlier process (of this agent, or of the sender), or under an epoch out of reach. */
    DROP_SEAL_STALE_KEY,
    /** Underlay: a sealed datagram that failed authentication (forged, corrupted or cut). */
    DROP_SEAL_FORGED,
    /** Underlay: a sealed datagram whose counter was accepted already, or is older than the replay window. */
    DROP_SEAL_REPLAYED,
    /** Underlay: a datagram naming another host as its origin than the one it authenticated as (and not relayed). */
    DROP_ORIGIN_MISMATCH,
    /** Datagrams that waited for a host's underlay key (to a host, or from one, whose registration was not seen yet). */
    KEY_WAITED,
    /** Datagrams waiting for a host's key, refused: the wait holds {@link KeyWait#MAX_DATAGRAMS} or {@link KeyWait#MAX_BYTES}. */
    DROP_KEY_WAIT_FULL,
    /** Datagrams that waited for a host's key longer than {@link KeyWait#WAIT_NANOS}. */
    DROP_KEY_WAIT_EXPIRED,
    /** To send: the destination is an agent that registered no underlay key; one that seals does not speak to it. */
    DROP_PEER_INSECURE;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public boolean isDrop() {
        return name().startsWith("DROP_");
    }
}
