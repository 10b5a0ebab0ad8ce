package dev.ferry.lab.timeline;

import java.util.List;
import java.util.Locale;

/**
 * Draws a {@link Timeline} as a standalone SVG: one row per lane (its marks as ticks with their
 * names and milliseconds, its spans as bars), then the frames' arrival strip with its longest gap in red, then the
 * time axis in milliseconds from the picture's start. Plain SVG 1.1 text, no scripts, no external
 * references, so any browser (and the report's test, headless Chromium) shows it as it is.
 */
public final class TimelineSvg {
    /** The gap's fill: a test looks for it in the rendered picture. */
    public static final String GAP_COLOR = "#d62728";
    static final int WIDTH = 1000, LEFT = 200, RIGHT = 30, TOP = 56, LANE = 110, STRIP = 70, AXIS = 40, LABEL_ROWS = 6;

    private TimelineSvg() {}

    public static String render(Timeline t) {
        int height = TOP + t.lanes().size() * LANE + STRIP + AXIS;
        StringBuilder svg = new StringBuilder(8_192);
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\""
                + " font-family=\"sans-serif\" font-size=\"11\">%n", WIDTH, height, WIDTH, height));
        svg.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", WIDTH, height));
        svg.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">%s</text>%n", xml(t.title())));
        svg.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"38\" fill=\"#444\">%s</text>%n", xml(t.caption())));
        int y = TOP;
        for (Timeline.Lane lane : t.lanes()) {
            lane(svg, t, lane, y);
            y += LANE;
        }
        strip(svg, t, y);
        axis(svg, t, y + STRIP);
        svg.append("</svg>\n");
        return svg.toString();
    }

    private static void lane(StringBuilder svg, Timeline t, Timeline.Lane lane, int y) {
        int base = y + LANE - 22;
        svg.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s</text>%n", base + 4, xml(lane.name())));
        svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#bbb\"/>%n", LEFT, base, WIDTH - RIGHT, base));
        for (Timeline.Span s : lane.spans()) {
            double x1 = x(t, s.fromNanos()), x2 = x(t, s.toNanos());
            svg.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"12\" fill=\"%s\" opacity=\"0.6\">"
                    + "<title>%s: %.1f ms</title></rect>%n", x1, base - 6, Math.max(1, x2 - x1), lane.color(), xml(s.label()),
                    (s.toNanos() - s.fromNanos()) / 1e6));
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" fill=\"%s\">%s %.1f ms</text>%n", x1, base + 18, lane.color(),
                    xml(s.label()), (s.toNanos() - s.fromNanos()) / 1e6));
        }
        // Labels stand level, each on the lowest row where it clears the one before it: steps a
        // millisecond apart stay readable instead of printing over each other.
        double[] rowEnds = new double[LABEL_ROWS];
        java.util.Arrays.fill(rowEnds, Double.NEGATIVE_INFINITY);
        List<Timeline.Mark> marks = new java.util.ArrayList<>(lane.marks());
        marks.sort(java.util.Comparator.comparingLong(Timeline.Mark::atNanos));
        for (Timeline.Mark m : marks) {
            if (m.atNanos() < t.fromNanos() || m.atNanos() > t.toNanos()) continue;
            double x = x(t, m.atNanos());
            int row = 0;
            while (row < LABEL_ROWS - 1 && rowEnds[row] > x) row++;
            String label = String.format(Locale.ROOT, "%s %.1f", m.label(), ms(t, m.atNanos()));
            rowEnds[row] = x + 6.2 * label.length() + 6;
            int ly = base - 12 - 13 * row;
            svg.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\">"
                    + "<title>%s at %.2f ms</title></line>%n", x, base - 8, x, base + 8, lane.color(), xml(m.label()), ms(t, m.atNanos())));
            svg.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" stroke-width=\"0.5\"/>%n",
                    x, base - 8, x, ly + 2, lane.color()));
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" fill=\"%s\">%s</text>%n", x + 2, ly, lane.color(), xml(label)));
        }
    }

    private static void strip(StringBuilder svg, Timeline t, int y) {
        Timeline.Strip s = t.strip();
        int base = y + STRIP - 14;
        svg.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s</text>%n", base - 10,
                xml(s == null ? "frames to the VM" : s.name())));
        svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#bbb\"/>%n", LEFT, base, WIDTH - RIGHT, base));
        if (s == null) return;
        long max = 1;
        for (long c : s.counts()) max = Math.max(max, c);
        for (int i = 0; i < s.counts().length; i++) {
            long at = s.startNanos() + i * s.bucketNanos();
            if (s.counts()[i] == 0 || at < t.fromNanos() || at > t.toNanos()) continue;
            double x1 = x(t, at), x2 = x(t, at + s.bucketNanos());
            double h = 4 + 36.0 * s.counts()[i] / max;
            svg.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"#555\"/>%n", x1, base - h,
                    Math.max(0.8, x2 - x1), h));
        }
        Timeline.Span gap = s.longestGap();
        if (gap != null) {
            double x1 = x(t, Math.max(gap.fromNanos(), t.fromNanos())), x2 = x(t, Math.min(gap.toNanos(), t.toNanos()));
            svg.append(String.format(Locale.ROOT, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"40\" fill=\"%s\" opacity=\"0.85\">"
                    + "<title>%s</title></rect>%n", x1, base - 40, Math.max(2, x2 - x1), GAP_COLOR, xml(gap.label())));
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" fill=\"%s\" font-weight=\"bold\">%s</text>%n", x1, base - 44,
                    GAP_COLOR, xml(gap.label())));
        }
    }

    private static void axis(StringBuilder svg, Timeline t, int y) {
        double span = (t.toNanos() - t.fromNanos()) / 1e6;
        double step = niceStep(span / 10);
        svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>%n", LEFT, y, WIDTH - RIGHT, y));
        for (double ms = 0; ms <= span + 1e-9; ms += step) {
            double x = LEFT + (WIDTH - LEFT - RIGHT) * ms / span;
            svg.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x, y, x, y + 5, x, y + 18,
                    step >= 1 ? String.format(Locale.ROOT, "%.0f", ms) : String.format(Locale.ROOT, "%.1f", ms)));
        }
        svg.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"%d\" fill=\"#444\">ms</text>%n", y + 18));
    }

    static double niceStep(double rough) {
        double p = Math.pow(10, Math.floor(Math.log10(Math.max(rough, 1e-3))));
        for (double m : new double[] {1, 2, 5, 10}) if (m * p >= rough) return m * p;
        return 10 * p;
    }

    private static double x(Timeline t, long nanos) {
        double f = (double) (nanos - t.fromNanos()) / (t.toNanos() - t.fromNanos());
        return LEFT + (WIDTH - LEFT - RIGHT) * Math.max(0, Math.min(1, f));
    }

    private static double ms(Timeline t, long nanos) {
        return (nanos - t.fromNanos()) / 1e6;
    }

    /** Text as SVG/HTML character data: guest- and operator-given names are never markup. */
    static String xml(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c < 0x20 && c != '\t' ? ' ' : c);
            }
        }
        return b.toString();
    }
}
