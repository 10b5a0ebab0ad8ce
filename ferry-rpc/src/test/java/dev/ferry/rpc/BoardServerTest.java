package dev.ferry.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.InMemoryStore;
import dev.ferry.board.VmKey;
import dev.ferry.rpc.v1.BoardGrpc;
import dev.ferry.rpc.v1.Request;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The board over real gRPC on loopback, as an agent's client sees it. */
class BoardServerTest {
    private static final VmKey VM = new VmKey(5001, 0x525400000001L);

    private BoardServer server;
    private final LinkedBlockingQueue<BoardResponse> answers = new LinkedBlockingQueue<>();
    private final LinkedBlockingQueue<BoardEvent> pushes = new LinkedBlockingQueue<>();
    private GrpcBoardClient client;

    @BeforeEach
    void setUp() throws Exception {
        server = new BoardServer(new InetSocketAddress("127.0.0.1", 0), new InMemoryStore());
        client = new GrpcBoardClient("127.0.0.1:" + server.port(), 1, answers::add, pushes::add, () -> {});
    }

    @AfterEach
    void tearDown() {
        client.close();
        server.close();
    }

    private BoardResponse ask(BoardRequest r) throws InterruptedException {
        client.send(r);
        BoardResponse a = answers.poll(5, TimeUnit.SECONDS);
        assertThat(a).as("answer to " + r).isNotNull();
        return a;
    }

    @Test
    void aVniOfTheLargestRecordsComesInPagesEachUnderGrpcsMessageLimitAndTogetherWhole() throws Exception {
        int vms = BoardResponse.Snapshot.PAGE_RECORDS * 2 + 7;
        String longest = "v".repeat(dev.ferry.board.Board.MAX_VM_ID);
        List<Integer> ips = java.util.stream.IntStream.range(0, dev.ferry.board.Board.MAX_IPS).map(i -> 0xC6130000 + i).boxed().toList();
        for (int i = 0; i < vms; i++) {
            assertThat(server.board().handle(new BoardRequest.Attach(100 + i, new VmKey(5001, 0x1000 + i), longest, ips, 1, true), 0))
                    .isInstanceOf(BoardResponse.Ok.class);
        }
        java.util.Set<Long> seen = new java.util.HashSet<>();
        VmKey after = null;
        int pages = 0;
        do {
            BoardRequest.Watch page = new BoardRequest.Watch(10_000 + pages, 1, 5001, 0, after);
            assertThat(Convert.response(server.board().handle(page, 0)).getSerializedSize()).isLessThan(4 << 20);
            BoardResponse.Snapshot s = (BoardResponse.Snapshot) ask(page);
            s.records().forEach(r -> assertThat(seen.add(r.key().mac())).as("each record once").isTrue());
            after = s.next();
            pages++;
        } while (after != null);

        assertThat(pages).isEqualTo(3);
        assertThat(seen).hasSize(vms);
    }

    @Test
    void anAttachWithMoreIpsOrALongerNameThanARecordMayHoldIsRefusedNamingTheField() throws Exception {
        List<Integer> tooMany = java.util.stream.IntStream.range(0, dev.ferry.board.Board.MAX_IPS + 1).boxed().toList();
        BoardResponse r = ask(new BoardRequest.Attach(2, VM, "vm1", tooMany, 1, true));
        assertThat(r).isInstanceOf(BoardResponse.Refused.class);
        assertThat(((BoardResponse.Refused) r).reason()).startsWith("ips:");
        r = ask(new BoardRequest.Attach(3, VM, "v".repeat(dev.ferry.board.Board.MAX_VM_ID + 1), List.of(), 1, true));
        assertThat(((BoardResponse.Refused) r).reason()).startsWith("vmId:");
    }

    @Test
    void aRequestIsAnsweredWithTheRecordAsItStands() throws Exception {
        ask(new BoardRequest.RegisterHost(1, 1, "127.0.0.1:6081", Set.of(5001), 3_000));
        BoardResponse r = ask(new BoardRequest.Attach(2, VM, "vm1", List.of(0xC6120001), 1, true));
        assertThat(r).isInstanceOf(BoardResponse.Ok.class);
        assertThat(((BoardResponse.Ok) r).record().hostId()).isEqualTo(1);
        BoardResponse byIp = ask(new BoardRequest.LookupIp(3, 5001, 0xC6120001));
        assertThat(((BoardResponse.Ok) byIp).record().key()).isEqualTo(VM);
    }

