package dev.ferry.service.libvirt;

import static dev.ferry.service.libvirt.MigrationTracker.RESUMED;
import static dev.ferry.service.libvirt.MigrationTracker.RESUMED_MIGRATED;
import static dev.ferry.service.libvirt.MigrationTracker.RESUMED_POSTCOPY;
import static dev.ferry.service.libvirt.MigrationTracker.STARTED;
import static dev.ferry.service.libvirt.MigrationTracker.STARTED_MIGRATED;
import static dev.ferry.service.libvirt.MigrationTracker.STOPPED;
import static dev.ferry.service.libvirt.MigrationTracker.SUSPENDED;
import static dev.ferry.service.libvirt.MigrationTracker.SUSPENDED_MIGRATED;
import static dev.ferry.service.libvirt.MigrationTracker.SUSPENDED_POSTCOPY;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.service.MigrationStep;
import org.junit.jupiter.api.Test;

/**
 * libvirt's events, as libvirt 9 sends them for a migration (seen with {@code virsh event --all} on
 * both daemons of the real-libvirt test), and the migration steps they mean.
 */
class MigrationTrackerTest {
    private static final int STOPPED_MIGRATED = 3, STOPPED_DESTROYED = 1, SUSPENDED_PAUSED = 0, RESUMED_UNPAUSED = 0;
    private final MigrationTracker source = new MigrationTracker();
    private final MigrationTracker destination = new MigrationTracker();

    @Test
    void theFirstMigrationPassIsTheBeginAndLaterPassesAreNothing() {
        assertThat(source.onIteration()).isEqualTo(MigrationStep.BEGIN);
        assertThat(source.onIteration()).isNull();
        assertThat(source.watchesJob()).isTrue();
    }

    @Test
    void thePauseForTheLastCopyIsTheSourceStopping() {
        source.onIteration();

        assertThat(source.onLifecycle(SUSPENDED, SUSPENDED_MIGRATED)).containsExactly(MigrationStep.STOPPED);
        assertThat(source.onIteration()).as("the pass after the pause").isNull();
        assertThat(source.onLifecycle(STOPPED, STOPPED_MIGRATED)).isEmpty();
        assertThat(source.state()).isEqualTo(MigrationTracker.State.IDLE);
    }

    @Test
    void aPauseWhosePassesWentUnseenIsTheBeginAndTheStopAtOnce() {
        assertThat(source.onLifecycle(SUSPENDED, SUSPENDED_MIGRATED)).containsExactly(MigrationStep.BEGIN, MigrationStep.STOPPED);
    }

    @Test
    void aPostCopySwitchIsTheSourceStoppingAndTheDestinationResuming() {
        source.onIteration();
        destination.onLifecycle(STARTED, STARTED_MIGRATED);

        assertThat(source.onLifecycle(SUSPENDED, SUSPENDED_POSTCOPY)).containsExactly(MigrationStep.STOPPED);
        assertThat(destination.onLifecycle(RESUMED, RESUMED_POSTCOPY)).containsExactly(MigrationStep.RESUMED);
    }

    @Test
    void theIncomingCopyRunningIsTheDestinationResuming() {
        assertThat(destination.onLifecycle(STARTED, STARTED_MIGRATED)).isEmpty();
        assertThat(destination.state()).isEqualTo(MigrationTracker.State.INCOMING);

        assertThat(destination.onLifecycle(RESUMED, RESUMED_MIGRATED)).containsExactly(MigrationStep.RESUMED);
    }

    @Test
    void aJobThatEndsBeforeThePauseIsAnAbort() {
        source.onIteration();

        assertThat(source.onJobEnded(MigrationTracker.Here.RUNNING)).isEqualTo(MigrationStep.ABORT);
        assertThat(source.watchesJob()).isFalse();
        assertThat(source.onIteration()).as("the next migration begins afresh").isEqualTo(MigrationStep.BEGIN);
    }

    @Test
    void theSourceRunningAgainAfterThePauseIsAnAbort() {
        source.onIteration();
        source.onLifecycle(SUSPENDED, SUSPENDED_MIGRATED);

        assertThat(source.onJobEnded(MigrationTracker.Here.GONE)).as("the job's end alone says nothing once paused").isNull();
        assertThat(source.onLifecycle(RESUMED, RESUMED_MIGRATED)).containsExactly(MigrationStep.ABORT);
    }

