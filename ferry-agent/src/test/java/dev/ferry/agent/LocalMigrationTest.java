package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.agent.MigrationEvent.*;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.VmKey;
import org.junit.jupiter.api.Test;

/**
 * A VM migrated to the host it is on, as QEMU's local migration does for an upgrade (design §6.7):
 * two copies behind one port of one agent, and nothing lost, duplicated or reordered between them.
 */
class LocalMigrationTest {
    static final long A = 0x52_54_00_00_00_0AL, R = 0x52_54_00_00_00_0CL, L = 0x52_54_00_00_00_0EL;
    static final long MIG = 700;

    final AgentHarness h = new AgentHarness(Mode.FERRY);
    final TestPort old = h.localVm(A);
    final TestPort fresh = new TestPort(A);

    @Test
    void theOldCopyReceivesUntilItStopsAndNeitherTheBoardNorAPeerIsAsked() {
        long before = h.asked.size();
        h.event(new StandbyAppeared(fresh, MIG));
        h.event(new Started(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);

        assertThat(old.seqs()).containsExactly(1L);
        assertThat(fresh.seqs()).isEmpty();
        assertThat(h.asked.subList((int) before, h.asked.size())).noneMatch(r -> r instanceof BoardRequest.LockRecord
                || r instanceof BoardRequest.Attach);
        assertThat(h.sent).isEmpty();
        assertThat(h.board.record(new VmKey(VNI, A)).hostId()).isEqualTo(SELF);
    }

    @Test
    void framesArrivingWhileNeitherCopyRunsWaitAndReachTheNewCopyFirstInOrder() {
        migrateUntilStopped();
        for (long seq = 2; seq <= 4; seq++) h.receive(2, R, A, seq, 0, 0);
        assertThat(old.seqs()).containsExactly(1L);
        assertThat(fresh.seqs()).isEmpty();

        h.event(new DestinationResumed(VNI, A, MIG));
        h.receive(2, R, A, 5, 0, 0);

        assertThat(fresh.seqs()).containsExactly(2L, 3L, 4L, 5L);
        assertThat(old.seqs()).containsExactly(1L);
    }

    @Test
    void whatTheOldCopyWasGivenAndNeverReadLeadsTheHeldFrames() {
        h.event(new StandbyAppeared(fresh, MIG));
        h.event(new Started(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        old.unread.add(old.delivered.removeLast());
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(2, R, A, 2, 0, 0);
        h.event(new DestinationResumed(VNI, A, MIG));

        assertThat(fresh.seqs()).containsExactly(1L, 2L);
        assertThat(h.count(Counter.TAKEN_BACK)).isEqualTo(1);
    }

    @Test
    void theNewCopySendsThroughTheSamePortAndAnotherLocalVmReachesIt() {
        TestPort other = h.localVm(L);
        migrateUntilStopped();
        h.send(other, A, 2);
        h.event(new DestinationResumed(VNI, A, MIG));
        h.send(other, A, 3);
        h.send(fresh, L, 9);

        assertThat(fresh.seqs()).containsExactly(2L, 3L);
        assertThat(other.seqs()).containsExactly(9L);
    }

    @Test
    void theOldCopyGoingAwayAfterTheSwitchLeavesTheVmPluggedAndAttached() {
        migrateUntilStopped();
        h.event(new DestinationResumed(VNI, A, MIG));
        h.event(new SourceGone(VNI, A, MIG));
        h.receive(2, R, A, 2, 0, 0);

        assertThat(fresh.seqs()).containsExactly(2L);
        assertThat(h.askedFor(BoardRequest.Detach.class)).isZero();
        assertThat(h.board.record(new VmKey(VNI, A)).isAttached()).isTrue();
    }

    @Test
    void anAbortedMigrationGivesWhatWaitedBackToTheOldCopyAndTheStandbyGoingAwayLeavesItPlugged() {
        migrateUntilStopped();
        h.receive(2, R, A, 2, 0, 0);
        h.event(new Aborted(VNI, A, MIG));
        h.event(new StandbyGone(VNI, A, MIG));
        h.receive(2, R, A, 3, 0, 0);

        assertThat(old.seqs()).containsExactly(1L, 2L, 3L);
        assertThat(fresh.seqs()).isEmpty();
        assertThat(h.askedFor(BoardRequest.Detach.class)).isZero();
        assertThat(h.count(Counter.MIGRATIONS_ABORTED)).isEqualTo(1);
    }

    @Test
    void framesWaitingLongerThanTheBufferTimeAreDroppedAndCounted() {
        migrateUntilStopped();
        h.receive(2, R, A, 2, 0, 0);
        h.advance(h.agent.config().bufferMillis() + 2);
        h.event(new DestinationResumed(VNI, A, MIG));

        assertThat(fresh.seqs()).isEmpty();
        assertThat(h.count(Counter.DROP_BUFFER_EXPIRED)).isEqualTo(1);
    }

    @Test
    void aSecondLocalMigrationAfterTheFirstMovesTheVmAgain() {
        migrateUntilStopped();
        h.event(new DestinationResumed(VNI, A, MIG));
        h.event(new SourceGone(VNI, A, MIG));
        TestPort third = new TestPort(A);
        h.event(new StandbyAppeared(third, MIG + 1));
        h.event(new Started(VNI, A, MIG + 1));
        h.event(new SourceStopped(VNI, A, MIG + 1));
        h.receive(2, R, A, 2, 0, 0);
        h.event(new DestinationResumed(VNI, A, MIG + 1));

        assertThat(fresh.seqs()).isEmpty();
        assertThat(third.seqs()).containsExactly(2L);
    }

    private void migrateUntilStopped() {
        h.event(new StandbyAppeared(fresh, MIG));
        h.event(new Started(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.event(new SourceStopped(VNI, A, MIG));
    }
}
