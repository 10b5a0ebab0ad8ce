package dev.ferry.agent.port;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A QEMU socket port's native socket: datagrams to and from its one peer, anyone else's refused. */
class PeerDatagramsTest {

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "::1"})
    void aDatagramFromThePeerIsTakenWholeAndOneFromAnyoneElseIsAStranger(String host) throws Exception {
        try (DatagramChannel qemu = DatagramChannel.open().bind(new InetSocketAddress(host, 0));
             DatagramChannel stranger = DatagramChannel.open().bind(new InetSocketAddress(host, 0));
             PeerDatagrams port = new PeerDatagrams(new InetSocketAddress(host, 0), (InetSocketAddress) qemu.getLocalAddress(), 2048, 1 << 16)) {
            byte[] into = new byte[2048];
            assertThat(port.receive(into)).as("nothing waits yet").isEqualTo(PeerDatagrams.NONE);

            stranger.send(ByteBuffer.wrap(new byte[] {9, 9, 9}), port.localAddress());
            qemu.send(ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5}), port.localAddress());

            assertThat(await(port, into)).isEqualTo(PeerDatagrams.STRANGER);
            assertThat(await(port, into)).isEqualTo(5);
            assertThat(into).startsWith(1, 2, 3, 4, 5);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"127.0.0.1", "::1"})
    void whatThePortSendsReachesThePeer(String host) throws Exception {
        try (DatagramChannel qemu = DatagramChannel.open().bind(new InetSocketAddress(host, 0));
             PeerDatagrams port = new PeerDatagrams(new InetSocketAddress(host, 0), (InetSocketAddress) qemu.getLocalAddress(), 2048, 1 << 16)) {
            assertThat(port.send(new byte[] {0, 7, 8, 0}, 1, 2)).isTrue();

            ByteBuffer got = ByteBuffer.allocate(16);
            assertThat(qemu.receive(got)).isEqualTo(port.localAddress());
            assertThat(got.flip().remaining()).isEqualTo(2);
            assertThat(got.get(0)).isEqualTo((byte) 7);
        }
    }

    @Test
    void aDatagramLongerThanTheCallersBufferIsRefusedNotCut() throws Exception {
        try (DatagramChannel qemu = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
             PeerDatagrams port = new PeerDatagrams(new InetSocketAddress("127.0.0.1", 0), (InetSocketAddress) qemu.getLocalAddress(), 2048,
                     1 << 16)) {
            qemu.send(ByteBuffer.wrap(new byte[100]), port.localAddress());

            assertThat(await(port, new byte[64])).isEqualTo(PeerDatagrams.TOO_LONG);
        }
    }

    @Test
    void addressesOfTwoFamiliesAreRefusedWithBothNamed() {
        assertThatThrownBy(() -> new PeerDatagrams(new InetSocketAddress("127.0.0.1", 0), new InetSocketAddress("::1", 5000), 2048, 1 << 16))
                .isInstanceOf(IOException.class).hasMessageContaining("127.0.0.1").hasMessageContaining("not of one family");
    }

    /** The next datagram's outcome, waiting up to 5 s for one to arrive. */
    private static int await(PeerDatagrams port, byte[] into) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        int n;
        while ((n = port.receive(into)) == PeerDatagrams.NONE && System.nanoTime() < deadline) Thread.sleep(1);
        return n;
    }
}
