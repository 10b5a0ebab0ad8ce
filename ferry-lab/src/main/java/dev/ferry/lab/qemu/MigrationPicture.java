package dev.ferry.lab.qemu;

import dev.ferry.agent.MigrationTimeline;
import dev.ferry.lab.timeline.Timeline;
import dev.ferry.lab.timeline.TimelineReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One migration of {@code ferry lab qemu} as a {@link Timeline}: the source's and the destination's
 * agents' steps (their records, on the lab's clock: the agents run in the lab's process), QEMU's
 * events and downtime (from the source's STOP to the destination's RESUME, by QEMU's own
 * timestamps), and the frames reaching the receiver's ring each millisecond, with the gap.
 */
final class MigrationPicture {
    private static final long MS = 1_000_000;
    /** Time shown on either side of the switchover. */
    private static final long MARGIN = 40 * MS;

    /**
     * What the lab saw of one migration. {@code source}/{@code destination}: the agents' records (null
     * on the bridge); {@code cacheTurned}: per host, when its agent learned the VM's new place.
     */
    record Entry(QemuLab.Row row, long began, long ended, String sourceCopy, String destinationCopy, List<QemuLab.QemuEvent> qemu,
                 MigrationTimeline.Past source, MigrationTimeline.Past destination, Map<Integer, Long> cacheTurned,
                 Timeline.Strip strip) {

        Long qemu(String copy, String what) {
            for (QemuLab.QemuEvent e : qemu) if (e.copy().equals(copy) && e.what().equals(what)) return e.nanos();
            return null;
        }

        /** QEMU's downtime by its events: the source stopped to the destination resumed; null when it did not switch. */
        Timeline.Span downtime() {
            Long stop = qemu(sourceCopy, "STOP"), resume = qemu(destinationCopy, "RESUME");
            return stop == null || resume == null || resume < stop ? null : new Timeline.Span("downtime", stop, resume);
        }

        Timeline.Span gap() {
            return strip == null ? null : strip.longestGap();
        }

        /** The moment {@code host}'s cache learned the VM's new place, as a mark; null if it did not. */
        Timeline.Mark cacheMark(int host) {
            Long at = cacheTurned.get(host);
            return at == null ? null : new Timeline.Mark("cache: " + row.vm() + " on host " + row.to(), at);
        }
    }

    private MigrationPicture() {}

    static Timeline timeline(Entry e) {
        QemuLab.Row r = e.row();
        List<Timeline.Lane> lanes = new ArrayList<>();
        if (e.source() != null) lanes.add(agentLane("host " + r.from() + " agent (source)", "#1f77b4", e.source(), e.cacheMark(r.from())));
        if (e.destination() != null) {
            lanes.add(agentLane("host " + r.to() + " agent (destination)", "#2ca02c", e.destination(), e.cacheMark(r.to())));
        }
        for (int host : e.cacheTurned().keySet()) {
            if (host != r.from() && host != r.to()) {
                lanes.add(new Timeline.Lane("host " + host + " agent", "#9467bd", List.of(e.cacheMark(host)), List.of()));
            }
        }
        List<Timeline.Mark> qemuMarks = new ArrayList<>();
        for (QemuLab.QemuEvent q : e.qemu()) {
            if (q.name().equals("STOP") || q.name().equals("RESUME") || q.what().equals("MIGRATION completed")
                    || q.what().equals("MIGRATION cancelled")) {
                qemuMarks.add(new Timeline.Mark((q.copy().equals(e.sourceCopy()) ? "source " : "destination ") + q.what(), q.nanos()));
            }
        }
        Timeline.Span downtime = e.downtime();
        lanes.add(new Timeline.Lane("QEMU", "#ff7f0e", qemuMarks, downtime == null ? List.of() : List.of(downtime)));

        long from = e.began(), to = e.ended();
        Timeline.Span gap = e.gap();
        if (downtime != null) {
            long lo = downtime.fromNanos(), hi = downtime.toNanos();
            if (gap != null) {
                lo = Math.min(lo, gap.fromNanos());
                hi = Math.max(hi, gap.toNanos());
            }
            for (MigrationTimeline.Past p : new MigrationTimeline.Past[] {e.source(), e.destination()}) {
                if (p == null) continue;
                for (var s : p.nanosAfterBegun().entrySet()) {
                    long at = p.begunNanos() + s.getValue();
                    // The switchover's steps; the lock and PREPARE happen seconds before, at the pre-copy's start.
                    if (at >= downtime.fromNanos() - MARGIN) hi = Math.max(hi, Math.min(at, downtime.toNanos() + 500 * MS));
                }
            }
            from = Math.max(e.began(), lo - MARGIN);
            to = Math.min(e.ended(), hi + MARGIN);
        }
        String caption = String.format(Locale.ROOT, "QEMU downtime %s (query-migrate: %d ms); longest gap at the receiver's ring %s,"
                        + " in the guest %.1f ms; lost %d, duplicated %d, reordered %d; pre-copy and lock before the window",
                downtime == null ? "-" : String.format(Locale.ROOT, "%.1f ms", (downtime.toNanos() - downtime.fromNanos()) / 1e6),
                r.downtimeMs(), gap == null ? "-" : String.format(Locale.ROOT, "%.0f ms", (gap.toNanos() - gap.fromNanos()) / 1e6),
                r.longestGapMs(), r.lost(), r.duplicated(), r.reordered());
        return new Timeline(String.format(Locale.ROOT, "Migration %d: %s, host %d -> host %d, %s", r.n(), r.vm(), r.from(), r.to(), r.outcome()),
                caption, from, to, lanes, e.strip());
    }

