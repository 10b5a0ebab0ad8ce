package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ferry lab qemu} as a test: real QEMU VMs live-migrated by QEMU itself while sequenced UDP
 * flows at 1,000 frames/s between them, on Ferry (a board and three agents in this process, learning
 * every step through their QMP detectors) with vhost-user ports and with QEMU socket ports, and on the
 * baseline, a Linux bridge of TAP devices.
 */
class QemuMigrationTest {
    @TempDir
    Path report;

    /**
     * Ten migrations of the receiver, three of the sender, one cancelled halfway, the VMs on vhost-user
     * ports: the agents serve the VMs' virtio rings, so QEMU never holds a frame of theirs. Every frame
     * arrives, none twice, none out of order, and the cancelled migration leaves the receiver where
     * it was. No copy of a VM arrives with memory that lacks the back-end's last writes into its rings.
     */
    @Test
    void vmsLiveMigratedByQemuUnderTrafficLoseDuplicateAndReorderNothing() throws Exception {
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        QemuLab.Result r = run(QemuLab.Options.ferry(10, 3, 1000, true).reportingTo(report), table);
        String said = "the lab printed:\n" + table.toString(StandardCharsets.UTF_8);

        assertThat(r.rows()).as(said).extracting(QemuLab.Row::outcome)
                .containsExactlyElementsOf(concat(Collections.nCopies(13, "completed"), "cancelled"));
        assertThat(r.rows()).as(said).extracting(QemuLab.Row::vm).containsSubsequence("rx", "tx", "tx", "tx", "rx");
        assertThat(r.rows()).as("frames lost per migration; " + said).allSatisfy(row -> assertThat(row.lost()).isZero());
        assertThat(r.lost()).as("lost; " + said).isZero();
        assertThat(r.received()).as("received").isEqualTo(r.sent());
        assertThat(r.duplicated()).as("duplicated; " + said).isZero();
        assertThat(r.reordered()).as("reordered; " + said).isZero();
        assertThat(said).as("every copy of a VM arrived with the used index its last back-end wrote").doesNotContain("vm_rings_behind");
        picturesOfEachMigration(r);
    }

    /**
     * The lab's report of that run: a table and, per completed migration, a picture (well-formed SVG)
     * with the source's and the destination's agents, when the agents' caches turned to the new place,
     * QEMU's downtime and the frames reaching the receiver with the gap.
     */
    private void picturesOfEachMigration(QemuLab.Result r) throws Exception {
        assertThat(report.resolve("index.html")).exists().content().contains("<table>", "migration-1.svg", "migration-14.svg");
        for (QemuLab.Row row : r.rows()) {
            Path svg = report.resolve("migration-" + row.n() + ".svg");
            javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile()); // well-formed, or throws
            if (!row.outcome().equals("completed")) continue;
            assertThat(svg).content().as("migration %d's picture", row.n()).contains("host " + row.from() + " agent (source)",
                    "host " + row.to() + " agent (destination)", "source_stopped", "destination_resumed", "handover_ack_received",
                    "downtime", "frames to rx", "cache: " + row.vm() + " on host " + row.to(), dev.ferry.lab.timeline.TimelineSvg.GAP_COLOR);
        }
    }

    /**
     * The same VMs on QEMU socket ports ({@code -netdev dgram}): what reached QEMU's socket as it
     * paused the VM the agent takes back and sends on, but a frame QEMU itself read while pausing its
     * vCPUs is dropped inside QEMU with its net queue (0, sometimes 1 or 2, per migration). Nothing is
     * duplicated or reordered.
     */
    @Test
    void vmsOnQemuSocketPortsLoseAtMostWhatQemuDropsAtThePause() throws Exception {
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        QemuLab.Result r = run(QemuLab.Options.ferry(2, 1, 1000, false).on(QemuLab.Network.FERRY_QEMU_SOCKET), table);
        String said = "the lab printed:\n" + table.toString(StandardCharsets.UTF_8);

        assertThat(r.rows()).as(said).extracting(QemuLab.Row::outcome).containsExactly("completed", "completed", "completed");
        assertThat(r.droppedInVm()).as("the receiver VM's own socket drops, read from its /proc/net/snmp").isZero();
        assertThat(r.rows()).as("frames lost per migration; " + said).allSatisfy(row -> assertThat(row.lost()).isBetween(0L, 2L));
        assertThat(r.received() + r.lost()).as("received + lost").isEqualTo(r.sent());
        assertThat(r.duplicated()).as("duplicated; " + said).isZero();
        assertThat(r.reordered()).as("reordered; " + said).isZero();
    }

    /**
     * The VM's memory, dumped from both copies once the new one is loaded and held paused, is the same
     * page for page while the agents write frames into the receiver's rings through each migration:
     * nothing the back-end wrote is missing from the copy that goes on.
     */
    @Test
    void aMigratedVmsMemoryArrivesWholeWhileTheAgentsWriteIntoIt() throws Exception {
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        QemuLab.Result r = run(QemuLab.Options.ferry(2, 0, 5000, false).checkingMemory(), table);
        String said = "the lab printed:\n" + table.toString(StandardCharsets.UTF_8);

        assertThat(r.rows()).as(said).extracting(QemuLab.Row::outcome).containsExactly("completed", "completed");
        assertThat(r.rows()).as(said).allSatisfy(row -> {
            assertThat(row.memory()).as("migration %d checked", row.n()).isNotNull();
            assertThat(row.memory().whole()).as("migration %d: %s", row.n(), row.memory()).isTrue();
            assertThat(row.memory().pages()).isEqualTo(QemuVm.MEMORY_BYTES / MemoryCheck.PAGE);
        });
        assertThat(r.lost()).as("lost; " + said).isZero();
    }

    /** Proof that the measure can fail: the same VMs on a Linux bridge lose frames at every migration. */
    @Test
    void theSameMigrationsOnALinuxBridgeLoseFrames() throws Exception {
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        QemuLab.Result r = run(QemuLab.Options.bridge(2, 1, 1000), table);
        String said = "the lab printed:\n" + table.toString(StandardCharsets.UTF_8);
        assertThat(r.rows()).as(said).hasSize(3);
        assertThat(r.lost()).as("lost; " + said).isGreaterThan(10);
    }

    private static java.util.List<String> concat(java.util.List<String> head, String last) {
        var all = new java.util.ArrayList<>(head);
        all.add(last);
        return all;
    }

    private static QemuLab.Result run(QemuLab.Options options, ByteArrayOutputStream table) throws Exception {
        try (QemuLab lab = new QemuLab(options, new PrintStream(table, true, StandardCharsets.UTF_8))) {
            lab.printHeader();
            QemuLab.Result r = lab.run();
            lab.writeReport();
            return r;
        }
    }
}
