package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Agent;
import dev.ferry.service.qmp.QmpClient;
import dev.ferry.service.qmp.QmpDetector;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * What a QMP detector hears from a real QEMU (the test VM, under TCG) during a completed, a failed and
 * a cancelled live migration over TCP on loopback: the events and their order, source and destination.
 */
class QmpMigrationEventsTest {
    private static VmImage image;
    private Path dir;
    private final List<QemuVm> vms = new ArrayList<>();
    private final List<String> source = new CopyOnWriteArrayList<>();
    private final List<String> destination = new CopyOnWriteArrayList<>();
    private QemuVm src;
    private QemuVm dst;
    private int migrationPort;

    @BeforeAll
    static void image() throws Exception {
        image = VmImage.ensure();
    }

    @BeforeEach
    void twoCopies() throws Exception {
        dir = Files.createTempDirectory("ferry-qmp");
        migrationPort = LoopbackPorts.tcp();
        QemuVm.Nic nic = new QemuVm.Dgram(0x525400000001L, new InetSocketAddress("127.0.0.1", LoopbackPorts.tcp()),
                new InetSocketAddress("127.0.0.1", LoopbackPorts.tcp()));
        src = started(QemuVm.start(image, "src", "198.18.0.1/24", nic, dir, 0));
        src.await(Pattern.compile("ferry-vm: ready"), 30_000);
        dst = started(QemuVm.start(image, "dst", "198.18.0.1/24", nic, dir, migrationPort));
        for (var pair : List.of(Map.entry(src, source), Map.entry(dst, destination))) {
            QmpClient detector = QmpClient.connect(pair.getKey().agentQmpSocket(), e -> pair.getValue().add(describe(e)));
            detector.execute("migrate-set-capabilities", Map.of("capabilities", List.of(Map.of("capability", "events", "state", true))));
            closeLater(detector);
        }
    }

    private final List<AutoCloseable> closeables = new ArrayList<>();

    private void closeLater(AutoCloseable c) {
        closeables.add(c);
    }

    private QemuVm started(QemuVm vm) {
        vms.add(vm);
        return vm;
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closeables) c.close();
        for (QemuVm vm : vms) vm.close();
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) Files.deleteIfExists(f);
        }
        Files.deleteIfExists(dir);
    }

    private static String describe(QmpClient.Event e) {
        return e.name().equals("MIGRATION") ? "MIGRATION " + e.status() : e.name();
    }

    @Test
    void aCompletedMigrationStopsTheSourceAndResumesTheDestination() throws Exception {
        src.qmp(e -> {}).execute("migrate", Map.of("uri", "tcp:127.0.0.1:" + migrationPort));
        awaitEvent(source, "MIGRATION completed");
        awaitEvent(destination, "MIGRATION completed");

        assertThat(source).containsSubsequence("MIGRATION setup", "MIGRATION active", "STOP", "MIGRATION completed");
        assertThat(source).doesNotContain("RESUME", "MIGRATION failed", "MIGRATION cancelled");
        // QEMU starts the incoming copy before it marks the migration completed (process_incoming_migration_bh):
        // on the destination, RESUME is the moment the copy runs.
        assertThat(destination).containsSubsequence("MIGRATION active", "RESUME", "MIGRATION completed");
        assertThat(destination).doesNotContain("STOP");
        // What a restarted agent's detector would make of each copy now.
        assertThat(found(src)).isEqualTo(Agent.Found.STOPPED);
        assertThat(found(dst)).isEqualTo(Agent.Found.RUNNING);
    }

    private static Agent.Found found(QemuVm vm) throws Exception {
        QmpClient probe = vm.qmp(e -> {});
        return QmpDetector.found(probe.execute("query-status").path("status").asText(),
                probe.execute("query-migrate").path("status").asText(""));
    }

    @Test
    void aMigrationNobodyReceivesFailsAndTheSourceNeverStops() throws Exception {
        src.qmp(e -> {}).execute("migrate", Map.of("uri", "tcp:127.0.0.1:" + LoopbackPorts.tcp()));
        awaitEvent(source, "MIGRATION failed");

        assertThat(source).containsSubsequence("MIGRATION setup", "MIGRATION failed");
        assertThat(source).doesNotContain("STOP", "MIGRATION completed");
        assertThat(destination).isEmpty();
    }

    @Test
    void aCancelledMigrationEndsCancelledAndTheSourceRunsOn() throws Exception {
        QmpClient lab = src.qmp(e -> {});
        lab.execute("migrate-set-parameters", Map.of("max-bandwidth", 256 * 1024));
        lab.execute("migrate", Map.of("uri", "tcp:127.0.0.1:" + migrationPort));
        awaitEvent(source, "MIGRATION active");
        assertThat(QmpDetector.found(lab.execute("query-status").path("status").asText(),
                lab.execute("query-migrate").path("status").asText(""))).isEqualTo(Agent.Found.MIGRATING_OUT);
        lab.execute("migrate_cancel");
        awaitEvent(source, "MIGRATION cancelled");

        assertThat(source).containsSubsequence("MIGRATION setup", "MIGRATION active", "MIGRATION cancelling", "MIGRATION cancelled");
        assertThat(source).doesNotContain("STOP", "MIGRATION completed");
        assertThat(lab.execute("query-status").path("status").asText()).isEqualTo("running");
    }

    private static void awaitEvent(List<String> events, String event) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 60_000;
        while (!events.contains(event) && System.currentTimeMillis() < deadline) Thread.sleep(20);
        assertThat(events).as("events so far").contains(event);
    }
}
