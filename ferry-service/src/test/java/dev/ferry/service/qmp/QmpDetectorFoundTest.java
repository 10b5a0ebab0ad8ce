package dev.ferry.service.qmp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Agent.Found;
import org.junit.jupiter.api.Test;

/**
 * What a restarted agent's QMP detector makes of a copy from QEMU's run state and its outgoing
 * migration's state (the states real QEMU reports are checked in {@code QmpMigrationEventsTest}).
 */
class QmpDetectorFoundTest {
    @Test
    void aRunningCopyThatNeverMigratedRuns() {
        assertThat(QmpDetector.found("running", "")).isEqualTo(Found.RUNNING);
    }

    @Test
    void aRunningCopyWhoseMigrationOutIsActiveIsMigratingOut() {
        assertThat(QmpDetector.found("running", "active")).isEqualTo(Found.MIGRATING_OUT);
        assertThat(QmpDetector.found("running", "setup")).isEqualTo(Found.MIGRATING_OUT);
    }

    @Test
    void aRunningCopyWhoseLastMigrationFailedOrWasCancelledRuns() {
        assertThat(QmpDetector.found("running", "failed")).isEqualTo(Found.RUNNING);
        assertThat(QmpDetector.found("running", "cancelled")).isEqualTo(Found.RUNNING);
    }

    @Test
    void aCopyPausedForItsLastCopyOrDoneMigratingIsStopped() {
        assertThat(QmpDetector.found("finish-migrate", "active")).isEqualTo(Found.STOPPED);
        assertThat(QmpDetector.found("paused", "device")).isEqualTo(Found.STOPPED);
        assertThat(QmpDetector.found("postmigrate", "completed")).isEqualTo(Found.STOPPED);
    }

    @Test
    void aCopyAnOperatorPausedWithoutAMigrationCountsAsRunning() {
        // Its record is its own: it takes frames again when resumed, as any paused VM does.
        assertThat(QmpDetector.found("paused", "")).isEqualTo(Found.RUNNING);
    }
}
