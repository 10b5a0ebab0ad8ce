package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.agent.MigrationEvent.*;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Arp;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveFrame;
import dev.ferry.wire.GeneveWriter;
import dev.ferry.wire.Malformed;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The rows of design §6.2, one behaviour each, on one agent (host 1) against a real board. */
class ClassificationTest {
    static final long A = 0x52_54_00_00_00_0AL, B = 0x52_54_00_00_00_0BL, R = 0x52_54_00_00_00_0CL, X = 0x52_54_00_00_00_0DL;
    static final long MIG = 900;

    final AgentHarness h = new AgentHarness(Mode.FERRY);

    @Test
    void aFrameForALocalVmThatIsNotMigratingIsDelivered() {
        TestPort a = h.localVm(A);
        h.receive(2, R, A, 1, 0, 0);
        assertThat(a.seqs()).containsExactly(1L);
        assertThat(h.count(Counter.DELIVERED)).isEqualTo(1);
    }

    @Test
    void aFrameThePortCannotTakeIsCountedAsPortFullAndTheCountOutlivesThePort() {
        TestPort a = h.localVm(A);
        a.full = true;
        h.receive(2, R, A, 1, 0, 0);
        h.agent.removePort(a.key, false, h.now);

        assertThat(a.seqs()).isEmpty();
        assertThat(h.count(Counter.DROP_PORT_FULL)).isEqualTo(1);
        assertThat(h.count(Counter.DELIVERED)).isZero();
    }

