package dev.ferry.agent.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The kernel's own count of datagrams a socket's full receive queue dropped, read by port. */
class KernelDropsTest {

    @Test
    void datagramsASocketHadNoRoomForAreCountedByItsPort() throws Exception {
        try (DatagramChannel quiet = DatagramChannel.open(); DatagramChannel other = DatagramChannel.open();
             DatagramChannel sender = DatagramChannel.open()) {
            quiet.setOption(StandardSocketOptions.SO_RCVBUF, 4_096);
            quiet.bind(new InetSocketAddress("127.0.0.1", 0));
            other.bind(new InetSocketAddress("127.0.0.1", 0));
            InetSocketAddress to = (InetSocketAddress) quiet.getLocalAddress();
            assertThat(KernelDrops.of(to)).isZero();

            // Bounded: a few hundred datagrams to loopback, never read, overflow a 4 KiB queue.
            for (int i = 0; i < 500; i++) sender.send(ByteBuffer.allocate(512), to);

            long drops = KernelDrops.of(to);
            assertThat(drops).isPositive().isLessThanOrEqualTo(500);
            assertThat(KernelDrops.of(List.of(to, (InetSocketAddress) other.getLocalAddress()))).isEqualTo(drops);
            assertThat(KernelDrops.of((InetSocketAddress) other.getLocalAddress())).isZero();
        }
    }
}
