package dev.ferry.service;

import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Map;
import java.util.function.Supplier;

/**
 * An agent's Prometheus metrics, read from one {@link AgentStatus} snapshot per scrape (taken on the
 * agent's loop, so every figure of a scrape is from the same instant). Every drop reason of design
 * §6.4 is a {@code reason} of {@code ferry_agent_drops_total}.
 */
final class AgentMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Supplier<AgentStatus> snapshotSource;
    private volatile AgentStatus current;

    AgentMetrics(Supplier<AgentStatus> snapshot) {
        this.snapshotSource = snapshot;
        CounterWithCallback.builder().name("ferry_agent_frames").help("Frames and control messages by what happened to them")
                .labelNames("event").callback(cb -> each(s -> s.counters(), (k, v) -> {
                    if (!k.startsWith("drop_") && !k.startsWith("migrations_")) cb.call(v, k);
                })).register(registry);
        CounterWithCallback.builder().name("ferry_agent_drops").help("Frames dropped, by reason (design §6.4)")
                .labelNames("reason").callback(cb -> each(s -> s.counters(), (k, v) -> {
                    if (k.startsWith("drop_")) cb.call(v, k.substring("drop_".length()));
                })).register(registry);
        CounterWithCallback.builder().name("ferry_agent_malformed").help("Malformed underlay datagrams, by reason")
                .labelNames("reason").callback(cb -> each(AgentStatus::malformed, (k, v) -> cb.call(v, k))).register(registry);
        CounterWithCallback.builder().name("ferry_agent_migrations").help("Migrations this agent took part in, by outcome")
                .labelNames("outcome").callback(cb -> {
                    AgentStatus s = current;
                    cb.call(s.counters().get("migrations_completed"), "completed");
                    cb.call(s.counters().get("migrations_aborted"), "aborted");
                }).register(registry);
        CounterWithCallback.builder().name("ferry_agent_underlay_errors").help("Datagrams lost at the underlay socket and errors the loop survived, by kind (send failures, receive errors, unknown hosts, commands dropped, kernel drops, loop errors, ports faulted)")
                .labelNames("kind").callback(cb -> each(AgentStatus::underlay, (k, v) -> cb.call(v, k))).register(registry);
        CounterWithCallback.builder().name("ferry_port_frames").help("Frames through a VM's port, by direction")
                .labelNames("port", "direction").callback(cb -> current.ports().forEach(p -> {
                    cb.call(p.framesIn(), p.id(), "in");
                    cb.call(p.framesOut(), p.id(), "out");
                })).register(registry);
        CounterWithCallback.builder().name("ferry_port_drops").help("Frames a port could not take from or give to its VM")
                .labelNames("port", "direction").callback(cb -> current.ports().forEach(p -> {
                    cb.call(p.inDropped(), p.id(), "in");
                    cb.call(p.outDropped(), p.id(), "out");
                })).register(registry);
        CounterWithCallback.builder().name("ferry_port_nudges").help("Times a VM that left frames waiting untaken was signalled again (a signal it missed)")
                .labelNames("port").callback(cb -> current.ports().forEach(p -> cb.call(p.nudges(), p.id()))).register(registry);
        CounterWithCallback.builder().name("ferry_port_faults").help("Times a VM broke its port's protocol (a vhost-user ring), each stopping that queue until the VM resets its device")
                .labelNames("port").callback(cb -> current.ports().forEach(p -> cb.call(p.faults(), p.id()))).register(registry);
        CounterWithCallback.builder().name("ferry_port_spoofed").help("Frames port security refused from a VM, by what they claimed falsely (mac, ip, arp, nd)")
                .labelNames("port", "claim").callback(cb -> current.ports().forEach(p -> p.spoofed().forEach((claim, n) -> cb.call(n, p.id(), claim))))
                .register(registry);
        GaugeWithCallback.builder().name("ferry_agent_migrations_active").help("Rows of the migration table, by role")
                .labelNames("role").callback(cb -> {
                    for (String role : new String[] {"source", "destination"}) {
                        cb.call(current.migrations().stream().filter(m -> m.role().equals(role)).count(), role);
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("ferry_agent_buffer_frames").help("Frames in migration buffers now")
                .callback(cb -> cb.call(current.migrations().stream().mapToLong(m -> m.bufferedFrames()).sum()))
                .register(registry);
        GaugeWithCallback.builder().name("ferry_agent_buffer_bytes").help("Bytes in migration buffers now")
                .callback(cb -> cb.call(current.migrations().stream().mapToLong(m -> m.bufferedBytes()).sum()))
                .register(registry);
        GaugeWithCallback.builder().name("ferry_agent_held_frames").help("Frames held behind MARKERs now")
                .callback(cb -> cb.call(current.heldFrames())).register(registry);
        GaugeWithCallback.builder().name("ferry_agent_board_calls_outstanding").help("Board requests not answered yet")
                .callback(cb -> cb.call(current.outstandingBoardCalls())).register(registry);
        GaugeWithCallback.builder().name("ferry_agent_ports").help("Ports plugged in")
                .callback(cb -> cb.call(current.ports().size())).register(registry);
    }

    PrometheusRegistry registry() {
        return registry;
    }

    /**
     * How long each phase of a migration took on this agent, each phase of a migration that ended
     * observed once, when both its steps are there (from the timeline the agent keeps: its own clock,
     * each side apart).
     */
    private final io.prometheus.metrics.core.metrics.Histogram phases = io.prometheus.metrics.core.metrics.Histogram.builder()
            .name("ferry_migration_phase_seconds")
            .help("Phases of the migrations this agent took part in, on its own clock: source lock (asked to granted), precopy"
                    + " (begun to stopped), stopped_to_handover, unlock (asked to applied); destination incoming (plugged to resumed),"
                    + " resumed_to_settled (to the HANDOVER_ACK), resumed_to_first_frame (to the first frame handed to the VM:"
                    + " the part of the VM's gap after it runs), resumed_to_first_in_ring (vhost-user ports: to the first frame"
                    + " written into the guest's ring)")
            .labelNames("phase").classicOnly()
            .classicUpperBounds(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)
            .register(registry);
    /** Phases already observed (role, id, MAC, phase), the newest few thousand: each is observed once. */
    private final java.util.LinkedHashSet<String> observed = new java.util.LinkedHashSet<>();
    private static final String[][] PHASES = {
            {"source", "lock", "lock_asked", "lock_granted"},
            {"source", "precopy", "begun", "source_stopped"},
            {"source", "stopped_to_handover", "source_stopped", "handover_received"},
            {"source", "unlock", "unlock_asked", "unlock_applied"},
            {"destination", "incoming", "begun", "destination_resumed"},
            {"destination", "resumed_to_settled", "destination_resumed", "handover_ack_received"},
            {"destination", "resumed_to_first_frame", "destination_resumed", "first_delivered"},
            {"destination", "resumed_to_first_in_ring", "destination_resumed", "first_in_ring"}};

    /** Takes the snapshot the next scrape reads, and observes the phases of migrations that ended since. */
    synchronized void refresh() {
        current = snapshotSource.get();
        for (AgentStatus.PastMigration m : current.history()) {
            if (m.outcome().equals("ongoing")) continue;
            for (String[] p : PHASES) {
                Double from = m.stepsMs().get(p[2]), to = m.stepsMs().get(p[3]);
                if (!p[0].equals(m.role()) || from == null || to == null || to < from) continue;
                // Each phase once, when both its steps are there: a destination's first frame often
                // comes after its entry ended, and is observed at a later scrape.
                if (!observed.add(m.role() + " " + m.migrationId() + " " + m.mac() + " " + p[1])) continue;
                if (observed.size() > 4 * dev.ferry.agent.MigrationTimeline.KEPT * PHASES.length) observed.removeFirst();
                phases.labelValues(p[1]).observe((to - from) / 1_000.0);
            }
        }
    }

    private void each(java.util.function.Function<AgentStatus, Map<String, Long>> part,
                      java.util.function.BiConsumer<String, Long> action) {
        part.apply(current).forEach(action);
    }
}