    @Test
    void anOperatorsSuspendAndResumeAreNoMigration() {
        assertThat(source.onLifecycle(SUSPENDED, SUSPENDED_PAUSED)).isEmpty();
        assertThat(source.onLifecycle(RESUMED, RESUMED_UNPAUSED)).isEmpty();
        assertThat(source.state()).isEqualTo(MigrationTracker.State.IDLE);
    }

    @Test
    void aSuspendDuringPreCopyIsNotTheSwitchOver() {
        source.onIteration();

        assertThat(source.onLifecycle(SUSPENDED, SUSPENDED_PAUSED)).isEmpty();
        assertThat(source.onLifecycle(RESUMED, RESUMED_UNPAUSED)).isEmpty();
        assertThat(source.state()).isEqualTo(MigrationTracker.State.MIGRATING_OUT);
    }

    @Test
    void aDomainDestroyedWhileMigratingOutForgetsTheMigration() {
        source.onIteration();

        assertThat(source.onLifecycle(STOPPED, STOPPED_DESTROYED)).isEmpty();
        assertThat(source.watchesJob()).isFalse();
    }

    @Test
    void aJobThatEndsWithTheDomainGoneIsTheSourceStoppingNeverAnAbort() {
        source.onIteration();

        assertThat(source.onJobEnded(MigrationTracker.Here.GONE)).isEqualTo(MigrationStep.STOPPED);
        assertThat(source.onLifecycle(SUSPENDED, SUSPENDED_MIGRATED)).as("its pause event, answered after the job query").isEmpty();
        assertThat(source.onLifecycle(STOPPED, STOPPED_MIGRATED)).isEmpty();
        assertThat(source.state()).isEqualTo(MigrationTracker.State.IDLE);
    }

    @Test
    void aJobWhoseDomainStateCannotBeReadIsWatchedOn() {
        source.onIteration();

        assertThat(source.onJobEnded(MigrationTracker.Here.UNKNOWN)).isNull();
        assertThat(source.watchesJob()).isTrue();
    }

    @Test
    void aPausedSourceFoundRunningAfterLibvirtdRestartedIsAnAbort() {
        source.onIteration();
        source.onLifecycle(SUSPENDED, SUSPENDED_MIGRATED);

        assertThat(source.onReconnected(MigrationTracker.Here.RUNNING)).containsExactly(MigrationStep.ABORT);
        assertThat(source.onIteration()).as("the next migration begins afresh").isEqualTo(MigrationStep.BEGIN);
    }

    @Test
    void aPausedSourceFoundGoneAfterLibvirtdRestartedIsDoneHere() {
        source.onIteration();
        source.onLifecycle(SUSPENDED, SUSPENDED_MIGRATED);

        assertThat(source.onReconnected(MigrationTracker.Here.GONE)).isEmpty();
        assertThat(source.state()).isEqualTo(MigrationTracker.State.IDLE);
    }

    @Test
    void anIncomingCopyFoundRunningAfterLibvirtdRestartedIsTheDestinationResuming() {
        destination.onLifecycle(STARTED, STARTED_MIGRATED);

        assertThat(destination.onReconnected(MigrationTracker.Here.PAUSED)).as("still paused: nothing missed").isEmpty();
        assertThat(destination.onReconnected(MigrationTracker.Here.RUNNING)).containsExactly(MigrationStep.RESUMED);
    }

    @Test
    void aDomainRunningWithoutAMigrationIsLeftAloneAfterLibvirtdRestarted() {
        assertThat(source.onReconnected(MigrationTracker.Here.RUNNING)).isEmpty();
        source.onIteration();
        assertThat(source.onReconnected(MigrationTracker.Here.RUNNING)).as("a migration out is the job watch's").isEmpty();
        assertThat(source.watchesJob()).isTrue();
    }

    @Test
    void libvirtsDomainStatesMapOntoWhatTheTrackerAsks() {
        assertThat(java.util.stream.IntStream.rangeClosed(0, 8).mapToObj(MigrationTracker.Here::of)).containsExactly(
                MigrationTracker.Here.UNKNOWN, MigrationTracker.Here.RUNNING, MigrationTracker.Here.RUNNING, MigrationTracker.Here.PAUSED,
                MigrationTracker.Here.RUNNING, MigrationTracker.Here.GONE, MigrationTracker.Here.GONE, MigrationTracker.Here.PAUSED,
                MigrationTracker.Here.UNKNOWN);
    }
}
