package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The phases of each ended migration reach Prometheus once, however often it scrapes. */
class AgentMetricsTest {
    private List<AgentStatus.PastMigration> history = List.of();
    private final AgentMetrics metrics = new AgentMetrics(() -> new AgentStatus(1, "127.0.0.1:6081", "b", "ferry", "nio",
            Map.of("migrations_completed", 0L, "migrations_aborted", 0L), Map.of(), Map.of(), 0, 0, List.of(), List.of(), history));

    private static AgentStatus.PastMigration source(long id, String outcome, double stoppedMs, double handoverMs) {
        Map<String, Double> steps = new LinkedHashMap<>();
        steps.put("begun", 0.0);
        steps.put("lock_asked", 0.1);
        steps.put("lock_granted", 2.1);
        steps.put("source_stopped", stoppedMs);
        steps.put("handover_received", handoverMs);
        return new AgentStatus.PastMigration(id, 100, "52:54:00:00:00:01", "vm", "source", outcome, steps, 3);
    }

    private String scrape() throws Exception {
        metrics.refresh();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, metrics.registry().scrape());
        return out.toString();
    }

    @Test
    void eachEndedMigrationsPhasesAreObservedOnceAndOngoingOnesNotYet() throws Exception {
        history = List.of(source(1, "completed", 300, 345), source(2, "ongoing", 100, 120));
        scrape();
        String text = scrape();

        assertThat(text).contains("ferry_migration_phase_seconds_count{phase=\"precopy\"} 1")
                .contains("ferry_migration_phase_seconds_sum{phase=\"precopy\"} 0.3")
                .contains("ferry_migration_phase_seconds_count{phase=\"lock\"} 1")
                .contains("ferry_migration_phase_seconds_count{phase=\"stopped_to_handover\"} 1");

        history = List.of(source(1, "completed", 300, 345), source(2, "completed", 100, 120));
        assertThat(scrape()).contains("ferry_migration_phase_seconds_count{phase=\"precopy\"} 2");
    }

    @Test
    void aDestinationsFirstFrameAfterItsEntryEndedIsObservedAtTheNextScrape() throws Exception {
        Map<String, Double> steps = new LinkedHashMap<>();
        steps.put("begun", 0.0);
        steps.put("destination_resumed", 200.0);
        steps.put("handover_ack_received", 203.0);
        steps.put("ended", 203.0);
        history = List.of(new AgentStatus.PastMigration(7, 100, "52:54:00:00:00:01", "vm", "destination", "completed", steps, 0));
        assertThat(scrape()).contains("ferry_migration_phase_seconds_count{phase=\"resumed_to_settled\"} 1")
                .doesNotContain("phase=\"resumed_to_first_frame\"} 1");

        Map<String, Double> later = new LinkedHashMap<>(steps);
        later.put("first_delivered", 207.0);
        history = List.of(new AgentStatus.PastMigration(7, 100, "52:54:00:00:00:01", "vm", "destination", "completed", later, 0));
        String text = scrape();

        assertThat(text).contains("ferry_migration_phase_seconds_count{phase=\"resumed_to_first_frame\"} 1")
                .contains("ferry_migration_phase_seconds_sum{phase=\"resumed_to_first_frame\"} 0.007")
                .contains("ferry_migration_phase_seconds_count{phase=\"resumed_to_settled\"} 1");
    }
}
