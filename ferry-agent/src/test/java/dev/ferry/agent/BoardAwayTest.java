package dev.ferry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.board.BoardRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** A board that answers nothing for long: what the agent asks of it stays bounded in number and rate. */
class BoardAwayTest {
    private static final long MS = 1_000_000L;
    private final List<BoardRequest> sent = new ArrayList<>();
    private final Agent agent = new Agent(AgentConfig.defaults(1, Set.of(AgentHarness.VNI), Mode.FERRY).withTimings(20, 500, 1_000, 1_000),
            new Underlay() {
                @Override public void send(int to, byte[] buf, int off, int len) {}
            }, sent::add, 1);

    @Test
    void heartbeatsAndWatchesDoNotPileUpAndOldCallsAreResentOnceASecond() {
        agent.start(0);
        for (long ms = 1; ms <= 60_000; ms++) agent.tick(ms * MS);

        long heartbeatIds = sent.stream().filter(r -> r instanceof BoardRequest.Heartbeat).mapToLong(BoardRequest::requestId).distinct().count();
        long watchIds = sent.stream().filter(r -> r instanceof BoardRequest.Watch).mapToLong(BoardRequest::requestId).distinct().count();
        assertThat(heartbeatIds).isEqualTo(1);
        assertThat(watchIds).isEqualTo(1);
        assertThat(agent.outstandingBoardCalls()).isLessThan(10);
        // Each call resent every 20 ms for its first second, then once a second: about 110 sends in a minute.
        assertThat(sent.stream().filter(r -> r instanceof BoardRequest.Heartbeat).count()).isBetween(100L, 120L);
    }

    @Test
    void pastTheBoundNewCallsAreRefusedAndCounted() {
        Counters counters = new Counters();
        BoardCalls calls = new BoardCalls(sent::add, counters, 1, 1, 20 * MS);
        int accepted = 0;
        for (int i = 0; i < BoardCalls.MAX_OUTSTANDING + 10; i++) {
            if (calls.call(id -> new BoardRequest.Heartbeat(id, 1), r -> {}, 0)) accepted++;
        }
        assertThat(accepted).isEqualTo(BoardCalls.MAX_OUTSTANDING);
        assertThat(counters.get(Counter.BOARD_CALLS_REFUSED)).isEqualTo(10);
    }

    @Test
    void aGuestSendingToManyUnknownMacsAsksTheBoardForAtMostTheLookupBound() {
        agent.start(0);
        TestPort a = new TestPort();
        agent.addPort(a, MS);
        byte[] frame = new byte[60];
        LocalPort port = agent.localPort(a.key);
        for (int i = 0; i < 6_000; i++) {
            dev.ferry.wire.Ethernet.writeHeader(frame, 0, 0x02_00_00_00_00_00L + i, a.key.mac(), 0x88B6);
            agent.onPortFrame(port, frame, 0, frame.length, 2 * MS);
        }
        assertThat(agent.outstandingBoardCalls()).isLessThanOrEqualTo(Egress.AWAITING_DESTINATIONS_MAX + 10);
    }

    private static final class TestPort extends AgentHarness.TestPort {
        TestPort() {
            super(0x52_54_00_00_00_0AL);
        }
    }
}
