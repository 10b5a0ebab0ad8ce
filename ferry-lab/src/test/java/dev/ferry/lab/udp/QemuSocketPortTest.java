package dev.ferry.lab.udp;

import dev.ferry.agent.PortPolicy;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Counter;
import dev.ferry.agent.Mode;
import dev.ferry.agent.port.QemuSocketPort;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.Ethernet;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Two agents on loopback, each with a QEMU socket port; the VMs are test sockets speaking what
 * QEMU's {@code -netdev dgram} speaks: one raw Ethernet frame per UDP datagram.
 */
class QemuSocketPortTest {
    private static final int VNI = 5001;
    private static final long MAC_A = 0x52_54_00_00_0A_01L, MAC_B = 0x52_54_00_00_0B_01L;
    private static final InetSocketAddress ANY = new InetSocketAddress("127.0.0.1", 0);

    private UdpCluster cluster;
    private DatagramChannel qemuA, qemuB;
    private QemuSocketPort portA, portB;

    @BeforeEach
    void setUp() throws Exception {
        cluster = new UdpCluster(2, Mode.FERRY, Set.of(VNI));
        qemuA = DatagramChannel.open().bind(ANY);
        qemuB = DatagramChannel.open().bind(ANY);
        portA = new QemuSocketPort(new VmKey(VNI, MAC_A), "vm-a", List.of(0xC6120A01), PortPolicy.defaultsFor(List.of(0xC6120A01)), ANY, (InetSocketAddress) qemuA.getLocalAddress());
        portB = new QemuSocketPort(new VmKey(VNI, MAC_B), "vm-b", List.of(0xC6120B01), PortPolicy.defaultsFor(List.of(0xC6120B01)), ANY, (InetSocketAddress) qemuB.getLocalAddress());
        cluster.addPort(1, portA);
        cluster.addPort(2, portB);
        Thread.sleep(300); // both attached, and each agent's cache knows the other VM
    }

    @AfterEach
    void tearDown() throws Exception {
        cluster.close();
        qemuA.close();
        qemuB.close();
        portA.close();
        portB.close();
    }

    private static ByteBuffer frame(long dst, long src, long seq) {
        byte[] b = new byte[60];
        Ethernet.writeHeader(b, 0, dst, src, 0x88B6);
        Bytes.put64(b, 14, seq);
        return ByteBuffer.wrap(b);
    }

    /** Sends {@code count} frames from one VM, paced, and returns the sequence numbers the other VM got. */
    private List<Long> stream(DatagramChannel from, QemuSocketPort fromPort, DatagramChannel to, long dst, long src, int count)
            throws Exception {
        InetSocketAddress target = fromPort.localAddress();
        to.configureBlocking(false);
        List<Long> got = new ArrayList<>();
        ByteBuffer rx = ByteBuffer.allocate(2048);
        for (int i = 0; i < count; i++) {
            from.send(frame(dst, src, i), target);
            if (i % 50 == 49) Thread.sleep(2);
            drain(to, rx, got);
        }
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (got.size() < count && System.nanoTime() < deadline) {
            drain(to, rx, got);
            Thread.sleep(1);
        }
        return got;
    }

    private static void drain(DatagramChannel ch, ByteBuffer rx, List<Long> got) throws Exception {
        while (true) {
            rx.clear();
            if (ch.receive(rx) == null) return;
            if (rx.position() >= 22 && Bytes.u16(rx.array(), 12) == 0x88B6) got.add(Bytes.i64(rx.array(), 14));
        }
    }

    @Test
    void framesCrossTheOverlayBetweenTwoQemuSocketVmsInOrderBothWays() throws Exception {
        List<Long> atB = stream(qemuA, portA, qemuB, MAC_B, MAC_A, 1_000);
        List<Long> atA = stream(qemuB, portB, qemuA, MAC_A, MAC_B, 1_000);
        assertThat(atB).hasSize(1_000).isSorted();
        assertThat(atA).hasSize(1_000).isSorted();
        assertThat(portA.framesIn()).isEqualTo(1_000);
        assertThat(portB.framesOut()).isEqualTo(1_000);
    }

    @Test
    void aRuntFrameFromTheVmIsDroppedAndCounted() throws Exception {
        qemuA.send(ByteBuffer.wrap(new byte[10]), portA.localAddress());
        long deadline = System.nanoTime() + 2_000_000_000L;
        while (cluster.agents().get(0).counters().get(Counter.DROP_RUNT_FRAME) == 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(cluster.agents().get(0).counters().get(Counter.DROP_RUNT_FRAME)).isEqualTo(1);
    }

    @Test
    void aDatagramFromAnotherAddressThanTheVmsIsDroppedAndCounted() throws Exception {
        try (DatagramChannel stranger = DatagramChannel.open().bind(ANY)) {
            stranger.send(frame(MAC_B, MAC_A, 1), portA.localAddress());
            long deadline = System.nanoTime() + 2_000_000_000L;
            while (portA.strangers() == 0 && System.nanoTime() < deadline) Thread.sleep(5);
        }
        assertThat(portA.strangers()).isEqualTo(1);
        assertThat(portA.framesIn()).isZero();
    }
}
