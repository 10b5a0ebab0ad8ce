package dev.ferry.agent;

import java.util.List;

/**
 * What an operator allows one VM's port: the largest IP packet it may send or be given, and whether
 * its frames' source addresses are checked (port security, design §6.9). A property of the VM, not of
 * its copy: a migration's destination port is plugged with the same policy as its source.
 *
 * @param mtu          the port's MTU, 68..{@link Port#MAX_MTU}; frames longer than it plus the Ethernet
 *                     header and one VLAN tag are refused both ways and counted ({@code drop_frame_too_long})
 * @param portSecurity the port sends only from its own MAC and, when it has IPs, from those; its
 *                     ARP, RARP and neighbour discovery claim only its own addresses
 */
public record PortPolicy(int mtu, boolean portSecurity) {
    /** The smallest MTU IPv4 allows (RFC 791): a port with less could not carry a whole header. */
    public static final int MIN_MTU = 68;

    public PortPolicy {
        String problem = mtuProblem(mtu);
        if (problem != null) throw new IllegalArgumentException("mtu " + problem);
    }

    /** Why {@code mtu} is not one a port or a VNI may have ("9001 is not in 68..9000"), or null when it is. */
    public static String mtuProblem(Integer mtu) {
        return mtu != null && mtu >= MIN_MTU && mtu <= Port.MAX_MTU ? null : mtu + " is not in " + MIN_MTU + ".." + Port.MAX_MTU;
    }

    /** Jumbo frames, and port security on when the port has IPs (as OVN does once addresses are known). */
    public static PortPolicy defaultsFor(List<Integer> ips) {
        return new PortPolicy(Port.MAX_MTU, !ips.isEmpty());
    }
}