    private static Timeline.Lane agentLane(String name, String color, MigrationTimeline.Past p, Timeline.Mark cache) {
        List<Timeline.Mark> marks = new ArrayList<>();
        if (cache != null) marks.add(cache);
        p.nanosAfterBegun().forEach((step, after) -> marks.add(new Timeline.Mark(step.name().toLowerCase(Locale.ROOT), p.begunNanos() + after)));
        return new Timeline.Lane(name, color, marks, List.of());
    }

    /** The run's report: the table (with QEMU's and the ring's figures) and a picture per migration. */
    static Path report(Path dir, String network, QemuLab.Options o, List<Entry> entries) throws IOException {
        List<String> header = List.of("#", "vm", "move", "outcome", "lost", "dup", "reordered", "longest gap (guest)",
                "gap at the ring", "downtime (QEMU events)", "downtime (query-migrate)", "total", "RAM sent", "dirty-log syncs");
        List<TimelineReport.Entry> rows = new ArrayList<>();
        for (Entry e : entries) {
            QemuLab.Row r = e.row();
            Timeline.Span gap = e.gap(), downtime = e.downtime();
            rows.add(new TimelineReport.Entry(r.n(), List.of(String.valueOf(r.n()), r.vm(), r.from() + "->" + r.to(), r.outcome(),
                    String.valueOf(r.lost()), String.valueOf(r.duplicated()), String.valueOf(r.reordered()),
                    String.format(Locale.ROOT, "%.1f ms", r.longestGapMs()), span(gap), span(downtime), r.downtimeMs() + " ms",
                    r.totalMs() + " ms", r.ramBytes() < 0 ? "-" : String.format(Locale.ROOT, "%.1f MB", r.ramBytes() / 1e6),
                    String.valueOf(r.dirtySyncs())), e.source() == null && e.strip() == null ? null : timeline(e)));
        }
        return TimelineReport.write(dir, "ferry lab qemu: " + network, header, rows, List.of(
                String.format(Locale.ROOT, "%d migrations of the receiver, %d of the sender%s, %,d frames/s from sender to receiver.",
                        o.migrations(), o.senderMigrations(), o.abort() ? ", one cancelled" : "", o.rate()),
                "The agents run in the lab's process, so their steps, QEMU's events (by QEMU's timestamps) and the frames"
                        + " written to the receiver's ring (counted every millisecond) are on one clock."));
    }

    private static String span(Timeline.Span s) {
        return s == null ? "-" : String.format(Locale.ROOT, "%.1f ms", (s.toNanos() - s.fromNanos()) / 1e6);
    }
}
