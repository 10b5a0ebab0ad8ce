package dev.ferry.agent;

import static dev.ferry.agent.AgentHarness.*;
import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;

/**
 * Coverage-guided fuzzing (Jazzer) of one agent, kept across executions so that state builds up:
 * datagrams from the underlay (Geneve, Ferry's option, control messages, MARKERs, relays) and
 * frames from a guest. Properties: the agent never throws, counts every input, and what it keeps
 * stays within its configured bounds. {@code mvn test} replays the saved inputs; {@code
 * scripts/fuzz.sh} fuzzes.
 */
class AgentFuzzTest {
    static final long A = 0x52_54_00_00_00_0AL, B = 0x52_54_00_00_00_0BL, R = 0x52_54_00_00_00_0CL;
    private static final long[] MACS = {A, B, R, 0xFFFF_FFFF_FFFFL, 0x0100_5E00_0001L, 0x52_54_00_00_00_99L};

    private final AgentHarness h = new AgentHarness(Mode.FERRY);
    private final TestPort a = h.localVm(A);
    private final TestPort b = h.localVm(B);
    private final byte[] datagram = new byte[65_536];
    private long inputs;

    {
        h.remoteVm(R, 2);
    }

    /** A datagram from another agent: mostly a well-formed Ferry header with fuzzed fields, sometimes raw bytes. */
    @FuzzTest(maxDuration = "5s")
    void underlayDatagram(FuzzedDataProvider data) {
        int length;
        if (data.consumeBoolean()) {
            int at = GeneveWriter.writeHeader(datagram, 0, data.consumeBoolean() ? VNI : data.consumeInt(0, 0xFFFFFF),
                    data.consumeBoolean(), data.consumeBoolean() ? Geneve.PROTOCOL_ETHERNET : Geneve.PROTOCOL_FERRY_CONTROL,
                    data.consumeInt(0, 7), data.consumeInt(0, 4), data.consumeLong(), data.consumeLong(), data.consumeLong());
            dev.ferry.wire.Ethernet.writeHeader(datagram, at, data.pickValue(MACS), data.pickValue(MACS), data.consumeInt(0, 0xFFFF));
            byte[] rest = data.consumeBytes(9_000);
            System.arraycopy(rest, 0, datagram, at + 14, rest.length);
            length = at + 14 + rest.length;
            if (data.consumeBoolean()) length = data.consumeInt(0, length);
        } else {
            byte[] raw = data.consumeRemainingAsBytes();
            System.arraycopy(raw, 0, datagram, 0, Math.min(raw.length, datagram.length));
            length = Math.min(raw.length, datagram.length);
        }
        h.agent.onUnderlay(data.consumeInt(0, 3), datagram, 0, length, h.now);
        afterEachInput(data);
        assertThat(h.count(Counter.UNDERLAY_IN)).isEqualTo(inputs);
    }

    private static final int[] ETHER_TYPES = {0x0800, 0x0806, 0x8035, 0x86DD, 0x8100, 0x88A8};

    /** A frame from a guest: any bytes, any length up to 64 KiB, to any of the MACs the agent knows and some it does not. */
    @FuzzTest(maxDuration = "5s")
    void guestFrame(FuzzedDataProvider data) {
        TestPort from = data.consumeBoolean() ? a : b;
        byte[] frame = data.consumeBytes(65_535);
        if (frame.length >= 12 && data.consumeBoolean()) {
            // Biased to the types port security reads into (IPv4, ARP, RARP, IPv6, VLAN tags).
            int type = data.consumeBoolean() ? data.pickValue(ETHER_TYPES) : data.consumeInt(0, 0xFFFF);
            dev.ferry.wire.Ethernet.writeHeader(frame, 0, data.pickValue(MACS), from.key.mac(), frame.length >= 14 ? type : 0);
        }
        if (data.consumeBoolean()) h.event(pickEvent(data, from));
        h.agent.onPortFrame(h.agent.localPort(from.key), frame, 0, frame.length, h.now);
        afterEachInput(data);
        assertThat(h.count(Counter.PORT_IN)).isEqualTo(inputs);
    }

    private MigrationEvent pickEvent(FuzzedDataProvider data, TestPort port) {
        long id = data.consumeInt(1, 3);
        long mac = port.key.mac();
        return switch (data.consumeInt(0, 5)) {
            case 0 -> new MigrationEvent.Started(VNI, mac, id);
            case 1 -> new MigrationEvent.SourceStopped(VNI, mac, id);
            case 2 -> new MigrationEvent.Aborted(VNI, mac, id);
            case 3 -> new MigrationEvent.DestinationResumed(VNI, mac, id);
            case 4 -> new MigrationEvent.StandbyGone(VNI, mac, id);
            default -> new MigrationEvent.SourceGone(VNI, mac, id);
        };
    }

    /** Time goes on a little; nothing the agent keeps outgrows its bounds. */
    private void afterEachInput(FuzzedDataProvider data) {
        inputs++;
        h.pump();
        if (data.remainingBytes() > 0 && data.consumeBoolean()) h.advance(data.consumeInt(1, 50));
        AgentConfig c = h.agent.config();
        for (MigrationEntry e : h.agent.migrations()) assertThat(e.bufferedBytes()).isLessThanOrEqualTo(c.bufferBytes());
        assertThat(h.agent.outstandingBoardCalls()).isLessThan(10_000);
    }
}
