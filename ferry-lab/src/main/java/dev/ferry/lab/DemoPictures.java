package dev.ferry.lab;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocationLog;
import dev.ferry.agent.MigrationTimeline;
import dev.ferry.lab.timeline.Timeline;
import dev.ferry.lab.timeline.TimelineReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The demo's timeline report: for each migration of its ferry mode, the source's and destination's
 * agents' steps, every other agent's cache turning to the new place, the migration model's
 * stop-and-copy, and the frames reaching the moving VM each millisecond with its longest gap. The
 * demo's agents, VMs and migration model run in one process, on one clock.
 */
final class DemoPictures {
    private static final long MS = 1_000_000;
    private static final long BEFORE = 30 * MS, AFTER = 120 * MS;

    private DemoPictures() {}

    /** Writes the report of {@code scenario}'s migrations, read from {@code agents} once the run is quiet. */
    static Path write(Path dir, Scenario scenario, List<Agent> agents, Demo.Options o) throws IOException {
        List<TimelineReport.Entry> entries = new ArrayList<>();
        int n = 0;
        for (Scenario.MigrationTimes m : scenario.migrationTimes()) {
            n++;
            Timeline t = timeline(n, m, scenario, agents);
            Timeline.Span gap = t.strip().longestGap();
            entries.add(new TimelineReport.Entry(n, List.of(String.valueOf(n), m.vm(), m.from() + "->" + m.to(),
                    String.format(Locale.ROOT, "%.1f ms", (m.resumedNanos() - m.stoppedNanos()) / 1e6),
                    gap == null ? "-" : String.format(Locale.ROOT, "%.0f ms", (gap.toNanos() - gap.fromNanos()) / 1e6)), t));
        }
        return TimelineReport.write(dir, "ferry demo: the ferry mode's migrations", List.of("#", "vm", "move", "stop-and-copy",
                "longest gap (frames to the VM)"), entries, List.of(String.format(Locale.ROOT,
                "%d agents on loopback UDP, %d VMs, %,.0f frames/s in all; pre-copy %d ms, stop-and-copy %d ms. Agents, VMs and the"
                        + " migration model share one process and one clock.", o.hosts(), o.vms(), o.rate(), o.precopyMs(), o.stopMs())));
    }

    private static Timeline timeline(int n, Scenario.MigrationTimes m, Scenario scenario, List<Agent> agents) {
        List<Timeline.Lane> lanes = new ArrayList<>();
        // The source's lane first, then the destination's, then the other agents'.
        List<Agent> ordered = new ArrayList<>(agents);
        ordered.sort(java.util.Comparator.comparingInt(a -> a.hostId() == m.from() ? 0 : a.hostId() == m.to() ? 1 : 2));
        for (Agent a : ordered) {
            int host = a.hostId();
            List<Timeline.Mark> marks = new ArrayList<>();
            String role = host == m.from() ? " (source)" : host == m.to() ? " (destination)" : "";
            for (MigrationTimeline.Past p : a.migrationHistory()) {
                if (p.key().mac() != m.mac() || p.begunNanos() < m.begunNanos() - AFTER || p.begunNanos() > m.resumedNanos()) continue;
                if (!role.contains(p.role())) continue;
                p.nanosAfterBegun().forEach((step, after) ->
                        marks.add(new Timeline.Mark(step.name().toLowerCase(Locale.ROOT), p.begunNanos() + after)));
            }
            for (LocationLog.Change c : a.locationChanges()) {
                if (c.mac() == m.mac() && c.host() == m.to() && c.atNanos() >= m.begunNanos()) {
                    marks.add(new Timeline.Mark("cache: " + m.vm() + " on host " + m.to(), c.atNanos()));
                    break;
                }
            }
            String color = host == m.from() ? "#1f77b4" : host == m.to() ? "#2ca02c" : "#9467bd";
            lanes.add(new Timeline.Lane("host " + host + " agent" + role, color, marks, List.of()));
        }
        lanes.add(new Timeline.Lane("migration model", "#ff7f0e", List.of(new Timeline.Mark("pre-copy began", m.begunNanos()),
                new Timeline.Mark("source stopped", m.stoppedNanos()), new Timeline.Mark("destination resumed", m.resumedNanos())),
                List.of(new Timeline.Span("stop-and-copy", m.stoppedNanos(), m.resumedNanos()))));
        Timeline.Strip strip = arrivals(scenario.flowsTo(m.vm()), m.vm());
        long from = m.stoppedNanos() - BEFORE, to = m.resumedNanos() + AFTER;
        Timeline.Span gap = strip.longestGapWithin(from, to);
        return new Timeline(String.format(Locale.ROOT, "Migration %d: %s, host %d -> host %d", n, m.vm(), m.from(), m.to()),
                String.format(Locale.ROOT, "stop-and-copy %.1f ms; longest gap of the frames to %s in this window %s; pre-copy from %.0f ms"
                                + " before the stop (left of the window)", (m.resumedNanos() - m.stoppedNanos()) / 1e6, m.vm(),
                        gap == null ? "-" : String.format(Locale.ROOT, "%.0f ms", (gap.toNanos() - gap.fromNanos()) / 1e6),
                        (m.stoppedNanos() - m.begunNanos()) / 1e6),
                from, to, lanes, strip.within(from, to));
    }

    /** The frames of every flow to {@code vm}, summed per millisecond. */
    private static Timeline.Strip arrivals(List<FlowStats> flows, String vm) {
        long origin = flows.isEmpty() ? 0 : flows.getFirst().origin();
        int length = 0;
        List<int[]> counts = new ArrayList<>();
        for (FlowStats f : flows) {
            int[] c = f.arrivalsPerMs();
            counts.add(c);
            length = Math.max(length, c.length);
        }
        long[] sum = new long[length];
        for (int[] c : counts) for (int i = 0; i < c.length; i++) sum[i] += c[i];
        return new Timeline.Strip("frames to " + vm + " (per ms)", origin, MS, sum);
    }
}
