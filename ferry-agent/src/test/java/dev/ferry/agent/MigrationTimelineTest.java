package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.VNI;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.agent.MigrationEvent.*;
import dev.ferry.agent.MigrationTimeline.Past;
import dev.ferry.agent.MigrationTimeline.Step;
import dev.ferry.board.VmKey;
import dev.ferry.wire.ControlMessage;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each agent keeps, per migration, when each step happened on its side, in the order it happened. */
class MigrationTimelineTest {
    static final long A = 0x52_54_00_00_00_0AL, R = 0x52_54_00_00_00_0CL;
    static final long MIG = 900;
    final AgentHarness h = new AgentHarness(Mode.FERRY);

    @Test
    void theSourceRecordsLockStopHandoverRelayAndUnlockAtTheirTimes() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.advance(300);
        h.event(new SourceStopped(VNI, A, MIG));
        h.advance(5);
        h.receive(2, R, A, 1, 0, 0);
        h.advance(40);
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));
        h.pump();

        Past p = only(h.agent.migrationHistory());
        assertThat(p.migrationId()).isEqualTo(MIG);
        assertThat(p.role()).isEqualTo("source");
        assertThat(p.outcome()).isEqualTo("completed");
        assertThat(p.relayed()).isEqualTo(1);
        assertThat(p.nanosAfterBegun()).containsKeys(Step.BEGUN, Step.LOCK_ASKED, Step.LOCK_GRANTED, Step.SOURCE_STOPPED,
                Step.FIRST_BUFFERED, Step.HANDOVER_RECEIVED, Step.RELAY_FLUSHED, Step.UNLOCK_ASKED, Step.UNLOCK_APPLIED);
        assertThat(p.nanosAfterBegun().get(Step.SOURCE_STOPPED)).isEqualTo(300 * AgentHarness.MS);
        assertThat(p.nanosAfterBegun().get(Step.FIRST_BUFFERED)).isEqualTo(305 * AgentHarness.MS);
        assertThat(p.nanosAfterBegun().get(Step.HANDOVER_RECEIVED)).isEqualTo(345 * AgentHarness.MS);
        assertThat(p.nanosAfterBegun().get(Step.LOCK_GRANTED)).isLessThanOrEqualTo(p.nanosAfterBegun().get(Step.SOURCE_STOPPED));
    }

    @Test
    void theDestinationRecordsPrepareResumeHandoverAndItsAck() {
        migratedHereResumingAt200AndSettledAt203();

        Past p = only(h.agent.migrationHistory());
        assertThat(p.role()).isEqualTo("destination");
        assertThat(p.outcome()).isEqualTo("completed");
        assertThat(p.nanosAfterBegun()).containsKeys(Step.BEGUN, Step.PREPARE_SENT, Step.DESTINATION_RESUMED, Step.HANDOVER_SENT,
                Step.HANDOVER_ACK_RECEIVED, Step.ENDED);
        assertThat(p.nanosAfterBegun().get(Step.DESTINATION_RESUMED)).isEqualTo(200 * AgentHarness.MS);
        assertThat(p.nanosAfterBegun().get(Step.HANDOVER_ACK_RECEIVED)).isEqualTo(203 * AgentHarness.MS);
    }

    @Test
    void theDestinationRecordsTheFirstFrameHandedToTheVmAfterItResumed() {
        TestPort incoming = migratedHereResumingAt200AndSettledAt203();
        h.advance(4);
        h.receive(3, R, A, 1, 0, 0);
        h.advance(1);
        h.receive(3, R, A, 2, 0, 0);

        Past p = only(h.agent.migrationHistory());
        assertThat(incoming.delivered).hasSize(2);
        assertThat(p.nanosAfterBegun().get(Step.FIRST_DELIVERED)).as("the first, not the second").isEqualTo(207 * AgentHarness.MS);
    }

    @Test
    void theSourceRecordsTheLastFrameItRelayedOnAfterTheHandover() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.advance(300);
        h.event(new SourceStopped(VNI, A, MIG));
        h.advance(45);
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));
        h.pump();
        h.advance(10);
        h.receive(2, R, A, 1, 0, 0);
        h.advance(10);
        h.receive(2, R, A, 2, 0, 0);

        Past p = only(h.agent.migrationHistory());
        assertThat(p.nanosAfterBegun().get(Step.LAST_RELAYED)).isEqualTo(365 * AgentHarness.MS);
    }

    /** VM A, on host 2, migrates here: its standby plugged, resumed 200 ms later, the source's HANDOVER_ACK 3 ms after that. */
    private TestPort migratedHereResumingAt200AndSettledAt203() {
        h.remoteVm(A, 2);
        TestPort incoming = new TestPort(A);
        h.event(new StandbyAppeared(incoming, MIG));
        h.pump();
        h.advance(200);
        h.event(new DestinationResumed(VNI, A, MIG));
        h.advance(3);
        h.receiveControl(2, new ControlMessage.HandoverAck(MIG, A, List.of(), List.of()));
        return incoming;
    }

    @Test
    void theBackEndsSightOfTheRingsStoppingAndStartingIsMarkedOnEachSide() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.advance(300);
        h.agent.onRings(h.agent.localPort(new VmKey(VNI, A)), false, h.now);
        h.advance(2);
        h.event(new SourceStopped(VNI, A, MIG));

        Past source = only(h.agent.migrationHistory());
        assertThat(source.nanosAfterBegun().get(Step.SOURCE_RINGS_STOPPED)).isEqualTo(300 * AgentHarness.MS);
        assertThat(source.nanosAfterBegun().get(Step.SOURCE_STOPPED)).isEqualTo(302 * AgentHarness.MS);
    }

    @Test
    void theDestinationMarksWhenItsBackEndGotTheRingsBeforeTheDetectorSaysResumed() {
        h.remoteVm(A, 2);
        h.event(new StandbyAppeared(new TestPort(A), MIG));
        h.pump();
        h.advance(200);
        h.agent.onRings(h.agent.localPort(new VmKey(VNI, A)), true, h.now);
        h.advance(1);
        h.event(new DestinationResumed(VNI, A, MIG));

        Past p = only(h.agent.migrationHistory());
        assertThat(p.nanosAfterBegun().get(Step.DESTINATION_RINGS_STARTED)).isEqualTo(200 * AgentHarness.MS);
        assertThat(p.nanosAfterBegun().get(Step.DESTINATION_RESUMED)).isEqualTo(201 * AgentHarness.MS);
    }

    @Test
    void theDestinationMarksTheFirstFrameItsPortWroteIntoTheGuestsRing() {
        h.remoteVm(A, 2);
        h.event(new StandbyAppeared(new TestPort(A), MIG));
        h.pump();
        h.advance(200);
        h.event(new DestinationResumed(VNI, A, MIG));
        h.advance(15);
        h.agent.onFirstFrameInRing(h.agent.localPort(new VmKey(VNI, A)), h.now);
        h.advance(5);
        h.agent.onFirstFrameInRing(h.agent.localPort(new VmKey(VNI, A)), h.now);

        Past p = only(h.agent.migrationHistory());
        assertThat(p.nanosAfterBegun().get(Step.FIRST_IN_RING)).as("the first write, not a later one").isEqualTo(215 * AgentHarness.MS);
    }

    @Test
    void ringsThatStartAfterTheHandoverAckEndedTheDestinationsEntryAreStillMarkedOnItsTimeline() {
        migratedHereResumingAt200AndSettledAt203();
        h.advance(9);
        h.agent.onRings(h.agent.localPort(new VmKey(VNI, A)), true, h.now);
        h.advance(3);
        h.agent.onFirstFrameInRing(h.agent.localPort(new VmKey(VNI, A)), h.now);

        Past p = only(h.agent.migrationHistory());
        assertThat(p.outcome()).isEqualTo("completed");
        assertThat(p.nanosAfterBegun().get(Step.DESTINATION_RINGS_STARTED)).isEqualTo(212 * AgentHarness.MS);
        assertThat(p.nanosAfterBegun().get(Step.FIRST_IN_RING)).isEqualTo(215 * AgentHarness.MS);
    }

    @Test
    void ringsStartingOutsideAMigrationMarkNothing() {
        h.localVm(A);

        h.agent.onRings(h.agent.localPort(new VmKey(VNI, A)), true, h.now);

        assertThat(h.agent.migrationHistory()).isEmpty();
    }

    @Test
    void anAbortedMigrationEndsAbortedWithoutAHandover() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.advance(10);
        h.event(new Aborted(VNI, A, MIG));

        Past p = only(h.agent.migrationHistory());
        assertThat(p.outcome()).isEqualTo("aborted");
        assertThat(p.nanosAfterBegun()).containsKey(Step.ENDED).doesNotContainKeys(Step.HANDOVER_RECEIVED, Step.RELAY_FLUSHED);
    }

    @Test
    void onlyTheNewestAreKept() {
        h.localVm(A);
        for (long id = 1; id <= MigrationTimeline.KEPT + 5; id++) {
            h.event(new Started(VNI, A, id));
            h.event(new Aborted(VNI, A, id));
            h.pump();
        }
        List<Past> history = h.agent.migrationHistory();
        assertThat(history).hasSize(MigrationTimeline.KEPT);
        assertThat(history.getFirst().migrationId()).isEqualTo(6);
        assertThat(history.getLast().migrationId()).isEqualTo(MigrationTimeline.KEPT + 5);
    }

    private static Past only(List<Past> history) {
        assertThat(history).hasSize(1);
        return history.getFirst();
    }
}
