package dev.ferry.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.InMemoryStore;
import dev.ferry.board.VmKey;
import dev.ferry.security.ClusterCa;
import dev.ferry.security.Identity;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The board over mutual TLS: only the cluster's members are answered, and each only as its
 * certificate allows. An agent speaks for its own host; an operator reads.
 */
class BoardTlsTest {
    private static final VmKey VM1 = new VmKey(5001, 0x525400000001L);
    @TempDir Path dir;
    private BoardServer server;
    private final List<AutoCloseable> clients = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        ClusterCa ca = ClusterCa.init(dir, "test", ClusterCa.CA_VALIDITY);
        ca.issue(new Identity.Board(), "board", List.of("127.0.0.1"), Duration.ofDays(1)).write(dir, "board");
        ca.issue(new Identity.Host(1), "agent-1", List.of(), Duration.ofDays(1)).write(dir, "agent-1");
        ca.issue(new Identity.Host(2), "agent-2", List.of(), Duration.ofDays(1)).write(dir, "agent-2");
        ca.issue(new Identity.Operator(), "operator", List.of(), Duration.ofDays(1)).write(dir, "operator");
        ca.issue(new Identity.Host(1), "agent-1-as-board", List.of(), Duration.ofDays(1)).write(dir, "agent-1-as-board");
        Path other = dir.resolve("other");
        ClusterCa.init(other, "other", ClusterCa.CA_VALIDITY).issue(new Identity.Host(1), "agent-1", List.of(), Duration.ofDays(1))
                .write(other, "agent-1");
        server = new BoardServer(new java.net.InetSocketAddress("127.0.0.1", 0), new InMemoryStore(), Tls.inDir(dir, "board"));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : clients) c.close();
        server.close();
    }

    /** An agent's client: sends what it is given, answers come back on the queue. */
    private final class Agent {
        final LinkedBlockingQueue<BoardResponse> answers = new LinkedBlockingQueue<>();
        final LinkedBlockingQueue<BoardEvent> pushes = new LinkedBlockingQueue<>();
        final GrpcBoardClient client;
        final int host;
        long n;

        Agent(int host, Tls tls) {
            this.host = host;
            client = new GrpcBoardClient("127.0.0.1:" + server.port(), host, answers::add, pushes::add, () -> {}, tls);
            clients.add(client);
        }

        long id() {
            return ((long) host << 48) | ++n;
        }

        BoardResponse ask(BoardRequest r) throws InterruptedException {
            client.send(r);
            return answers.poll(10, TimeUnit.SECONDS);
        }
    }

    private Agent agent(int host) throws Exception {
        return new Agent(host, Tls.inDir(dir, "agent-" + host));
    }

    @Test
    void anAgentRegistersAttachesLocksAndUnlocksForItsOwnHost() throws Exception {
        Agent one = agent(1);
        assertThat(one.ask(new BoardRequest.RegisterHost(one.id(), 1, "127.0.0.1:6081", Set.of(5001), 3_000))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(one.ask(new BoardRequest.Attach(one.id(), VM1, "vm1", List.of(), 1, true))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(one.ask(new BoardRequest.LockRecord(one.id(), VM1, 7, 1, 3_000))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(one.ask(new BoardRequest.Unlock(one.id(), VM1, 7, BoardRequest.Outcome.ABORTED))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(server.refusals()).isEmpty();
    }

    @Test
    void anAgentCannotRegisterMoveLockOrUnlockForAnotherHost() throws Exception {
        Agent one = agent(1), two = agent(2);
        one.ask(new BoardRequest.RegisterHost(one.id(), 1, "127.0.0.1:6081", Set.of(5001), 3_000));
        one.ask(new BoardRequest.Attach(one.id(), VM1, "vm1", List.of(), 1, true));
        one.ask(new BoardRequest.LockRecord(one.id(), VM1, 7, 1, 3_000));

        assertRefused(two.ask(new BoardRequest.RegisterHost(two.id(), 1, "127.0.0.1:9999", Set.of(5001), 3_000)), "register itself");
        assertRefused(two.ask(new BoardRequest.Attach(two.id(), VM1, "vm1", List.of(), 1, true)), "attach copies of VMs on itself");
        assertRefused(two.ask(new BoardRequest.LockRecord(two.id(), VM1, 8, 1, 3_000)), "its own migrations");
        assertRefused(two.ask(new BoardRequest.Unlock(two.id(), VM1, 7, BoardRequest.Outcome.COMPLETED)), "its own locks");
        assertRefused(two.ask(new BoardRequest.Heartbeat(two.id(), 1)), "its own lease");
        assertRefused(two.ask(new BoardRequest.Attach(one.id(), VM1, "vm1", List.of(), 2, true)), "request ids");

        assertThat(server.board().record(VM1).hostId()).as("nothing moved").isEqualTo(1);
        assertThat(server.board().record(VM1).lock().migrationId()).as("nothing unlocked").isEqualTo(7);
        assertThat(server.board().hosts()).extracting(h -> h.endpoint()).containsExactly("127.0.0.1:6081");
        assertThat(server.refusals()).containsEntry("RegisterHost", 1L).containsEntry("Attach", 2L).containsEntry("LockRecord", 1L)
                .containsEntry("Unlock", 1L).containsEntry("Heartbeat", 1L);
    }

    @Test
    void anOperatorReadsEverythingButMovesNothing() throws Exception {
        Agent one = agent(1);
        one.ask(new BoardRequest.RegisterHost(one.id(), 1, "127.0.0.1:6081", Set.of(5001), 3_000));
        one.ask(new BoardRequest.Attach(one.id(), VM1, "vm1", List.of(), 1, true));
        try (BoardQueries ops = new BoardQueries("127.0.0.1:" + server.port(), Tls.inDir(dir, "operator"))) {
            assertThat(((BoardResponse.Snapshot) ops.call(id -> new BoardRequest.ListNodes(id, 5001))).records()).hasSize(1);
            assertThat(ops.call(id -> new BoardRequest.RegisterHost(id, 900, "127.0.0.1:6081", Set.of(5001), 0)))
                    .as("a static VTEP").isInstanceOf(BoardResponse.Ok.class);
            assertRefused(ops.call(id -> new BoardRequest.Attach(id, VM1, "vm1", List.of(), 2, true)), "an operator may read");
        }
    }

    @Test
    void anAgentWatchesOnlyTheVnisItRegistered() throws Exception {
        Agent one = agent(1);
        assertRefused(one.ask(new BoardRequest.Watch(one.id(), 1, 5001, 0, null)), "once registered");
        one.ask(new BoardRequest.RegisterHost(one.id(), 1, "127.0.0.1:6081", Set.of(5001), 3_000));

        assertThat(one.ask(new BoardRequest.Watch(one.id(), 1, 5001, 0, null))).isInstanceOf(BoardResponse.Snapshot.class);
        assertRefused(one.ask(new BoardRequest.Watch(one.id(), 1, 7007, 0, null)), "the VNIs it registered");
    }

    @Test
    void anAgentMayNotFollowAnotherHostsPushes() throws Exception {
        Agent twoAsOne = new Agent(1, Tls.inDir(dir, "agent-2"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!server.refusals().containsKey("events") && System.nanoTime() < deadline) Thread.sleep(20);
        assertThat(server.refusals()).containsKey("events");
        assertThat(server.eventStreams()).isZero();
        assertThat(twoAsOne.pushes).isEmpty();
    }

    @Test
    void aClientWithoutACertificateOrWithAnotherClustersIsNotAnswered() throws Exception {
        try (BoardQueries plain = new BoardQueries("127.0.0.1:" + server.port())) {
            assertThatThrownBy(() -> plain.call(id -> new BoardRequest.ListHosts(id))).isInstanceOf(IllegalStateException.class);
        }
        Agent stranger = new Agent(1, Tls.inDir(dir.resolve("other"), "agent-1"));
        assertThat(stranger.ask(new BoardRequest.RegisterHost(stranger.id(), 1, "127.0.0.1:6666", Set.of(5001), 3_000)))
                .as("no answer to another cluster's certificate").isNull();
        assertThat(server.board().hosts()).isEmpty();
    }

    /** One request of every kind, numbered {@code id}, for host 1 and its VM. */
    private static List<BoardRequest> everyKind(java.util.function.LongSupplier id) {
        return List.of(new BoardRequest.RegisterHost(id.getAsLong(), 1, "127.0.0.1:6081", Set.of(5001), 3_000),
                new BoardRequest.Heartbeat(id.getAsLong(), 1), new BoardRequest.Attach(id.getAsLong(), VM1, "vm1", List.of(), 1, true),
                new BoardRequest.Detach(id.getAsLong(), VM1, 1, false), new BoardRequest.Lookup(id.getAsLong(), VM1),
                new BoardRequest.LookupIp(id.getAsLong(), 5001, 1), new BoardRequest.LockRecord(id.getAsLong(), VM1, 7, 1, 3_000),
                new BoardRequest.Unlock(id.getAsLong(), VM1, 7, BoardRequest.Outcome.ABORTED),
                new BoardRequest.Watch(id.getAsLong(), 1, 5001, 0, null), new BoardRequest.ListHosts(id.getAsLong()),
                new BoardRequest.ListNodes(id.getAsLong(), 5001, null));
    }

    @Test
    void noRequestOfAnyKindIsAnsweredWithoutACertificateOrWithAnotherClustersOne() throws Exception {
        try (BoardQueries plain = new BoardQueries("127.0.0.1:" + server.port())) {
            for (BoardRequest r : everyKind(() -> 1)) {
                assertThatThrownBy(() -> plain.call(id -> r)).as("%s without a certificate", r.getClass().getSimpleName())
                        .isInstanceOf(IllegalStateException.class);
            }
        }
        Agent stranger = new Agent(1, Tls.inDir(dir.resolve("other"), "agent-1"));
        for (BoardRequest r : everyKind(stranger::id)) {
            stranger.client.send(r);
        }
        assertThat(stranger.answers.poll(3, TimeUnit.SECONDS)).as("an answer to another cluster's certificate").isNull();
        assertThat(server.board().hosts()).isEmpty();
        assertThat(server.board().record(VM1)).isNull();
    }

    @Test
    void noChangeOfAnyKindIsTakenFromAnotherHostsCertificate() throws Exception {
        Agent one = agent(1), two = agent(2);
        one.ask(new BoardRequest.RegisterHost(one.id(), 1, "127.0.0.1:6081", Set.of(5001), 3_000));
        one.ask(new BoardRequest.Attach(one.id(), VM1, "vm1", List.of(), 1, true));
        one.ask(new BoardRequest.LockRecord(one.id(), VM1, 7, 1, 3_000));
        for (BoardRequest r : everyKind(two::id)) {
            BoardResponse answer = two.ask(r);
            if (BoardRequest.isRead(r)) continue;
            assertThat(answer).as("%s for host 1 from host 2", r.getClass().getSimpleName()).isInstanceOf(BoardResponse.Refused.class);
        }
        assertThat(server.board().record(VM1).hostId()).isEqualTo(1);
        assertThat(server.board().record(VM1).lock().migrationId()).isEqualTo(7);
    }

    @Test
    void aServerThatIsNotABoardIsNotBelieved() throws Exception {
        server.close();
        server = new BoardServer(new java.net.InetSocketAddress("127.0.0.1", 0), new InMemoryStore(), Tls.inDir(dir, "agent-1-as-board"));
        Agent one = agent(1);
        assertThat(one.ask(new BoardRequest.RegisterHost(one.id(), 1, "127.0.0.1:6081", Set.of(5001), 3_000)))
                .as("an agent's certificate posing as the board").isNull();
    }

    @Test
    void aCaRolledAndACertificateRenewedInPlaceAreUsedWithoutARestart() throws Exception {
        Path next = dir.resolve("next");
        ClusterCa nextCa = ClusterCa.init(next, "next", ClusterCa.CA_VALIDITY);
        nextCa.issue(new Identity.Operator(), "operator", List.of(), Duration.ofDays(1)).write(next, "operator");
        String oldCa = java.nio.file.Files.readString(dir.resolve("ca.crt")), newCa = java.nio.file.Files.readString(next.resolve("ca.crt"));
        java.nio.file.Files.writeString(next.resolve("ca.crt"), oldCa + newCa); // the operator trusts both while the CA rolls
        Tls operator = Tls.inDir(next, "operator");
        assertThat(listsHosts(operator)).as("before the roll: a certificate of the next CA").isFalse();

        java.nio.file.Files.writeString(dir.resolve("ca.crt"), oldCa + newCa);
        assertThat(within(() -> listsHosts(operator))).as("the board trusts the next CA without a restart").isTrue();

        nextCa.issue(new Identity.Board(), "board", List.of("127.0.0.1"), Duration.ofDays(1)).write(next, "board");
        for (String file : List.of("board.key", "board.crt")) {
            java.nio.file.Files.move(next.resolve(file), dir.resolve(file), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        java.nio.file.Files.writeString(next.resolve("ca.crt"), newCa); // the roll done: the old CA is trusted no more
        assertThat(within(() -> listsHosts(operator))).as("the board presents its renewed certificate without a restart").isTrue();
    }

    private boolean listsHosts(Tls tls) {
        try (BoardQueries q = new BoardQueries("127.0.0.1:" + server.port(), tls)) {
            return q.call(id -> new BoardRequest.ListHosts(id)) instanceof BoardResponse.Hosts;
        } catch (IllegalStateException refused) {
            return false;
        }
    }

    /** Whether {@code check} comes true within a few reload periods. */
    private static boolean within(java.util.function.BooleanSupplier check) throws InterruptedException {
        long deadline = System.nanoTime() + 4 * Tls.RELOAD.toNanos();
        while (System.nanoTime() < deadline) {
            if (check.getAsBoolean()) return true;
            Thread.sleep(200);
        }
        return check.getAsBoolean();
    }

    private static void assertRefused(BoardResponse r, String why) {
        assertThat(r).isInstanceOf(BoardResponse.Refused.class);
        assertThat(((BoardResponse.Refused) r).reason()).contains(why);
    }
}