    @Test
    void aFrameForAVmMigratingOutInPrecopyIsDeliveredLocallyAndTheRecordIsLocked() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        assertThat(a.seqs()).containsExactly(1L);
        assertThat(h.board.record(new VmKey(VNI, A)).lock().migrationId()).isEqualTo(MIG);
    }

    @Test
    void framesForAVmWhoseSourceStoppedAreBufferedNotDelivered() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        for (long seq = 1; seq <= 3; seq++) h.receive(2, R, A, seq, 0, 0);
        assertThat(a.seqs()).isEmpty();
        assertThat(h.count(Counter.BUFFERED)).isEqualTo(3);
        assertThat(h.agent.migrations().get(0).buffered()).isEqualTo(3);
    }

    @Test
    void framesThePausedVmNeverReadAreTakenBackAndRelayedAheadOfTheBuffer() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.receive(2, R, A, 2, 0, 0);
        a.unread.add(a.delivered.get(1));   // frame 2 still sat in the hypervisor's socket at the pause
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(2, R, A, 3, 0, 0);
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));

        assertThat(h.sentData(3)).extracting(Sent::seq).containsExactly(2L, 3L);
        assertThat(h.count(Counter.TAKEN_BACK)).isEqualTo(1);
    }

    @Test
    void aHandoverBeforeTheSourcesStopEventAlsoTakesBackWhatThePausedVmNeverRead() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.receive(2, R, A, 2, 0, 0);
        a.unread.addAll(List.of(a.delivered.get(0), a.delivered.get(1)));
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));   // the copy at host 3 already runs

        assertThat(h.sentData(3)).extracting(Sent::seq).containsExactly(1L, 2L);
    }

    @Test
    void atHandoverTheBufferThenLaterFramesAreRelayedInOrderAndTheSenderIsHinted() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.receive(2, R, A, 2, 0, 0);
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));
        h.receive(2, R, A, 3, 0, 0);
        assertThat(h.sentData(3)).extracting(Sent::seq).containsExactly(1L, 2L, 3L);
        assertThat(h.sentData(3)).allMatch(s -> s.frame().hasFlag(Geneve.FLAG_FORWARDED) && s.frame().origin() == 2);
        assertThat(h.sentControl(3, ControlMessage.HandoverAck.class)).isNotEmpty();
        assertThat(h.sentControl(2, ControlMessage.LocationHint.class)).containsExactly(new ControlMessage.LocationHint(A));
        assertThat(h.board.record(new VmKey(VNI, A)).isLocked()).as("unlocked at hand-over").isFalse();
    }

    @Test
    void anAbortedMigrationDeliversItsBufferLocallyInOrderAndUnlocks() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.receive(2, R, A, 2, 0, 0);
        h.event(new Aborted(VNI, A, MIG));
        h.receive(2, R, A, 3, 0, 0);
        assertThat(a.seqs()).containsExactly(1L, 2L, 3L);
        assertThat(h.agent.migrations()).isEmpty();
        assertThat(h.board.record(new VmKey(VNI, A)).isLocked()).isFalse();
        assertThat(h.count(Counter.MIGRATIONS_ABORTED)).isEqualTo(1);
    }

    @Test
    void relayedFramesForAPausedIncomingVmAreBufferedUntilItResumes() {
        h.remoteVm(A, 2);
        TestPort incoming = new TestPort(A);
        h.event(new StandbyAppeared(incoming, MIG));
        h.receive(3, R, A, 1, Geneve.FLAG_FORWARDED, 0);
        h.receive(3, R, A, 2, Geneve.FLAG_FORWARDED, 0);
        assertThat(incoming.seqs()).isEmpty();
        h.event(new DestinationResumed(VNI, A, MIG));
        assertThat(incoming.seqs()).containsExactly(1L, 2L);
        assertThat(h.sentControl(2, ControlMessage.Handover.class)).containsExactly(new ControlMessage.Handover(MIG, A));
    }

    @Test
    void aStandbyIsAttachedWithoutMovingTrafficAndPreparesTheSource() {
        h.remoteVm(A, 2);
        h.event(new StandbyAppeared(new TestPort(A), MIG));
        assertThat(h.board.record(new VmKey(VNI, A)).hostId()).isEqualTo(2);
        assertThat(h.board.record(new VmKey(VNI, A)).standbys()).containsExactly(SELF);
        assertThat(h.sentControl(2, ControlMessage.Prepare.class)).contains(new ControlMessage.Prepare(MIG, A));
    }

    @Test
    void aStandbyPluggedWithoutAMigrationIdTakesTheSourcesFromItsPrepareAck() {
        h.remoteVm(A, 2);
        h.event(new StandbyAppeared(new TestPort(A), 0));
        assertThat(h.sentControl(2, ControlMessage.Prepare.class)).contains(new ControlMessage.Prepare(0, A));
        h.receiveControl(2, new ControlMessage.PrepareAck(MIG, A));
        assertThat(h.agent.migration(new VmKey(VNI, A)).migrationId()).isEqualTo(MIG);
        h.event(new DestinationResumed(VNI, A, MIG));
        assertThat(h.sentControl(2, ControlMessage.Handover.class)).containsExactly(new ControlMessage.Handover(MIG, A));
    }

    @Test
    void aSourceAnswersAPrepareWithoutAnIdWithItsOwn() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.receiveControl(3, new ControlMessage.Prepare(0, A));
        assertThat(h.sentControl(3, ControlMessage.PrepareAck.class)).containsExactly(new ControlMessage.PrepareAck(MIG, A));
    }

    @Test
    void aFinishedMigrationDoesNotLendItsIdToAStandbyThatAsksWithoutOne() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));
        h.receiveControl(2, new ControlMessage.Prepare(0, A));
        assertThat(h.sentControl(2, ControlMessage.PrepareAck.class)).as("the VM left this host: its next source is elsewhere").isEmpty();
    }

    @Test
    void aSourceAlreadyPreparedByOneDestinationDoesNotLendItsIdToAnother() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.receiveControl(3, new ControlMessage.Prepare(MIG, A));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receiveControl(2, new ControlMessage.Prepare(0, A));
        assertThat(h.sentControl(2, ControlMessage.PrepareAck.class)).as("this VM goes to host 3").isEmpty();
    }

    @Test
    void aRarpFromAPausedIncomingCopyMeansItResumed() {
        h.remoteVm(A, 2);
        TestPort incoming = new TestPort(A);
        h.event(new StandbyAppeared(incoming, MIG));
        byte[] rarp = new byte[64];
        int n = Arp.write(rarp, 0, Ethernet.TYPE_RARP, Arp.OP_RARP_REQUEST, Ethernet.BROADCAST, A, 0, A, 0);
        h.agent.onPortFrame(h.agent.localPort(new VmKey(VNI, A)), rarp, 0, n, h.now);
        h.pump();
        assertThat(h.sentControl(2, ControlMessage.Handover.class)).containsExactly(new ControlMessage.Handover(MIG, A));
    }

    @Test
    void aVmsOwnAnnouncementFromTheHostItWentToIsNotHandedToItsStoppedCopyNorCountedAsDropped() {
        TestPort here = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));

        h.receive(3, A, Ethernet.BROADCAST, 1, 0, 0);

        assertThat(here.delivered).isEmpty();
        assertThat(h.count(Counter.DROP_PORT_NOT_RUNNING)).isZero();
        assertThat(h.count(Counter.BROADCAST_IN)).isEqualTo(1);
    }

    @Test
    void aBroadcastForAVmWhoseSourceStoppedIsKeptAndRelayedInOrderAtHandover() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.receive(2, R, Ethernet.BROADCAST, 2, 0, 0);
        h.receive(2, R, A, 3, 0, 0);
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));

        assertThat(a.delivered).isEmpty();
        assertThat(h.sentData(3)).extracting(Sent::seq).containsExactly(1L, 2L, 3L);
        GeneveFrame relayed = h.sentData(3).get(1).frame();
        assertThat(relayed.hasFlag(Geneve.FLAG_FORWARDED)).isTrue();
        assertThat(relayed.via()).as("names the migration: the destination gives it to that VM alone").isEqualTo(MIG);
        assertThat(h.count(Counter.DROP_PORT_NOT_RUNNING)).isZero();
    }

    @Test
    void aBroadcastKeptForAStoppedVmReachesItWhenTheMigrationAborts() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.receive(2, R, Ethernet.BROADCAST, 2, 0, 0);
        h.event(new Aborted(VNI, A, MIG));

        assertThat(a.seqs()).containsExactly(1L, 2L);
        assertThat(h.count(Counter.DROP_UNKNOWN_DESTINATION)).isZero();
    }

    @Test
    void aPausedIncomingCopyLeavesABroadcastToItsSourceAndCountsNoDrop() {
        h.remoteVm(A, 2);
        TestPort incoming = new TestPort(A);
        h.event(new StandbyAppeared(incoming, MIG));
        h.receive(3, R, Ethernet.BROADCAST, 1, 0, 0);
        h.event(new DestinationResumed(VNI, A, MIG));

        assertThat(incoming.delivered).as("its source keeps it, and relays it").isEmpty();
        assertThat(h.count(Counter.DROP_PORT_NOT_RUNNING)).isZero();
    }

    @Test
    void aHandedOverSourceLeavesABroadcastToTheDestinationAndCountsNoDrop() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));
        h.receive(2, R, Ethernet.BROADCAST, 1, 0, 0);

        assertThat(a.delivered).isEmpty();
        assertThat(h.sentData(3)).as("the flood reaches the destination itself").isEmpty();
        assertThat(h.count(Counter.DROP_PORT_NOT_RUNNING)).isZero();
    }

    @Test
    void aHandedOverCopyWaitingToBeUnpluggedGetsNoBroadcastOnceItsEntryEnded() {
        TestPort a = h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receiveControl(3, new ControlMessage.Handover(MIG, A));
        for (int i = 0; i < 20 && !h.agent.migrations().isEmpty(); i++) h.advance(1_000);
        assertThat(h.agent.migrations()).as("the source's entry ended").isEmpty();

        h.receive(2, R, Ethernet.BROADCAST, 1, 0, 0);

        assertThat(a.delivered).as("the VM runs at host 3").isEmpty();
        assertThat(h.count(Counter.DROP_PORT_NOT_RUNNING) + h.count(Counter.DROP_PORT_FULL)).isZero();
    }

    @Test
    void aRelayedBroadcastReachesOnlyTheVmItWasKeptFor() {
        TestPort b = h.localVm(B);
        h.remoteVm(A, 2);
        TestPort incoming = new TestPort(A);
        h.event(new StandbyAppeared(incoming, MIG));
        h.event(new DestinationResumed(VNI, A, MIG));
        h.receiveRelayed(2, R, Ethernet.BROADCAST, 7, MIG);

        assertThat(incoming.seqs()).containsExactly(7L);
        assertThat(b.delivered).as("B had the flood's own copy").isEmpty();
    }

    @Test
    void aRelayedBroadcastForAPausedIncomingCopyWaitsForItsResume() {
        h.remoteVm(A, 2);
        TestPort incoming = new TestPort(A);
        h.event(new StandbyAppeared(incoming, MIG));
        h.receiveRelayed(2, R, A, 1, MIG);
        h.receiveRelayed(2, R, Ethernet.BROADCAST, 2, MIG);
        assertThat(incoming.delivered).isEmpty();
        h.event(new DestinationResumed(VNI, A, MIG));

        assertThat(incoming.seqs()).containsExactly(1L, 2L);
    }

    @Test
    void aRelayedBroadcastForNoMigrationHereIsDroppedAndCounted() {
        TestPort b = h.localVm(B);
        h.receiveRelayed(2, R, Ethernet.BROADCAST, 1, MIG);

        assertThat(b.delivered).isEmpty();
        assertThat(h.count(Counter.DROP_NOT_HERE_FORWARDED)).isEqualTo(1);
    }

    @Test
    void anyFrameFromAPausedIncomingCopyMeansItResumedAndWaitsForTheHandover() {
        h.remoteVm(A, 2);
        h.remoteVm(R, 3);
        TestPort incoming = new TestPort(A);
        h.event(new StandbyAppeared(incoming, MIG));
        h.send(incoming, R, 1);
        assertThat(h.sentControl(2, ControlMessage.Handover.class)).containsExactly(new ControlMessage.Handover(MIG, A));
        assertThat(h.count(Counter.DROP_PORT_NOT_RUNNING)).isZero();
        assertThat(h.sentData(3)).as("kept until HANDOVER_ACK names the VM's streams").isEmpty();
        assertThat(h.agent.migration(new VmKey(VNI, A)).egressHeld()).isEqualTo(1);
    }

    @Test
    void aFrameAwaitingAMarkerIsHeldUntilTheMarkerArrivesThenDeliveredAfterTheOldPath() {
        TestPort a = h.localVm(A);
        long token = 4242;
        h.receive(2, R, A, 5, Geneve.FLAG_AWAIT, token);          // new path, early
        assertThat(a.seqs()).isEmpty();
        h.receive(3, R, A, 4, Geneve.FLAG_FORWARDED, 0);          // old path, late
        h.receiveMarker(2, R, A, token, Geneve.FLAG_FORWARDED);   // end of the old path
        assertThat(a.seqs()).containsExactly(4L, 5L);
        assertThat(h.count(Counter.HELD)).isEqualTo(1);
        assertThat(h.sentControl(2, ControlMessage.MarkerAck.class)).contains(new ControlMessage.MarkerAck(R, A, token));
    }

    @Test
    void aHeldFrameIsReleasedAfterTheBoundedWaitAndTheExpiryIsCounted() {
        TestPort a = h.localVm(A);
        h.receive(2, R, A, 5, Geneve.FLAG_AWAIT, 4242);
        h.advance(499);
        assertThat(a.seqs()).isEmpty();
        h.advance(2);
        assertThat(a.seqs()).containsExactly(5L);
        assertThat(h.count(Counter.MARKER_WAIT_EXPIRED)).isEqualTo(1);
    }

    @Test
    void aStaleSendersFrameForAVmNotHereIsRelayedOnceAndTheSenderIsHinted() {
        h.remoteVm(R, 2);
        h.receive(3, X, R, 1, 0, 0);
        assertThat(h.sentData(2)).extracting(Sent::seq).containsExactly(1L);
        assertThat(h.sentData(2).get(0).frame().hasFlag(Geneve.FLAG_FORWARDED)).isTrue();
        assertThat(h.sentControl(3, ControlMessage.LocationHint.class)).containsExactly(new ControlMessage.LocationHint(R));
    }

    @Test
    void aRelayedFrameForAVmNotHereIsNeverRelayedAgainButDroppedAndCounted() {
        h.remoteVm(R, 2);
        h.receive(3, X, R, 1, Geneve.FLAG_FORWARDED, 0);
        assertThat(h.sentData(2)).isEmpty();
        assertThat(h.count(Counter.DROP_NOT_HERE_FORWARDED)).isEqualTo(1);
    }

    @Test
    void aFrameForAVmNobodyKnowsIsDroppedAndCounted() {
        h.receive(3, X, R, 1, 0, 0);
        assertThat(h.sent.stream().filter(s -> s.seq() >= 0)).isEmpty();
        assertThat(h.count(Counter.DROP_UNKNOWN_DESTINATION)).isEqualTo(1);
    }

    @Test
    void aLocalVmsFrameToAVmTheCacheDoesNotKnowYetWaitsForTheBoard() {
        TestPort a = h.localVm(A);
        h.board.handle(new BoardRequest.Attach(1, new VmKey(VNI, R), "r", List.of(), 2, true), h.now / MS);
        h.send(a, R, 7);
        assertThat(h.sentData(2)).extracting(Sent::seq).containsExactly(7L);
    }

    @Test
    void aLocalVmsFrameToAVmTheBoardLearnsOfLaterWaitsAndIsSent() {
        TestPort a = h.localVm(A);
        h.send(a, R, 7);
        h.advance(100);
        assertThat(h.sent.stream().filter(s -> s.seq() >= 0)).isEmpty();
        h.board.handle(new BoardRequest.Attach(1, new VmKey(VNI, R), "r", List.of(), 2, true), h.now / MS);
        h.advance(50);
        assertThat(h.sentData(2)).extracting(Sent::seq).containsExactly(7L);
        assertThat(h.count(Counter.DROP_UNKNOWN_DESTINATION)).isZero();
    }

    @Test
    void aLocalVmsFrameToAVmTheBoardNeverKnowsIsDroppedAndCountedAfterTheBufferTime() {
        TestPort a = h.localVm(A);
        h.send(a, R, 7);
        h.advance(1_999);
        assertThat(h.count(Counter.DROP_UNKNOWN_DESTINATION)).isZero();
        h.advance(2);
        assertThat(h.sent.stream().filter(s -> s.seq() >= 0)).isEmpty();
        assertThat(h.count(Counter.DROP_UNKNOWN_DESTINATION)).isEqualTo(1);
    }

    @Test
    void aLocalBroadcastReachesTheOtherLocalVmsAndIsFloodedToTheAgentsOfTheVni() {
        TestPort a = h.localVm(A);
        TestPort b = h.localVm(B);
        h.remoteVm(R, 2);
        h.remoteVm(X, 3);
        h.send(a, Ethernet.BROADCAST, 1);
        assertThat(b.seqs()).containsExactly(1L);
        assertThat(a.seqs()).isEmpty();
        assertThat(h.sentData(2)).hasSize(1);
        assertThat(h.sentData(3)).hasSize(1);
    }

    @Test
    void anArpRequestIsAnsweredFromTheBoardsTableWithoutFlooding() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        int rIp = (int) (0xC6120000L | (R & 0xFF));
        byte[] req = new byte[64];
        int n = Arp.write(req, 0, Ethernet.TYPE_ARP, Arp.OP_REQUEST, Ethernet.BROADCAST, A, (int) (0xC6120000L | (A & 0xFF)), 0, rIp);
        h.agent.onPortFrame(h.agent.localPort(a.key), req, 0, n, h.now);
        assertThat(a.delivered).hasSize(1);
        byte[] reply = a.delivered.get(0);
        assertThat(Arp.op(reply, Ethernet.HEADER_LENGTH)).isEqualTo(Arp.OP_REPLY);
        assertThat(Arp.senderMac(reply, Ethernet.HEADER_LENGTH)).isEqualTo(R);
        assertThat(Arp.senderIp(reply, Ethernet.HEADER_LENGTH)).isEqualTo(rIp);
        assertThat(h.sent).isEmpty();
        assertThat(h.count(Counter.ARP_ANSWERED)).isEqualTo(1);
    }

    @Test
    void aPacketForAVniThisAgentDoesNotServeIsDroppedAndCounted() {
        h.localVm(A);
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + 40];
        int at = GeneveWriter.writeHeader(b, 0, 777, false, Geneve.PROTOCOL_ETHERNET, 0, 2, 0, 0);
        AgentHarness.writeTraffic(b, at, A, R, 1);
        h.agent.onUnderlay(2, b, 0, b.length, h.now);
        assertThat(h.count(Counter.DROP_UNKNOWN_VNI)).isEqualTo(1);
        assertThat(h.agent.counters().malformed(Malformed.UNKNOWN_VNI)).isEqualTo(1);
        assertThat(h.count(Counter.DELIVERED)).isZero();
    }

    @Test
    void malformedPacketsAreCountedByReasonAndNeverThrowOutOfTheReceivePath() {
        h.localVm(A);
        Random r = new Random(9);
        byte[] b = new byte[96];
        for (int i = 0; i < 50_000; i++) {
            r.nextBytes(b);
            int len = r.nextInt(b.length + 1);
            assertThatCode(() -> h.agent.onUnderlay(2, b, 0, len, h.now)).doesNotThrowAnyException();
        }
        assertThat(h.agent.counters().malformed(Malformed.TOO_SHORT)).isPositive();
        assertThat(h.agent.counters().malformed(Malformed.BAD_VERSION)).isPositive();
        assertThat(h.count(Counter.DROP_MALFORMED)).isPositive();
    }

    @Test
    void aFullMigrationBufferDropsWithANamedCounter() {
        AgentConfig small = new AgentConfig(SELF, "test", Set.of(VNI), Mode.FERRY, 2 * Held.cost(40) + 50, 2_000, 1 << 20, 500, 1_000, 20, 3_000, 1_000, java.util.Map.of(), true);
        AgentHarness tight = new AgentHarness(small);
        tight.localVm(A);
        tight.event(new Started(VNI, A, MIG));
        tight.event(new SourceStopped(VNI, A, MIG));
        for (long seq = 1; seq <= 3; seq++) tight.receive(2, R, A, seq, 0, 0);
        assertThat(tight.count(Counter.BUFFERED)).isEqualTo(2);
        assertThat(tight.count(Counter.DROP_BUFFER_FULL)).isEqualTo(1);
    }

    @Test
    void aFrameBufferedLongerThanTheBufferTimeIsDroppedAndCounted() {
        h.localVm(A);
        h.event(new Started(VNI, A, MIG));
        h.event(new SourceStopped(VNI, A, MIG));
        h.receive(2, R, A, 1, 0, 0);
        h.advance(2_001);
        assertThat(h.count(Counter.DROP_BUFFER_EXPIRED)).isEqualTo(1);
        assertThat(h.agent.migrations().get(0).buffered()).isZero();
    }

    @Test
    void aBadConfigurationIsRefusedNamingTheField() {
        assertThatThrownBy(() -> AgentConfig.defaults(0, Set.of(VNI), Mode.FERRY).validate()).hasMessageContaining("hostId");
        assertThatThrownBy(() -> AgentConfig.defaults(1, Set.of(), Mode.FERRY).validate()).hasMessageContaining("vnis");
        assertThatThrownBy(() -> AgentConfig.defaults(1, Set.of(1 << 24), Mode.FERRY).validate()).hasMessageContaining("vnis");
        assertThatThrownBy(() -> new AgentConfig(1, "x", Set.of(VNI), Mode.FERRY, 1, 1, 1, 1, 1, 20, 30, 1, java.util.Map.of(), true).validate())
                .hasMessageContaining("leaseMillis");
    }
}
