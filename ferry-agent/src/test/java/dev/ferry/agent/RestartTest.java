package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.agent.MigrationEvent.*;
import dev.ferry.board.Board;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.VmKey;
import dev.ferry.wire.ControlMessage;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * An agent whose process restarted in the middle of a migration (design §6.8): its tables are
 * gone, the board's lock is not, and it takes its part up again from what the lock and the VM's
 * copy say; a migration whose other end lost its part still ends.
 */
class RestartTest {
    static final long A = 0x52_54_00_00_00_0AL, R = 0x52_54_00_00_00_0CL;
    static final long MIG = 4_321;
    static final VmKey KEY = new VmKey(VNI, A);
    static final long LEASE_MS = 3_000;

    private static AgentHarness restartedOn(Consumer<Board> left) {
        return new AgentHarness(AgentConfig.defaults(SELF, Set.of(VNI), Mode.FERRY).withTimings(20, 500, 1_000, 1_000), left);
    }

    private static Consumer<Board> vmLockedBy(int host) {
        return board -> {
            board.handle(new BoardRequest.RegisterHost(1, host, "h" + host, Set.of(VNI), LEASE_MS), 0);
            board.handle(new BoardRequest.Attach(2, KEY, "vm-a", List.of(1), host, true), 0);
            board.handle(new BoardRequest.LockRecord(3, KEY, MIG, host, LEASE_MS), 0);
        };
    }

    @Test
    void aRestartedSourceWhoseVmIsStoppedBuffersAndHandsOverWhenTheDestinationAsks() {
        AgentHarness h = restartedOn(vmLockedBy(SELF));
        TestPort stopped = new TestPort(A);
        h.agent.addFoundPort(stopped, Agent.Found.STOPPED, h.now);
        h.pump();
        h.receive(3, R, A, 1, 0, 0);
        h.receiveControl(2, new ControlMessage.Handover(MIG, A));

        assertThat(stopped.seqs()).isEmpty();
        assertThat(h.sentData(2)).extracting(AgentHarness.Sent::seq).containsExactly(1L);
        assertThat(h.sentControl(2, ControlMessage.HandoverAck.class)).isNotEmpty();
        assertThat(h.board.record(KEY).isLocked()).isFalse();
    }

    @Test
    void aRestartedSourceWhoseVmStillPrecopiesDeliversToItUntilTheDestinationAsks() {
        AgentHarness h = restartedOn(vmLockedBy(SELF));
        TestPort running = new TestPort(A);
        h.agent.addFoundPort(running, Agent.Found.MIGRATING_OUT, h.now);
        h.pump();
        h.receive(3, R, A, 1, 0, 0);
        h.receiveControl(2, new ControlMessage.Handover(MIG, A));
        h.receive(3, R, A, 2, 0, 0);

        assertThat(running.seqs()).containsExactly(1L);
        assertThat(h.sentData(2)).extracting(AgentHarness.Sent::seq).containsExactly(2L);
        assertThat(h.board.record(KEY).isLocked()).isFalse();
    }

    @Test
    void aRestartedDestinationWhoseCopyRunsAsksTheSourceForTheHandOverAgain() {
        AgentHarness h = restartedOn(vmLockedBy(2));
        TestPort resumed = new TestPort(A);
        h.agent.addFoundPort(resumed, Agent.Found.RUNNING, h.now);
        h.pump();

        assertThat(h.sentControl(2, ControlMessage.Handover.class)).extracting(ControlMessage.Handover::migrationId)
                .contains(MIG);
        h.receiveControl(2, new ControlMessage.HandoverAck(MIG, A, List.of(), List.of()));
        h.advance(1);
        assertThat(h.agent.migration(KEY)).isNull();
        assertThat(h.board.record(KEY).pending()).as("this host's attach waits for the source to release its lock")
                .anyMatch(p -> p instanceof dev.ferry.board.PendingUpdate.Attach a && a.hostId() == SELF);
    }

    @Test
    void aLockTheDeadProcessLeftForAVmThatLeftIsReleasedAfterHalfALease() {
        AgentHarness h = restartedOn(vmLockedBy(SELF).andThen(board -> {
            board.handle(new BoardRequest.RegisterHost(4, 2, "h2", Set.of(VNI), LEASE_MS), 0);
            board.handle(new BoardRequest.Attach(5, KEY, "vm-a", List.of(1), 2, true), 0); // queued behind the lock
        }));
        h.advance(LEASE_MS / 4);
        assertThat(h.board.record(KEY).isLocked()).as("not before half a lease").isTrue();

        h.advance(LEASE_MS / 2);
        assertThat(h.board.record(KEY).isLocked()).isFalse();
        assertThat(h.board.record(KEY).hostId()).as("the destination's attach applied").isEqualTo(2);
    }

    @Test
    void aSourceStoppedForHalfALeaseHandsOverToTheHostWhoseAttachWaitsBehindItsLock() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(3, R, A, 1, 0, 0);
        h.hostRegisteredUnheard(2, "h2");
        h.boardChangeUnheard(new BoardRequest.Attach(99, KEY, "vm-a", List.of(1), 2, true));

        h.advance(LEASE_MS / 2 + 50);

        assertThat(h.sentData(2)).extracting(AgentHarness.Sent::seq).containsExactly(1L);
        assertThat(h.board.record(KEY).hostId()).isEqualTo(2);
        assertThat(h.board.record(KEY).isLocked()).isFalse();
    }

    @Test
    void aSourceStoppedWithoutAnyClaimantKeepsItsLock() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));

        h.advance(LEASE_MS);

        assertThat(h.board.record(KEY).isLocked()).isTrue();
        assertThat(h.board.record(KEY).hostId()).isEqualTo(SELF);
    }

    @Test
    void aVmThatRunsHereWithNoMigrationIsAttachedAgainWhenTheBoardSaysItIsElsewhere() {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        h.localVm(A);
        h.hostRegisteredUnheard(2, "h2");
        h.board.handle(new BoardRequest.Attach(99, KEY, "vm-a", List.of(1), 2, true), h.now / MS);
        h.pump();

        assertThat(h.board.record(KEY).hostId()).isEqualTo(SELF);
    }
}
