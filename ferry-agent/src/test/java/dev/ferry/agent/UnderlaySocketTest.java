package dev.ferry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.runtime.HostDirectory;
import dev.ferry.agent.runtime.UnderlaySocket;
import dev.ferry.agent.runtime.UnderlaySocket.Transport;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.List;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Both underlay sockets, real UDP on loopback, handing datagrams to a real agent. */
class UnderlaySocketTest {
    private static final long VM_A = 0x02_00_00_00_00_0aL;
    private static final long VM_B = 0x02_00_00_00_00_0bL;
    private static final InetSocketAddress ANY_LOOPBACK = new InetSocketAddress("127.0.0.1", 0);

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"EPOLL", "NIO"})
    void handsEveryWaitingDatagramToTheAgentInArrivalOrder(Transport transport) throws Exception {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        AgentHarness.TestPort vm = h.localVm(VM_B);
        try (UnderlaySocket socket = UnderlaySocket.open(ANY_LOOPBACK, transport);
             DatagramChannel peer = DatagramChannel.open().bind(ANY_LOOPBACK)) {
            HostDirectory hosts = hostTwoAt(peer);
            for (long seq = 0; seq < 500; seq++) peer.send(ByteBuffer.wrap(dataPacket(seq, 40)), socket.localAddress());
            receiveUntil(socket, hosts, h, () -> vm.delivered.size() >= 500);

            assertThat(vm.seqs()).containsExactlyElementsOf(LongStream.range(0, 500).boxed().toList());
            assertThat(socket.receiveErrors()).isZero();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"EPOLL", "NIO"})
    void aDatagramFromAnEndpointNoHostRegisteredIsDroppedAndCounted(Transport transport) throws Exception {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        AgentHarness.TestPort vm = h.localVm(VM_B);
        try (UnderlaySocket socket = UnderlaySocket.open(ANY_LOOPBACK, transport);
             DatagramChannel host2 = DatagramChannel.open().bind(ANY_LOOPBACK);
             // Another address: a source is matched by its address alone when one host has it (a Geneve device's ports vary).
             DatagramChannel stranger = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.2", 0))) {
            HostDirectory hosts = hostTwoAt(host2);
            for (long seq = 0; seq < 10; seq++) stranger.send(ByteBuffer.wrap(dataPacket(seq, 40)), socket.localAddress());
            host2.send(ByteBuffer.wrap(dataPacket(10, 40)), socket.localAddress());
            receiveUntil(socket, hosts, h, () -> !vm.delivered.isEmpty());

            assertThat(vm.seqs()).containsExactly(10L);
            assertThat(h.count(Counter.DROP_UNKNOWN_PEER)).isEqualTo(10);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"EPOLL", "NIO"})
    void sendsADatagramToTheAddressGiven(Transport transport) throws Exception {
        try (UnderlaySocket socket = UnderlaySocket.open(ANY_LOOPBACK, transport);
             DatagramChannel peer = DatagramChannel.open().bind(ANY_LOOPBACK)) {
            ByteBuffer out = ByteBuffer.allocateDirect(256);
            out.put(dataPacket(7, 40)).flip();
            assertThat(socket.send(out, (InetSocketAddress) peer.getLocalAddress())).isTrue();
            socket.flush(); // what the loop does at the end of every turn

            ByteBuffer in = ByteBuffer.allocate(256);
            InetSocketAddress from = (InetSocketAddress) peer.receive(in);
            assertThat(in.position()).isEqualTo(Geneve.FERRY_HEADER_LENGTH + 40);
            assertThat(from.getPort()).isEqualTo(socket.localAddress().getPort());
            assertThat(socket.transport()).isEqualTo(transport.name().toLowerCase());
        }
    }

    @Test
    void aDatagramTooLongForTheBatchedReceiveIsDroppedAndCountedNotCut() throws Exception {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        AgentHarness.TestPort vm = h.localVm(VM_B);
        try (UnderlaySocket socket = UnderlaySocket.open(ANY_LOOPBACK, Transport.EPOLL);
             DatagramChannel peer = DatagramChannel.open().bind(ANY_LOOPBACK)) {
            HostDirectory hosts = hostTwoAt(peer);
            peer.send(ByteBuffer.wrap(dataPacket(1, 20_000)), socket.localAddress());
            peer.send(ByteBuffer.wrap(dataPacket(2, 40)), socket.localAddress());
            receiveUntil(socket, hosts, h, () -> !vm.delivered.isEmpty());

            assertThat(vm.seqs()).containsExactly(2L);
            assertThat(socket.receiveErrors()).isEqualTo(1);
            assertThat(java.util.Arrays.stream(dev.ferry.wire.Malformed.values()).mapToLong(h.agent.counters()::malformed).sum())
                    .as("a cut datagram never reaches the parser").isZero();
        }
    }

    @ParameterizedTest
    @EnumSource(value = Transport.class, names = {"EPOLL", "NIO"})
    void anEmptyDatagramReachesTheAgentAndIsCountedAsMalformed(Transport transport) throws Exception {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        AgentHarness.TestPort vm = h.localVm(VM_B);
        try (UnderlaySocket socket = UnderlaySocket.open(ANY_LOOPBACK, transport);
             DatagramChannel peer = DatagramChannel.open().bind(ANY_LOOPBACK)) {
            HostDirectory hosts = hostTwoAt(peer);
            peer.send(ByteBuffer.allocate(0), socket.localAddress());
            peer.send(ByteBuffer.wrap(dataPacket(1, 40)), socket.localAddress());
            receiveUntil(socket, hosts, h, () -> !vm.delivered.isEmpty());

            assertThat(vm.seqs()).containsExactly(1L);
            assertThat(java.util.Arrays.stream(dev.ferry.wire.Malformed.values()).mapToLong(h.agent.counters()::malformed).sum())
                    .as("the empty datagram, counted").isEqualTo(1);
        }
    }

    @Test
    void datagramsTheKernelJoinedOnReceiveReachTheAgentOneByOneInOrder() throws Exception {
        AgentHarness h = new AgentHarness(Mode.FERRY);
        AgentHarness.TestPort vm = h.localVm(VM_B);
        try (UnderlaySocket socket = UnderlaySocket.open(ANY_LOOPBACK, Transport.EPOLL);
             UnderlaySocket sender = UnderlaySocket.open(ANY_LOOPBACK, Transport.EPOLL)) {
            HostDirectory hosts = new HostDirectory();
            hosts.put(2, sender.localAddress());
            // Sent segmented (UDP GSO), 40 of one size then a shorter one: what GRO joins on loopback.
            for (long seq = 0; seq < 40; seq++) sender.send(direct(dataPacket(seq, 1_400)), socket.localAddress());
            sender.send(direct(dataPacket(40, 700)), socket.localAddress());
            sender.flush();
            receiveUntil(socket, hosts, h, () -> vm.delivered.size() >= 41);

            assertThat(vm.seqs()).containsExactlyElementsOf(LongStream.range(0, 41).boxed().toList());
            assertThat(socket.joinedReceives()).as("the kernel joined them (UDP GRO)").isPositive();
            assertThat(socket.receiveErrors()).isZero();
        }
    }

    private static ByteBuffer direct(byte[] b) {
        return ByteBuffer.allocateDirect(b.length).put(b).flip();
    }

    @Test
    void aBusyAddressIsRefusedNamingIt() throws Exception {
        try (DatagramChannel taken = DatagramChannel.open().bind(ANY_LOOPBACK)) {
            InetSocketAddress busy = (InetSocketAddress) taken.getLocalAddress();
            for (Transport t : List.of(Transport.EPOLL, Transport.NIO)) {
                org.assertj.core.api.Assertions.assertThatThrownBy(() -> UnderlaySocket.open(busy, t))
                        .isInstanceOf(java.io.IOException.class);
            }
        }
    }

    /** A Geneve data packet from host 2 carrying a traffic frame VM_A -> VM_B of {@code frameLength} bytes. */
    private static byte[] dataPacket(long seq, int frameLength) {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + frameLength];
        int at = GeneveWriter.writeHeader(b, 0, AgentHarness.VNI, false, Geneve.PROTOCOL_ETHERNET, 0, 2, 0, 0);
        AgentHarness.writeTraffic(b, at, VM_B, VM_A, seq);
        return b;
    }

    /** Host 2, whose datagrams the tests send, registered at {@code peer}'s address. */
    private static HostDirectory hostTwoAt(DatagramChannel peer) throws java.io.IOException {
        HostDirectory hosts = new HostDirectory();
        hosts.put(2, (InetSocketAddress) peer.getLocalAddress());
        return hosts;
    }

    private static void receiveUntil(UnderlaySocket socket, HostDirectory hosts, AgentHarness h, java.util.function.BooleanSupplier done)
            throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (!done.getAsBoolean() && System.nanoTime() < deadline) {
            if (socket.receive(h.agent, hosts, h.now) == 0) Thread.sleep(1);
        }
    }
}
