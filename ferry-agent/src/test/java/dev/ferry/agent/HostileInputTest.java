package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.wire.Ethernet;
import org.junit.jupiter.api.Test;

/** What a guest sends is bounded before the agent touches it: a frame too long is refused and counted, nothing more. */
class HostileInputTest {
    static final long A = 0x52_54_00_00_00_0AL, R = 0x52_54_00_00_00_0CL;

    final AgentHarness h = new AgentHarness(Mode.FERRY);

    @Test
    void aFrameOfSixtyFiveThousandBytesFromAGuestIsDroppedAndCountedAndTheAgentServesOn() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        byte[] huge = new byte[65_535];
        writeTraffic(huge, 0, R, A, 1);

        assertThatCode(() -> h.agent.onPortFrame(h.agent.localPort(a.key), huge, 0, huge.length, h.now)).doesNotThrowAnyException();
        h.send(a, R, 2);

        assertThat(h.count(Counter.DROP_FRAME_TOO_LONG)).isEqualTo(1);
        assertThat(h.sentData(2)).extracting(AgentHarness.Sent::seq).containsExactly(2L);
    }

    @Test
    void aJumboFrameWithinTheMtuGoesThroughWhole() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        byte[] jumbo = new byte[Port.MAX_MTU + Ethernet.HEADER_LENGTH];
        writeTraffic(jumbo, 0, R, A, 7);
        h.agent.onPortFrame(h.agent.localPort(a.key), jumbo, 0, jumbo.length, h.now);

        assertThat(h.sentData(2)).hasSize(1);
        assertThat(h.sentData(2).getFirst().frame().payloadLength()).isEqualTo(jumbo.length);
        assertThat(h.count(Counter.DROP_FRAME_TOO_LONG)).isZero();
    }

    @Test
    void aVmTalkingToMoreMacsThanAHandoverAckCarriesHandsOverWithTheCapAndCountsTheRest() {
        TestPort a = h.localVm(A);
        int macs = dev.ferry.wire.ControlCodec.MAX_STREAMS + 52;
        for (int i = 0; i < macs; i++) {
            h.remoteVm(0x52_54_00_10_00_00L + i, 3);
            h.send(a, 0x52_54_00_10_00_00L + i, i);
        }
        h.event(new MigrationEvent.Started(VNI, A, 77));
        h.event(new MigrationEvent.SourceStopped(VNI, A, 77));
        h.receiveControl(2, new dev.ferry.wire.ControlMessage.Handover(77, A));

        var acks = h.sentControl(2, dev.ferry.wire.ControlMessage.HandoverAck.class);
        assertThat(acks).isNotEmpty();
        assertThat(acks.getFirst().streams()).hasSize(dev.ferry.wire.ControlCodec.MAX_STREAMS);
        assertThat(h.count(Counter.HANDOVER_ENTRIES_CAPPED)).isEqualTo(52);
    }

    @Test
    void aGuestSendingToRandomMacsFillsOnlyItsVnisLookupBoundAndTheRestIsCounted() {
        TestPort a = h.localVm(A);
        int macs = Egress.AWAITING_DESTINATIONS_MAX + 976;
        for (int i = 0; i < macs; i++) h.send(a, 0x02_00_00_00_00_00L + i, i);

        assertThat(h.count(Counter.DROP_LOOKUP_WAIT_FULL)).isEqualTo(976);
        assertThat(h.agent.framesHeld()).isEqualTo(Egress.AWAITING_DESTINATIONS_MAX);

        h.advance(h.agent.config().bufferMillis() + 50);
        assertThat(h.count(Counter.DROP_UNKNOWN_DESTINATION)).isEqualTo(Egress.AWAITING_DESTINATIONS_MAX);
        h.send(a, 0x02_00_00_10_00_00L, 1);
        assertThat(h.agent.framesHeld()).as("room again once they expired").isEqualTo(1);
    }

    @Test
    void aPortWithASmallerMtuRefusesWhatIsLongerThanIt() {
        TestPort small = new TestPort(A) {
            @Override public PortPolicy policy() { return new PortPolicy(1_500, true); }
        };
        h.agent.addPort(small, h.now);
        h.remoteVm(R, 2);
        byte[] frame = new byte[1_500 + Ethernet.HEADER_LENGTH + 4 + 1];
        writeTraffic(frame, 0, R, A, 1);
        h.agent.onPortFrame(h.agent.localPort(small.key), frame, 0, frame.length, h.now);

        assertThat(h.count(Counter.DROP_FRAME_TOO_LONG)).isEqualTo(1);
        assertThat(h.sentData(2)).isEmpty();
    }

    @Test
    void aFrameLongerThanTheReceivingPortsMtuIsNotGivenToItAndIsCounted() {
        TestPort small = new TestPort(A) {
            @Override public PortPolicy policy() { return new PortPolicy(1_500, true); }
        };
        h.agent.addPort(small, h.now);
        h.remoteVm(R, 2);
        h.receive(2, R, A, 1, 0, 0, 1_500 + Ethernet.HEADER_LENGTH + 4 + 1);
        h.receive(2, R, A, 2, 0, 0, 1_500 + Ethernet.HEADER_LENGTH);

        assertThat(small.seqs()).containsExactly(2L);
        assertThat(h.count(Counter.DROP_FRAME_TOO_LONG)).isEqualTo(1);
    }

    @Test
    void aVnisMtuBoundsEveryPortOfItWhateverThePortsOwn() {
        AgentHarness small = new AgentHarness(AgentConfig.defaults(SELF, java.util.Set.of(VNI), Mode.FERRY)
                .withTimings(20, 500, 1_000, 1_000).withVniMtu(java.util.Map.of(VNI, 1_400)));
        TestPort a = small.localVm(A);
        small.remoteVm(R, 2);
        byte[] frame = new byte[1_400 + Ethernet.HEADER_LENGTH + 4 + 1];
        writeTraffic(frame, 0, R, A, 1);
        small.agent.onPortFrame(small.agent.localPort(a.key), frame, 0, frame.length, small.now);

        assertThat(small.count(Counter.DROP_FRAME_TOO_LONG)).isEqualTo(1);
        assertThat(small.sentData(2)).isEmpty();
    }

    @Test
    void aVniMtuOutsideItsRangeOrForAVniNotServedIsRefusedNamingTheField() {
        var base = AgentConfig.defaults(SELF, java.util.Set.of(VNI), Mode.FERRY);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> base.withVniMtu(java.util.Map.of(VNI, 9_001)).validate())
                .hasMessageContaining("vniMtu").hasMessageContaining("9001");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> base.withVniMtu(java.util.Map.of(7, 1_500)).validate())
                .hasMessageContaining("vniMtu").hasMessageContaining("VNI 7");
    }

    @Test
    void aSenderPlantingMoreMarkerTokensThanAVniRemembersIsCountedAndGrowsNothing() {
        TestPort a = h.localVm(A);
        h.remoteVm(R, 2);
        int planted = StreamOrder.MAX_TOKENS + 1_000;
        for (int i = 1; i <= planted; i++) h.receiveMarker(2, R, A, i, 0);

        assertThat(h.count(Counter.MARKER_TOKENS_REFUSED)).isEqualTo(1_000);
        h.receive(2, R, A, 9, 0, 0);
        assertThat(a.seqs()).as("the VM is served on").containsExactly(9L);
    }
}
