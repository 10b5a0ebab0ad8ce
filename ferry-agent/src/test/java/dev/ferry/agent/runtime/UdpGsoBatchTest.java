package dev.ferry.agent.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The underlay's sends gathered into one segmented send (UDP GSO) on the real loopback: each
 * datagram still arrives on its own, whole and in order, and a datagram that cannot join sends
 * what was gathered first.
 */
class UdpGsoBatchTest {
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : open.reversed()) c.close();
    }

    private UnderlaySocket sender() throws IOException {
        return sender(new InetSocketAddress("127.0.0.1", 0));
    }

    private UnderlaySocket sender(InetSocketAddress bind) throws IOException {
        UnderlaySocket s = UnderlaySocket.open(bind, UnderlaySocket.Transport.EPOLL);
        open.add(s::close);
        return s;
    }

    private DatagramChannel receiver() throws IOException {
        DatagramChannel c = DatagramChannel.open().setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20)
                .bind(new InetSocketAddress("127.0.0.1", 0));
        c.configureBlocking(false);
        open.add(c);
        return c;
    }

    /** A datagram of {@code length} bytes, each its {@code tag}. */
    private static ByteBuffer datagram(int length, int tag) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) tag);
        ByteBuffer d = ByteBuffer.allocateDirect(length);
        return d.put(b).flip();
    }

    /** What {@code c} has now, each datagram as its length and first byte. */
    private static List<String> arrived(DatagramChannel c) throws Exception {
        Thread.sleep(100);
        List<String> out = new ArrayList<>();
        ByteBuffer b = ByteBuffer.allocate(70_000);
        while (c.receive(b.clear()) != null) {
            b.flip();
            byte first = b.get(0);
            for (int i = 0; i < b.limit(); i++) assertThat(b.get(i)).as("datagram arrived whole").isEqualTo(first);
            out.add(b.limit() + ":" + first);
        }
        return out;
    }

    private static InetSocketAddress at(DatagramChannel c) throws IOException {
        return (InetSocketAddress) c.getLocalAddress();
    }

    @Test
    void equalDatagramsToOnePeerLeaveInOneSendAndArriveOneByOneInOrder() throws Exception {
        UnderlaySocket s = sender();
        DatagramChannel peer = receiver();
        for (int i = 1; i <= 10; i++) s.send(datagram(1_400, i), at(peer));
        s.send(datagram(300, 11), at(peer));

        assertThat(arrived(peer)).as("gathered, not sent before the turn ends").isEmpty();
        s.flush();

        List<String> expected = new ArrayList<>();
        for (int i = 1; i <= 10; i++) expected.add("1400:" + i);
        expected.add("300:11");
        assertThat(arrived(peer)).containsExactlyElementsOf(expected);
        assertThat(s.segmentedSends()).isEqualTo(1);
        assertThat(s.sendFailures()).isZero();
    }

    /**
     * A route whose MTU is below the segment size: the kernel refuses to segment (EINVAL); those
     * datagrams go one by one (fragmented by IP, arriving whole), shorter ones are still gathered.
     * The route is to an address of the test's own on loopback (198.18.0.0/15), removed after.
     */
    @Test
    void sizesTheRouteCannotSegmentGoOneByOneAndShorterOnesStillGather() throws Exception {
        assumeTrue(ProcessHandle.current().info().user().map("root"::equals).orElse(false), "needs root (an address and route on lo)");
        String address = "198.19.77.7";
        ip("addr", "add", address + "/32", "dev", "lo");
        open.add(() -> ip("addr", "del", address + "/32", "dev", "lo"));
        ip("route", "replace", "local", address, "dev", "lo", "table", "local", "mtu", "lock", "1000");
        open.add(() -> ip("route", "del", "local", address, "dev", "lo", "table", "local"));
        UnderlaySocket s = sender(new InetSocketAddress(address, 0));
        DatagramChannel peer = DatagramChannel.open().setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20)
                .bind(new InetSocketAddress(address, 0));
        peer.configureBlocking(false);
        open.add(peer);

        for (int i = 1; i <= 5; i++) s.send(datagram(1_400, i), at(peer));
        s.flush();
        for (int i = 6; i <= 10; i++) s.send(datagram(1_400, i), at(peer));
        s.flush();
        for (int i = 11; i <= 15; i++) s.send(datagram(600, i), at(peer));
        s.flush();

        List<String> expected = new ArrayList<>();
        for (int i = 1; i <= 10; i++) expected.add("1400:" + i);
        for (int i = 11; i <= 15; i++) expected.add("600:" + i);
        assertThat(s.sendFailures()).as("nothing lost to the refusal").isZero();
        assertThat(s.segmentedSends()).as("only the 600-byte ones went segmented").isEqualTo(1);
        assertThat(arrived(peer)).containsExactlyElementsOf(expected);
    }

    private static void ip(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(String.join(" ", cmd) + ": " + out).isZero();
    }

    @Test
    void aDatagramToAnotherPeerSendsWhatWasGatheredFirst() throws Exception {
        UnderlaySocket s = sender();
        DatagramChannel a = receiver();
        DatagramChannel b = receiver();
        s.send(datagram(500, 1), at(a));
        s.send(datagram(500, 2), at(a));
        s.send(datagram(500, 3), at(b));

        assertThat(arrived(a)).containsExactly("500:1", "500:2");
        s.send(datagram(500, 4), at(a));
        s.flush();
        assertThat(arrived(b)).containsExactly("500:3");
        assertThat(arrived(a)).containsExactly("500:4");
    }

    @Test
    void segmentedSendsToPeersInTurnEachReachTheirOwnPeer() throws Exception {
        UnderlaySocket s = sender();
        DatagramChannel a = receiver();
        DatagramChannel b = receiver();
        for (int i = 1; i <= 3; i++) s.send(datagram(700, i), at(a));
        for (int i = 4; i <= 6; i++) s.send(datagram(700, i), at(b));
        for (int i = 7; i <= 9; i++) s.send(datagram(700, i), at(a));
        s.flush();

        assertThat(arrived(a)).containsExactly("700:1", "700:2", "700:3", "700:7", "700:8", "700:9");
        assertThat(arrived(b)).containsExactly("700:4", "700:5", "700:6");
        assertThat(s.segmentedSends()).isEqualTo(3);
    }

    @Test
    void aLongerDatagramOrOneAfterAShorterOneStartsANewBatch() throws Exception {
        UnderlaySocket s = sender();
        DatagramChannel peer = receiver();
        s.send(datagram(800, 1), at(peer));
        s.send(datagram(900, 2), at(peer)); // longer: the first goes alone
        s.send(datagram(900, 3), at(peer));
        s.send(datagram(100, 4), at(peer)); // shorter: ends the batch
        s.send(datagram(100, 5), at(peer));
        s.flush();

        assertThat(arrived(peer)).containsExactly("800:1", "900:2", "900:3", "100:4", "100:5");
    }

    @Test
    void moreThanTheKernelTakesInOneSendGoesInSeveral() throws Exception {
        UnderlaySocket s = sender();
        DatagramChannel peer = receiver();
        for (int i = 0; i < 150; i++) s.send(datagram(1_000, i), at(peer));
        s.flush();

        List<String> got = arrived(peer);
        assertThat(got).hasSize(150);
        for (int i = 0; i < 150; i++) assertThat(got.get(i)).isEqualTo("1000:" + (byte) i);
        assertThat(s.segmentedSends()).isGreaterThanOrEqualTo(3);
    }
}
