package dev.ferry.lab.timeline;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The lab's timeline pictures: the longest gap is found in the frames' strip, names are text and
 * never markup, and the report, opened in headless Chromium, shows the pictures with the gap in
 * red (and a picture without a gap shows no red, so the check can fail).
 */
class TimelineReportTest {
    private static final long MS = 1_000_000;

    @TempDir
    Path dir;

    @Test
    void theLongestGapIsTheLongestRunOfEmptyBucketsBetweenFrames() {
        Timeline.Strip strip = new Timeline.Strip("frames", 1_000 * MS, MS, new long[] {0, 3, 0, 0, 4, 0, 0, 0, 0, 2, 0});

        Timeline.Span gap = strip.longestGap();

        assertThat(gap.fromNanos()).isEqualTo(1_005 * MS);
        assertThat(gap.toNanos()).isEqualTo(1_009 * MS);
        assertThat(gap.label()).isEqualTo("gap 4 ms");
    }

    @Test
    void aStripWithoutAnEmptyBucketBetweenFramesHasNoGap() {
        assertThat(new Timeline.Strip("frames", 0, MS, new long[] {0, 1, 2, 1, 0}).longestGap()).isNull();
    }

    @Test
    void namesInThePictureAreTextNotMarkup() {
        Timeline t = timeline("<script>alert(1)</script>", true);

        String svg = TimelineSvg.render(t);

        assertThat(svg).doesNotContain("<script>").contains("&lt;script&gt;");
    }

    @Test
    void theReportShowsEachPictureWithItsGapInRedInHeadlessChromium() throws Exception {
        Path index = TimelineReport.write(dir, "Ferry lab: test", List.of("#", "gap"),
                List.of(new TimelineReport.Entry(1, List.of("1", "40 ms"), timeline("migration 1", true))), List.of());
        assertThat(dir.resolve("migration-1.svg")).exists();

        BufferedImage shot = screenshot(index);

        assertThat(redPixels(shot)).as("pixels of the gap's red in the rendered report").isGreaterThan(200);
    }

    @Test
    void aPictureWithoutAGapShowsNoRed() throws Exception {
        Path index = TimelineReport.write(dir, "Ferry lab: test", List.of("#"),
                List.of(new TimelineReport.Entry(1, List.of("1"), timeline("migration 1", false))), List.of());

        assertThat(redPixels(screenshot(index))).isZero();
    }

    /** Source and destination lanes, QEMU's downtime, and a strip of 1 frame per ms with a 40 ms hole when {@code gap}. */
    private static Timeline timeline(String title, boolean gap) {
        long t0 = 5_000 * MS;
        long[] counts = new long[200];
        for (int i = 0; i < counts.length; i++) counts[i] = gap && i >= 80 && i < 120 ? 0 : 1;
        return new Timeline(title, "caption", t0, t0 + 200 * MS, List.of(
                new Timeline.Lane("host 1 (source)", "#1f77b4", List.of(new Timeline.Mark("source_stopped", t0 + 80 * MS),
                        new Timeline.Mark("handover_received", t0 + 110 * MS)), List.of()),
                new Timeline.Lane("host 2 (destination)", "#2ca02c", List.of(new Timeline.Mark("destination_resumed", t0 + 105 * MS)),
                        List.of()),
                new Timeline.Lane("QEMU", "#ff7f0e", List.of(), List.of(new Timeline.Span("downtime", t0 + 80 * MS, t0 + 105 * MS)))),
                new Timeline.Strip("frames to the VM", t0, MS, counts));
    }

    private BufferedImage screenshot(Path page) throws IOException, InterruptedException {
        String chromium = chromium();
        Path png = dir.resolve("shot.png");
        Process p = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--user-data-dir=" + dir.resolve("profile"), "--screenshot=" + png, "--window-size=1100,900", page.toUri().toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("chromium.log").toFile()).start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish within 90 s");
        }
        assertThat(png).as("chromium's screenshot (log: %s)", Files.readString(dir.resolve("chromium.log"))).exists();
        return ImageIO.read(png.toFile());
    }

    private static String chromium() {
        for (String c : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
            if (Files.isExecutable(Path.of(c))) return c;
        }
        throw new AssertionError("no headless Chromium here: scripts/install-deps.sh installs Debian's chromium");
    }

    /** Pixels close to the gap's red (#d62728 at 85% over white), and nothing else in the picture's palette. */
    private static int redPixels(BufferedImage image) {
        int n = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                int rgb = image.getRGB(x, y), r = rgb >> 16 & 0xFF, g = rgb >> 8 & 0xFF, b = rgb & 0xFF;
                if (r > 190 && g < 110 && b < 110) n++;
            }
        }
        return n;
    }
}
