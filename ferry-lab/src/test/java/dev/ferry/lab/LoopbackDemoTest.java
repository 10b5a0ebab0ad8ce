package dev.ferry.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.agent.Mode;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's scenario on real UDP sockets on loopback, each agent on its own event loop. */
class LoopbackDemoTest {
    private static final Demo.Options SHORT = new Demo.Options(3, 6, 6_000, 4, 2_500, 150, 40, List.of(Mode.FERRY, Mode.NAIVE));

    @TempDir
    Path report;

    @Test
    void ferryLosesNothingOverLoopbackUdpWhereNaiveLoses() throws Exception {
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        List<Report> reports = Demo.run(SHORT, new PrintStream(table, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        Report ferry = reports.get(0), naive = reports.get(1);
        assertThat(ferry.migrations()).isEqualTo(4);
        assertThat(ferry.sent()).isGreaterThan(10_000);
        assertThat(ferry.lossless()).as(ferry.toString()).isTrue();
        assertThat(ferry.relayed() + ferry.buffered()).isPositive();
        assertThat(naive.lost()).as(naive.toString()).isPositive();
        assertThat(table.toString(StandardCharsets.UTF_8)).contains("mode", "ferry", "naive", "lost", "reordered");
    }

    @Test
    void theDemoDrawsEachMigrationOfTheFerryModeWithBothAgentsTheStopAndTheFramesToTheVm() throws Exception {
        Demo.Options o = new Demo.Options(3, 6, 6_000, 4, 2_500, 150, 40, List.of(Mode.FERRY), report);
        Demo.run(o, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));

        assertThat(report.resolve("index.html")).content().contains("<table>", "migration-4.svg");
        for (int n = 1; n <= 4; n++) {
            Path svg = report.resolve("migration-" + n + ".svg");
            javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile());
            assertThat(svg).content().as("migration %d's picture", n).contains("agent (source)", "agent (destination)", "source_stopped",
                    "destination_resumed", "first_delivered", "cache: vm", "stop-and-copy", "frames to vm");
        }
    }

    @Test
    void optionsThatCannotFitTheirMigrationsAreRefusedNamingTheFlag() {
        assertThatThrownBy(() -> new Demo.Options(3, 6, 20_000, 12, 1_000, 300, 60, List.of(Mode.FERRY)).validate())
                .hasMessageContaining("--duration-ms");
        assertThatThrownBy(() -> new Demo.Options(1, 6, 20_000, 1, 9_000, 300, 60, List.of(Mode.FERRY)).validate())
                .hasMessageContaining("--hosts");
        assertThatThrownBy(() -> new Demo.Options(3, 5, 20_000, 1, 9_000, 300, 60, List.of(Mode.FERRY)).validate())
                .hasMessageContaining("--vms");
    }
}
