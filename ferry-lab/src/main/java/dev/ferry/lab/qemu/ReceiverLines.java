package dev.ferry.lab.qemu;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the test VM's receiver ({@code ferry-traffic recv}, lab/vm/ferry-traffic.c) prints on its
 * console, read by the labs that stream sequenced UDP across migrations: a line per hole, late,
 * duplicated frame and long gap, and a summary at the end.
 */
public final class ReceiverLines {
    private static final Pattern HOLE = Pattern.compile("^hole first=(\\d+) last=(\\d+)");
    private static final Pattern LATE = Pattern.compile("^late seq=(\\d+)");
    private static final Pattern DUP = Pattern.compile("^dup seq=(\\d+)");
    private static final Pattern GAP = Pattern.compile("^gap ms=([0-9.]+)");
    /** The receiver's closing line: received, lost, dup, reordered, max_gap_ms (groups 1 to 5). */
    public static final Pattern SUMMARY = Pattern.compile(
            "recv received=(\\d+) lost=(-?\\d+) dup=(\\d+) reordered=(\\d+) max_gap_ms=([0-9.]+)");
    /** Typed into the receiver's shell: its kernel's UDP counters, by name, on one line. */
    public static final String GUEST_UDP_COMMAND = "echo guest-udp $(grep Udp: /proc/net/snmp | head -1 | cut -d' ' -f2-) = "
            + "$(grep Udp: /proc/net/snmp | tail -1 | cut -d' ' -f2-)";
    public static final Pattern GUEST_UDP = Pattern.compile("guest-udp ([A-Za-z ]+) = ([0-9 ]+)");

    private ReceiverLines() {}

    /** Frames lost (holes less those that came late), duplicated, reordered, and the longest gap seen in {@code lines}. */
    public record Counts(long lost, long duplicated, long reordered, double longestGapMs) {}

    public static Counts count(List<String> lines) {
        long lost = 0, dup = 0, late = 0;
        double gap = 0;
        for (String l : lines) {
            Matcher m;
            if ((m = HOLE.matcher(l)).find()) lost += Long.parseLong(m.group(2)) - Long.parseLong(m.group(1)) + 1;
            else if ((m = LATE.matcher(l)).find()) late++;
            else if ((m = DUP.matcher(l)).find()) dup++;
            else if ((m = GAP.matcher(l)).find()) gap = Math.max(gap, Double.parseDouble(m.group(1)));
        }
        return new Counts(lost - late, dup, late, gap);
    }

    /** The guest's {@code Udp:} counters by name, from the line {@link #GUEST_UDP_COMMAND} printed. */
    public static Map<String, Long> guestUdp(Matcher m) {
        String[] names = m.group(1).trim().split(" +"), values = m.group(2).trim().split(" +");
        Map<String, Long> udp = new HashMap<>();
        for (int i = 0; i < Math.min(names.length, values.length); i++) udp.put(names[i], Long.parseLong(values[i]));
        return udp;
    }

    /** The receiver's closing line, from what it printed already or will print within {@code timeoutMillis}. */
    public static Matcher awaitSummary(SerialConsole rx, List<String> lines, long timeoutMillis) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMillis;
        for (int seen = 0; ; ) {
            drainInto(rx, lines);
            for (; seen < lines.size(); seen++) {
                Matcher m = SUMMARY.matcher(lines.get(seen));
                if (m.find()) return m;
            }
            if (System.currentTimeMillis() > deadline) throw new IOException("the receiver never printed its summary");
            Thread.sleep(50);
        }
    }

    /** Moves what {@code console} printed and nobody took into {@code lines} (FERRY_LAB_TRACE=1 echoes it). */
    public static void drainInto(SerialConsole console, List<String> lines) {
        for (String l; (l = console.poll()) != null; ) {
            lines.add(l);
            if (System.getenv("FERRY_LAB_TRACE") != null) System.err.println("    [" + console.name() + "] " + l);
        }
    }
}