    @Test
    void anEventStreamStartsWithEveryRegisteredHostSoNoRegistrationFallsBeforeIt() throws Exception {
        // Host 2 registers while host 3 has no stream yet: the push of that moment reaches nobody.
        server.board().handle(new BoardRequest.RegisterHost(1, 2, "127.0.0.1:6082", Set.of(5001), 3_000),
                System.nanoTime() / 1_000_000);
        LinkedBlockingQueue<BoardEvent> late = new LinkedBlockingQueue<>();
        GrpcBoardClient host3 = new GrpcBoardClient("127.0.0.1:" + server.port(), 3, r -> {}, late::add, () -> {});
        try {
            BoardEvent first = late.poll(5, TimeUnit.SECONDS);
            assertThat(first).isInstanceOf(BoardEvent.HostChanged.class);
            assertThat(((BoardEvent.HostChanged) first).host().endpoint()).isEqualTo("127.0.0.1:6082");
        } finally {
            host3.close();
        }
    }

    @Test
    void aHostRegisteringReachesAStreamWhoseOwnRegistrationHasNotLandedYet() throws Exception {
        // An agent's registration and its directory listing are separate calls: the listing may be
        // answered before host 3 registers and its own registration land after. Only the push is left.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (server.eventStreams() == 0 && System.nanoTime() < deadline) Thread.sleep(5);
        server.board().handle(new BoardRequest.RegisterHost(1, 3, "127.0.0.1:6083", Set.of(5001), 3_000),
                System.nanoTime() / 1_000_000);
        BoardEvent e = pushes.poll(5, TimeUnit.SECONDS);
        assertThat(e).isInstanceOf(BoardEvent.HostChanged.class);
        assertThat(((BoardEvent.HostChanged) e).host().hostId()).isEqualTo(3);
    }

    @Test
    void locksAndPendingUpdatesCrossTheWireIntact() throws Exception {
        ask(new BoardRequest.Attach(1, VM, "vm1", List.of(), 1, true));
        ask(new BoardRequest.LockRecord(2, VM, 77, 1, 3_000));
        BoardResponse queued = ask(new BoardRequest.Attach(3, VM, "vm1", List.of(7), 2, true));
        assertThat(queued).isInstanceOf(BoardResponse.Queued.class);
        var record = ((BoardResponse.Queued) queued).record();
        assertThat(record.lock().migrationId()).isEqualTo(77);
        assertThat(record.pending()).hasSize(1);
        assertThat(record).isEqualTo(server.board().record(VM));
    }

    @Test
    void aWatchersPushesArriveOnItsEventStreamInVersionOrder() throws Exception {
        var snapshot = ask(new BoardRequest.Watch(1, 1, 5001));
        assertThat(snapshot).isInstanceOf(BoardResponse.Snapshot.class);
        for (int host = 1; host <= 3; host++) ask(new BoardRequest.Attach(10 + host, VM, "vm1", List.of(), host, true));
        long last = 0;
        for (int i = 0; i < 3; i++) {
            BoardEvent e = pushes.poll(5, TimeUnit.SECONDS);
            assertThat(e).isInstanceOf(BoardEvent.Changed.class);
            long version = ((BoardEvent.Changed) e).record().version();
            assertThat(version).isGreaterThan(last);
            last = version;
        }
        assertThat(pushes.poll(200, TimeUnit.MILLISECONDS)).as("each change pushed once").isNull();
    }

    @Test
    void aRequestNamingNoOperationIsRefusedAsInvalid() {
        ManagedChannel channel = NettyChannelBuilder.forTarget("127.0.0.1:" + server.port()).usePlaintext().build();
        try {
            assertThatThrownBy(() -> BoardGrpc.newBlockingStub(channel).call(Request.newBuilder().setRequestId(9).build()))
                    .isInstanceOf(StatusRuntimeException.class).hasMessageContaining("INVALID_ARGUMENT")
                    .hasMessageContaining("names no operation");
        } finally {
            channel.shutdownNow();
        }
    }
}
