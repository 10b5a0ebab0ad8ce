package dev.ferry.agent;

import dev.ferry.board.Board;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.InMemoryStore;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Bytes;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveFrame;
import dev.ferry.wire.GeneveWriter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * One agent (host 1) against a real board, with the wire replaced by lists: what the agent sends
 * is captured, board traffic is delivered when the test calls {@link #pump}. Other hosts exist only
 * as records on the board and as packets the test hands in.
 */
final class AgentHarness {
    static final int VNI = 5001;
    static final int SELF = 1;
    static final long MS = 1_000_000L;

    record Sent(int to, byte[] packet) {
        GeneveFrame frame() {
            GeneveFrame f = new GeneveFrame();
            if (f.wrap(packet, 0, packet.length) != null) throw new AssertionError("agent sent a malformed packet");
            return f;
        }

        ControlMessage control() {
            GeneveFrame f = frame();
            return f.isControl() && f.protocol() == Geneve.PROTOCOL_FERRY_CONTROL
                    ? ControlCodec.decode(packet, f.payloadOffset(), f.payloadLength()) : null;
        }

        /** The traffic sequence number of a data frame, -1 for anything else. */
        long seq() {
            GeneveFrame f = frame();
            return f.protocol() == Geneve.PROTOCOL_ETHERNET && !f.isControl() ? AgentHarness.seqOf(packet, f.payloadOffset()) : -1;
        }
    }

    /** A VM port that records what it is given. */
    static class TestPort implements Port {
        final VmKey key;
        final List<byte[]> delivered = new ArrayList<>();
        /** Frames the test says the paused VM never read: handed back when the source stops. */
        final List<byte[]> unread = new ArrayList<>();

        TestPort(long mac) {
            this.key = new VmKey(VNI, mac);
        }

        @Override public VmKey key() { return key; }
        @Override public String vmId() { return "vm-" + Long.toHexString(key.mac()); }
        @Override public List<Integer> ips() { return List.of((int) (0xC6120000L | (key.mac() & 0xFF))); }
        /** The VM does not keep up: its port takes nothing. */
        boolean full;

        @Override public boolean deliver(byte[] buf, int offset, int length) {
            if (full) return false;
            delivered.add(Arrays.copyOfRange(buf, offset, offset + length));
            return true;
        }

        @Override
        public void takeBackUnread(java.util.function.Consumer<byte[]> frames) {
            unread.forEach(frames);
            unread.clear();
        }

        List<Long> seqs() {
            return delivered.stream().filter(f -> Ethernet.etherType(f, 0) == 0x88B6).map(f -> seqOf(f, 0)).toList();
        }
    }

    final Board board;
    final Agent agent;
    final List<Sent> sent = new ArrayList<>();
    private final ArrayDeque<BoardRequest> requests = new ArrayDeque<>();
    /** Every request the agent made of the board, in order. */
    final List<BoardRequest> asked = new ArrayList<>();
    /** Host endpoints the agent handed its underlay. */
    final java.util.Map<Integer, String> learned = new java.util.HashMap<>();
    /** What the underlay says it could not send for want of an endpoint. */
    long unknownHosts;
    private final ArrayDeque<BoardEvent> pushes = new ArrayDeque<>();
    long now = 1_000 * MS;
    private long ids = 1L << 60;

    AgentHarness(Mode mode) {
        this(AgentConfig.defaults(SELF, Set.of(VNI), mode).withTimings(20, 500, 1_000, 1_000));
    }

    AgentHarness(AgentConfig config) {
        this(config, board -> {});
    }

    /**
     * An agent whose process starts on a board that {@code left} has already changed: what an
     * earlier process of this agent, which died, left there (design §6.8).
     */
    AgentHarness(AgentConfig config, java.util.function.Consumer<Board> left) {
        board = new Board(new InMemoryStore(), (host, event) -> {
            if (host == SELF) pushes.add(event);
        });
        left.accept(board);
        // The harness plays every other agent itself, in plaintext: the seal has tests of its own (SealTest).
        agent = new Agent(config.withPlaintextUnderlay(true), new Underlay() {
            @Override
            public void send(int to, byte[] buf, int off, int len) {
                sent.add(new Sent(to, Arrays.copyOfRange(buf, off, off + len)));
            }

            @Override
            public void learnHost(int hostId, String endpoint) {
                learned.put(hostId, endpoint);
            }

            @Override
            public long unknownHosts() {
                return unknownHosts;
            }
        }, r -> {
            asked.add(r);
            requests.add(r);
        }, 1);
        agent.start(now);
        pump();
    }

    /** Delivers every board request, answer and push until none is left. */
    void pump() {
        while (!requests.isEmpty() || !pushes.isEmpty()) {
            while (!requests.isEmpty()) {
                agent.onBoardResponse(board.handle(requests.poll(), now / MS), now);
            }
            while (!pushes.isEmpty()) agent.onBoardEvent(pushes.poll(), now);
        }
    }

    /** Another agent registers on the board, without this agent hearing of it. */
    void hostRegisteredUnheard(int host, String endpoint) {
        board.handle(new BoardRequest.RegisterHost(++ids, host, endpoint, Set.of(VNI), 3_000), now / MS);
        pushes.clear();
    }

    /** A change on the board this agent does not hear of (its event stream was down). */
    void boardChangeUnheard(BoardRequest request) {
        board.handle(request, now / MS);
        pushes.clear();
    }

    long askedFor(Class<? extends BoardRequest> type) {
        return asked.stream().filter(type::isInstance).count();
    }

    /** A VM on another host, as the board knows it (and pushes it to this agent). */
    void remoteVm(long mac, int host) {
        board.handle(new BoardRequest.Attach(++ids, new VmKey(VNI, mac), "remote", List.of((int) (0xC6120000L | (mac & 0xFF))),
                host, true), now / MS);
        pump();
    }

    TestPort localVm(long mac) {
        TestPort p = new TestPort(mac);
        agent.addPort(p, now);
        pump();
        return p;
    }

    void event(MigrationEvent e) {
        agent.onEvent(e, now);
        pump();
    }

    void advance(long millis) {
        for (long i = 0; i < millis; i++) {
            now += MS;
            agent.tick(now);
            pump();
        }
    }

    /** A data packet from agent {@code origin} carrying traffic frame {@code seq} from {@code src} to {@code dst}. */
    void receive(int origin, long src, long dst, long seq, int flags, long await) {
        receive(origin, src, dst, seq, flags, await, 40);
    }

    /** Like {@link #receive(int, long, long, long, int, long)}, with a traffic frame {@code frameLength} bytes long. */
    void receive(int origin, long src, long dst, long seq, int flags, long await, int frameLength) {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + frameLength];
        int at = GeneveWriter.writeHeader(b, 0, VNI, false, Geneve.PROTOCOL_ETHERNET, flags, origin, 0, await);
        writeTraffic(b, at, dst, src, seq);
        agent.onUnderlay(origin, b, 0, b.length, now);
        pump();
    }

    /** A data packet agent {@code origin} relays for migration {@code via}: a frame it kept or got for a VM that left it. */
    void receiveRelayed(int origin, long src, long dst, long seq, long via) {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + 40];
        int at = GeneveWriter.writeHeader(b, 0, VNI, false, Geneve.PROTOCOL_ETHERNET, Geneve.FLAG_FORWARDED, origin, 0, 0, via);
        writeTraffic(b, at, dst, src, seq);
        agent.onUnderlay(origin, b, 0, b.length, now);
        pump();
    }

    void receiveMarker(int origin, long src, long dst, long token, int flags) {
        byte[] b = new byte[Geneve.FERRY_HEADER_LENGTH + 14];
        int at = GeneveWriter.writeHeader(b, 0, VNI, true, Geneve.PROTOCOL_ETHERNET, Geneve.FLAG_MARKER | flags, origin, token, 0);
        Ethernet.writeHeader(b, at, dst, src, Agent.MARKER_ETHERTYPE);
        agent.onUnderlay(origin, b, 0, b.length, now);
        pump();
    }

    void receiveControl(int origin, ControlMessage m) {
        byte[] b = new byte[256];
        int at = GeneveWriter.writeHeader(b, 0, VNI, true, Geneve.PROTOCOL_FERRY_CONTROL, 0, origin, 0, 0);
        int n = ControlCodec.encode(m, b, at);
        agent.onUnderlay(origin, b, 0, at + n, now);
        pump();
    }

    /** A frame a local VM sends. */
    void send(TestPort from, long dst, long seq) {
        byte[] b = new byte[40];
        writeTraffic(b, 0, dst, from.key.mac(), seq);
        agent.onPortFrame(agent.localPort(from.key), b, 0, b.length, now);
        pump();
    }

    /** A whole frame a local VM sends, as it is. */
    void sendFrame(TestPort from, byte[] frame) {
        agent.onPortFrame(agent.localPort(from.key), frame, 0, frame.length, now);
        pump();
    }

    List<Sent> sentData(int to) {
        return sent.stream().filter(s -> s.to() == to && s.seq() >= 0).toList();
    }

    <T extends ControlMessage> List<T> sentControl(int to, Class<T> type) {
        return sent.stream().filter(s -> s.to() == to).map(Sent::control).filter(type::isInstance).map(type::cast).toList();
    }

    long count(Counter c) {
        return agent.counters().get(c);
    }

    static void writeTraffic(byte[] b, int at, long dst, long src, long seq) {
        Ethernet.writeHeader(b, at, dst, src, 0x88B6);
        Bytes.put64(b, at + 14, seq);
    }

    static long seqOf(byte[] b, int frame) {
        return Bytes.i64(b, frame + 14);
    }
}
