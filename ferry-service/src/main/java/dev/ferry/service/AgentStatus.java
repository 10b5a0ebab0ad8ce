package dev.ferry.service;

import java.util.List;
import java.util.Map;

/**
 * A snapshot of one agent, taken on its event loop: what {@code ferry ctl stats}, {@code ports} and
 * {@code migrations} print and what {@code /metrics} exports.
 *
 * @param counters     every {@link dev.ferry.agent.Counter} by its label (drop reasons are {@code drop_*})
 * @param malformed    malformed datagrams by reason
 * @param transport    the underlay socket's transport: epoll or nio
 * @param underlay     the underlay socket's own counts: send failures, receive errors, unknown hosts,
 *                     commands dropped
 * @param history      the newest migrations' steps (at most {@link dev.ferry.agent.MigrationTimeline#KEPT})
 */
public record AgentStatus(int hostId, String endpoint, String board, String mode, String transport, Map<String, Long> counters,
                          Map<String, Long> malformed, Map<String, Long> underlay, int outstandingBoardCalls, int heldFrames,
                          List<PortStatus> ports, List<MigrationStatus> migrations, List<PastMigration> history) {

    /**
     * One plugged port. {@code faults}: times the VM broke the port's protocol (a vhost-user ring),
     * each stopping that queue until it resets the device. {@code superFramesIn}/{@code superFramesOut}:
     * reads from the VM that carried a TCP super-frame the agent cut into segments, and writes that joined
     * segments into one (TAP ports with offload; 0 elsewhere). {@code nudges}: times a VM that left frames
     * waiting untaken was signalled again (a signal it missed; vhost-user ports). {@code spoofed}: frames port security refused from the VM, by what they
     * claimed falsely (mac, ip, arp, nd).
     */
    public record PortStatus(String id, String type, int vni, String mac, List<String> ips, String where, boolean standby,
                             long framesIn, long framesOut, long inDropped, long outDropped, long faults, long superFramesIn,
                             long superFramesOut, long nudges, int mtu,
                             boolean security, Map<String, Long> spoofed) {}

    /**
     * One of the newest migrations as this agent saw them ({@code ferry ctl migrations --history}):
     * each step's time in milliseconds after its first, on this host's clock, in the order they
     * happened; {@code role} source or destination; {@code outcome} completed, aborted or ongoing.
     */
    public record PastMigration(long migrationId, int vni, String mac, String vm, String role, String outcome,
                                Map<String, Double> stepsMs, long relayed) {}

    /** One row of the migration table. */
    public record MigrationStatus(long migrationId, int vni, String mac, String vm, String role, String phase, int peer,
                                  int bufferedFrames, long bufferedBytes, int egressHeld, long relayedTotal,
                                  long bufferedTotal) {}
}
