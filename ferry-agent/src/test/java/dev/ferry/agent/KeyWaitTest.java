package dev.ferry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** What waits for a host's key: in order, bounded, and each direction within a budget of its own. */
class KeyWaitTest {
    private final Counters counters = new Counters();
    private final KeyWait wait = new KeyWait(counters);
    private final byte[] datagram = new byte[100];

    @Test
    void incomingDatagramsUnderMadeUpKeysDoNotStopOutgoingFramesToANewHost() {
        int taken = 0;
        for (int i = 0; i < KeyWait.MAX_DATAGRAMS + 50; i++) {
            if (wait.hold(2, true, datagram, 0, datagram.length, 0)) taken++;
        }

        assertThat(taken).isEqualTo(KeyWait.MAX_DATAGRAMS);
        assertThat(counters.get(Counter.DROP_KEY_WAIT_FULL)).isEqualTo(50);
        assertThat(wait.hold(3, false, datagram, 0, datagram.length, 0)).as("to host 3, just joined").isTrue();
        assertThat(wait.outgoingTo(3)).isTrue();
    }

    @Test
    void whatIsReleasedOrExpiredFreesItsDirectionsBudget() {
        for (int i = 0; i < KeyWait.MAX_DATAGRAMS; i++) wait.hold(3, false, datagram, 0, datagram.length, 0);
        assertThat(wait.hold(3, false, datagram, 0, datagram.length, 0)).isFalse();

        assertThat(wait.release(3)).hasSize(KeyWait.MAX_DATAGRAMS);
        assertThat(wait.outgoingTo(3)).isFalse();
        assertThat(wait.hold(3, false, datagram, 0, datagram.length, 1)).isTrue();
        wait.expire(1 + KeyWait.WAIT_NANOS + 1);
        assertThat(wait.size()).isZero();
        assertThat(counters.get(Counter.DROP_KEY_WAIT_EXPIRED)).isEqualTo(1);
    }
}
