package dev.ferry.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.AgentHarness.TestPort;
import dev.ferry.board.Board;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.InMemoryStore;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveWriter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/**
 * Two real agents on one real board, the wire between them a queue: their underlay sealed as it is
 * by default (design §7b), keys learned from the board, and what a member that lies is refused.
 */
class SealedUnderlayTest {
    private static final int VNI = AgentHarness.VNI;
    private static final long MS = 1_000_000L;
    private static final long VM_A = 0x02_00_00_00_00_0aL;
    private static final long VM_B = 0x02_00_00_00_00_0bL;

    private final Board board = new Board(new InMemoryStore(), this::push);
    private final ArrayDeque<Runnable> work = new ArrayDeque<>();
    private final List<byte[]> wire = new ArrayList<>();
    private final Agent[] agents = new Agent[3];
    /** Pushes of host records to this host are lost while true (its event stream is down). */
    private boolean hostOneDeaf;
    private long now = 1_000 * MS;

    /** Each process's incarnation, drawn as a real agent draws it (at random), from a seed. */
    private final java.util.Random incarnations = new java.util.Random(14);

    private Agent start(int host) {
        return start(host, incarnations.nextLong());
    }

    /** Starts host {@code host}'s agent, a process of it drawn as {@code incarnation}. */
    private Agent start(int host, long incarnation) {
        AgentConfig config = AgentConfig.defaults(host, Set.of(VNI), Mode.FERRY).withEndpoint("198.18.0." + host + ":6081");
        Agent a = new Agent(config, (to, buf, off, len) -> {
            byte[] datagram = Arrays.copyOfRange(buf, off, off + len);
            wire.add(datagram);
            work.add(() -> agents[to].onUnderlay(host, datagram, 0, datagram.length, now));
        }, request -> work.add(() -> {
            var response = board.handle(request, now / MS);
            agents[host].onBoardResponse(response, now);
        }), incarnation);
        agents[host] = a;
        a.start(now);
        run();
        return a;
    }

    private void push(int host, BoardEvent event) {
        if (host == 1 && hostOneDeaf && event instanceof BoardEvent.HostChanged) return;
        if (agents[host] != null) work.add(() -> agents[host].onBoardEvent(event, now));
    }

    private void run() {
        while (!work.isEmpty()) work.poll().run();
    }

    private void tick(long millis) {
        for (long t = 0; t < millis; t++) {
            now += MS;
            for (Agent a : agents) if (a != null) a.tick(now);
            run();
        }
    }

    private TestPort vm(Agent a, long mac) {
        TestPort port = new TestPort(mac);
        a.addPort(port, now);
        run();
        return port;
    }

    private void send(Agent a, TestPort from, long to, long seq) {
        byte[] frame = new byte[60];
        AgentHarness.writeTraffic(frame, 0, to, from.key.mac(), seq);
        a.onPortFrame(a.localPort(from.key), frame, 0, frame.length, now);
        run();
    }

    @Test
    void everyDatagramBetweenTwoAgentsIsSealedAndTheFramesArrive() {
        Agent one = start(1);
        Agent two = start(2);
        TestPort a = vm(one, VM_A);
        TestPort b = vm(two, VM_B);
        tick(5);

        for (long seq = 0; seq < 100; seq++) send(one, a, VM_B, seq);

        assertThat(b.seqs()).containsExactlyElementsOf(LongStream.range(0, 100).boxed().toList());
        assertThat(wire).isNotEmpty().allSatisfy(d ->
                assertThat(d[Geneve.BASE_HEADER_LENGTH + 2] & 0xFF).as("the seal option comes first").isEqualTo(Geneve.SEAL_OPTION_TYPE));
    }

    @Test
    void framesToAHostWhoseKeyIsNotKnownYetWaitAndArriveInOrderOnceItIs() {
        Agent one = start(1);
        TestPort a = vm(one, VM_A);
        hostOneDeaf = true; // host 2's registration does not reach host 1
        Agent two = start(2);
        TestPort b = vm(two, VM_B);
        tick(5);

        for (long seq = 0; seq < 50; seq++) send(one, a, VM_B, seq);
        assertThat(b.delivered).isEmpty();
        assertThat(one.counters().get(Counter.KEY_WAITED)).isEqualTo(50);

        hostOneDeaf = false;
        tick(200); // the agent asks the board for the hosts again

        assertThat(b.seqs()).containsExactlyElementsOf(LongStream.range(0, 50).boxed().toList());
        assertThat(one.counters().drops()).isZero();
    }

    @Test
    void whatWaitsForAKeyThatNeverComesIsDroppedCountedAfterItsWait() {
        Agent one = start(1);
        TestPort a = vm(one, VM_A);
        hostOneDeaf = true;
        Agent two = start(2);
        TestPort b = vm(two, VM_B);
        board.handle(new BoardRequest.RegisterHost(1L << 48 | 99, 2, "198.18.0.2:6081", Set.of(VNI), 3_000), now / MS);
        tick(5);

        for (long seq = 0; seq < 10; seq++) send(one, a, VM_B, seq);
        tick(KeyWait.WAIT_NANOS / MS + 100);

        // Host 2 registered again without a key: host 1 would not speak to it anyway.
        assertThat(b.delivered).isEmpty();
        assertThat(one.counters().get(Counter.DROP_KEY_WAIT_EXPIRED) + one.counters().get(Counter.DROP_PEER_INSECURE))
                .as("the 10 frames").isEqualTo(10);
    }

    @Test
    void aControlMessageNamingAnotherHostAsItsOriginIsRefused() {
        Agent one = start(1);
        Agent two = start(2);
        vm(one, VM_A);
        tick(5);
        long controlBefore = one.counters().get(Counter.CONTROL_IN);

        // Host 2 is a member, with its key; it claims in the header to be host 3.
        byte[] b = new byte[256];
        int at = GeneveWriter.writeHeader(b, 0, VNI, true, Geneve.PROTOCOL_FERRY_CONTROL, 0, 3, 0, 0);
        int n = ControlCodec.encode(new ControlMessage.Prepare(0, VM_A), b, at);
        assertThat(two.seal().seal(1, b, 0, at + n, now)).isEqualTo(dev.ferry.agent.seal.Seal.Sealed.SEALED);
        byte[] sealed = Arrays.copyOf(two.seal().sealed(), two.seal().sealedLength());
        one.onUnderlay(2, sealed, 0, sealed.length, now);

        assertThat(one.counters().get(Counter.DROP_ORIGIN_MISMATCH)).isEqualTo(1);
        assertThat(one.counters().get(Counter.CONTROL_IN)).isEqualTo(controlBefore);
        assertThat(one.migrations()).isEmpty();
    }

    @Test
    void aRestartedAgentIsLearnedAgainAndTrafficToItResumes() {
        Agent one = start(1);
        start(2);
        TestPort a = vm(one, VM_A);
        tick(5);
        Agent twoAgain = start(2); // a new process: a new key
        TestPort b = vm(twoAgain, VM_B);
        tick(50);

        for (long seq = 0; seq < 20; seq++) send(one, a, VM_B, seq);

        assertThat(b.seqs()).containsExactlyElementsOf(LongStream.range(0, 20).boxed().toList());
    }
}
