package dev.ferry.lab.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.Board;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardRequest.Outcome;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.EtcdStore;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.VmKey;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two boards (replicas) on one real etcd, as {@code ferry board --store etcd://} runs them: what one
 * grants the other honours, what one applies the other's watchers hear, and locks run out with their
 * etcd lease.
 */
class ReplicatedBoardTest {
    private static final int VNI = 100;
    private static final VmKey VM = new VmKey(VNI, 0x52_54_00_00_0B_01L);
    private static EtcdCluster etcd;
    private static final AtomicLong prefixes = new AtomicLong();
    private static final AtomicLong ids = new AtomicLong(1);

    private final List<EtcdStore> stores = new ArrayList<>();
    private final String prefix = "/test-" + prefixes.incrementAndGet() + "/";

    /** A replica and what it pushed, per host. */
    private record Replica(Board board, List<Pushed> pushed) {
        BoardResponse call(BoardRequest request) {
            return board.handle(request, System.nanoTime() / 1_000_000);
        }
    }

    private record Pushed(int host, BoardEvent event) {}

    @BeforeAll
    static void startEtcd() throws Exception {
        etcd = EtcdCluster.start(1);
    }

    @AfterAll
    static void stopEtcd() {
        if (etcd != null) etcd.close();
    }

    @AfterEach
    void closeStores() {
        stores.forEach(EtcdStore::close);
    }

    private Replica replica() throws Exception {
        return replica(Board.FORGET_DETACHED_AFTER_MS);
    }

    private Replica replica(long forgetDetachedAfterMs) throws Exception {
        EtcdStore store = EtcdStore.open(etcd.endpoints(), prefix, 1_000, etcd.sslContext());
        stores.add(store);
        List<Pushed> pushed = new CopyOnWriteArrayList<>();
        return new Replica(new Board(store, (host, event) -> pushed.add(new Pushed(host, event)), forgetDetachedAfterMs), pushed);
    }

    private static long id() {
        return ids.incrementAndGet();
    }

    private static void register(Replica r, int host, long leaseMs) {
        assertThat(r.call(new BoardRequest.RegisterHost(id(), host, "127.0.0.1:" + (6000 + host), Set.of(VNI), leaseMs)))
                .isInstanceOf(BoardResponse.Ok.class);
    }

    private static void attach(Replica r, int host) {
        assertThat(r.call(new BoardRequest.Attach(id(), VM, "vm-b", List.of(0x0a000002), host, true))).isInstanceOf(BoardResponse.Ok.class);
    }

    @Test
    void etcdAnswersNoBoardWithoutItsClientCertificateNorOverPlainHttp() throws Exception {
        var withoutCertificate = io.netty.handler.ssl.SslContextBuilder.forClient()
                .trustManager(java.nio.file.Path.of(etcd.boardArgs().get(3)).toFile())
                .applicationProtocolConfig(new io.netty.handler.ssl.ApplicationProtocolConfig(
                        io.netty.handler.ssl.ApplicationProtocolConfig.Protocol.ALPN,
                        io.netty.handler.ssl.ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        io.netty.handler.ssl.ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2")).build();
        List<URI> plain = etcd.endpoints().stream().map(u -> URI.create(u.toString().replace("https://", "http://"))).toList();

        org.assertj.core.api.Assertions.assertThatThrownBy(() -> EtcdStore.open(etcd.endpoints(), prefix, 1_000, withoutCertificate))
                .as("TLS without a client certificate").isInstanceOf(Exception.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> EtcdStore.open(plain, prefix, 1_000))
                .as("plain http").isInstanceOf(Exception.class);
    }

    @Test
    void aRecordOneReplicaForgetsIsGoneFromEtcdAndFromTheOtherAndCanBeMadeAgain() throws Exception {
        Replica a = replica(1_000), b = replica();
        register(a, 2, 10_000);
        attach(a, 2);
        assertThat(a.call(new BoardRequest.Detach(id(), VM, 2, false))).isInstanceOf(BoardResponse.Ok.class);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (b.board().record(VM) == null || b.board().record(VM).isAttached()) {
            assertThat(System.nanoTime()).as("the other replica sees the detach").isLessThan(deadline);
            Thread.sleep(20);
        }

        while (a.board().record(VM) != null || b.board().record(VM) != null) {
            a.board().tick(System.nanoTime() / 1_000_000);
            assertThat(System.nanoTime()).as("forgotten by the first, and the other hears of it").isLessThan(deadline);
            Thread.sleep(50);
        }
        assertThat(a.board().recordsForgotten()).isEqualTo(1);
        Replica fresh = replica();
        assertThat(fresh.board().record(VM)).as("gone from etcd").isNull();

        attach(b, 2);
        assertThat(b.board().record(VM).hostId()).isEqualTo(2);
        deadline = System.nanoTime() + 10_000_000_000L;
        while (a.board().record(VM) == null) {
            assertThat(System.nanoTime()).as("made again, and the first replica hears of it").isLessThan(deadline);
            Thread.sleep(20);
        }
    }

    @Test
    void aLockGrantedByOneReplicaIsRefusedByTheOther() throws Exception {
        Replica a = replica(), b = replica();
        register(a, 2, 10_000);
        attach(a, 2);
        await("replica b sees the record", () -> b.board().record(VM) != null);

        assertThat(a.call(new BoardRequest.LockRecord(id(), VM, 7, 2, 10_000))).isInstanceOf(BoardResponse.Ok.class);
        BoardResponse second = b.call(new BoardRequest.LockRecord(id(), VM, 8, 2, 10_000));

        assertThat(second).isInstanceOf(BoardResponse.Refused.class);
        assertThat(((BoardResponse.Refused) second).reason()).contains("migration 7");
    }

    @Test
    void twoReplicasRacingForOneLockWithoutHavingSeenEachOtherGrantItOnce() throws Exception {
        Replica a = replica(), b = replica();
        register(a, 2, 10_000);
        attach(a, 2);
        await("replica b sees the record", () -> b.board().record(VM) != null);

        // Both hold the record unlocked in their views; the second to write loses etcd's comparison.
        BoardResponse[] answers = new BoardResponse[2];
        Thread ta = Thread.ofPlatform().start(() -> answers[0] = a.call(new BoardRequest.LockRecord(id(), VM, 7, 2, 10_000)));
        Thread tb = Thread.ofPlatform().start(() -> answers[1] = b.call(new BoardRequest.LockRecord(id(), VM, 8, 2, 10_000)));
        ta.join();
        tb.join();

        assertThat(List.of(answers)).filteredOn(r -> r instanceof BoardResponse.Ok).hasSize(1);
        assertThat(List.of(answers)).filteredOn(r -> r instanceof BoardResponse.Refused).hasSize(1);
    }

    @Test
    void aChangeAppliedByOneReplicaIsPushedToTheWatchersOfTheOther() throws Exception {
        Replica a = replica(), b = replica();
        register(a, 2, 10_000);
        assertThat(b.call(new BoardRequest.Watch(id(), 1, VNI, 0))).isInstanceOf(BoardResponse.Snapshot.class);

        attach(a, 2);

        await("host 1, watching on replica b, hears of the record", () -> b.pushed().stream()
                .anyMatch(p -> p.host() == 1 && p.event() instanceof BoardEvent.Changed c && c.record().hostId() == 2));
    }

    @Test
    void anAttachQueuedOnOneReplicaReachesTheLockOwnerOnTheOtherAndIsAppliedOnceAtUnlock() throws Exception {
        Replica a = replica(), b = replica();
        register(a, 2, 10_000);
        register(a, 3, 10_000);
        attach(a, 2);
        assertThat(a.call(new BoardRequest.LockRecord(id(), VM, 7, 2, 10_000))).isInstanceOf(BoardResponse.Ok.class);
        await("replica b sees the lock", () -> b.board().record(VM) != null && b.board().record(VM).isLocked());

        assertThat(b.call(new BoardRequest.Attach(id(), VM, "vm-b", List.of(0x0a000002), 3, true))).isInstanceOf(BoardResponse.Queued.class);
        await("the owner, host 2 on replica a, hears of the waiter", () -> a.pushed().stream()
                .anyMatch(p -> p.host() == 2 && p.event() instanceof BoardEvent.LockWaiter w && w.waitingHost() == 3));
        long revisionBefore = a.board().record(VM).version();
        assertThat(a.call(new BoardRequest.Unlock(id(), VM, 7, Outcome.COMPLETED))).isInstanceOf(BoardResponse.Ok.class);
        // The same unlock retried at the other replica (another request id): nothing more is applied.
        await("replica b sees the unlock", () -> !b.board().record(VM).isLocked());
        assertThat(b.call(new BoardRequest.Unlock(id(), VM, 7, Outcome.COMPLETED))).isInstanceOf(BoardResponse.Ok.class);

        NodeRecord after = b.board().record(VM);
        assertThat(after.hostId()).isEqualTo(3);
        assertThat(after.pending()).isEmpty();
        assertThat(after.version()).as("one change applied").isEqualTo(revisionBefore + 1);
    }

    @Test
    void aLockWhoseOwnerFallsSilentLapsesWithItsEtcdLeaseAsCompletedWhenTheDestinationRuns() throws Exception {
        Replica a = replica(), b = replica();
        register(a, 2, 60_000);
        register(a, 3, 60_000);
        attach(a, 2);
        assertThat(a.call(new BoardRequest.LockRecord(id(), VM, 7, 2, 2_000))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(b.call(new BoardRequest.Attach(id(), VM, "vm-b", List.of(0x0a000002), 3, true))).isInstanceOf(BoardResponse.Queued.class);

        // No heartbeat from host 2: etcd drops the lock's key; the replicas' ticks release it.
        await("the lock released as COMPLETED, on both replicas", () -> {
            a.board().tick(System.nanoTime() / 1_000_000);
            b.board().tick(System.nanoTime() / 1_000_000);
            NodeRecord ra = a.board().record(VM), rb = b.board().record(VM);
            return !ra.isLocked() && ra.hostId() == 3 && !rb.isLocked() && rb.hostId() == 3;
        });
    }

    @Test
    void heartbeatsThroughEitherReplicaKeepALockPastItsLease() throws Exception {
        Replica a = replica(), b = replica();
        register(a, 2, 60_000);
        attach(a, 2);
        assertThat(a.call(new BoardRequest.LockRecord(id(), VM, 7, 2, 2_000))).isInstanceOf(BoardResponse.Ok.class);
        await("replica b knows the lock's lease", () -> b.board().record(VM) != null && b.board().record(VM).isLocked());

        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        boolean viaA = true;
        while (System.nanoTime() < until) {
            Replica via = viaA ? a : b;
            viaA = !viaA;
            assertThat(via.call(new BoardRequest.Heartbeat(id(), 2))).isInstanceOf(BoardResponse.Ok.class);
            a.board().tick(System.nanoTime() / 1_000_000);
            b.board().tick(System.nanoTime() / 1_000_000);
            Thread.sleep(300);
        }

        assertThat(a.board().record(VM).lock()).as("held 5 s on a lease of 2 s").isNotNull();
        assertThat(b.board().record(VM).lock()).isNotNull();
    }

    @Test
    void aLockAsLongAsItsOwnersLeaseSharesItUnlockingOneLeavesTheOthersAndSilenceEndsThem() throws Exception {
        Replica a = replica(), b = replica();
        VmKey other = new VmKey(VNI, 0x52_54_00_00_0C_01L);
        register(a, 2, 2_000);
        register(a, 3, 60_000);
        attach(a, 2);
        assertThat(a.call(new BoardRequest.Attach(id(), other, "vm-c", List.of(0x0a000003), 2, true))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(a.call(new BoardRequest.LockRecord(id(), VM, 7, 2, 2_000))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(a.call(new BoardRequest.LockRecord(id(), other, 9, 2, 2_000))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(b.call(new BoardRequest.Unlock(id(), VM, 7, Outcome.ABORTED))).isInstanceOf(BoardResponse.Ok.class);

        // Heartbeats through either replica for longer than the lease: the unlock ended only its own lock.
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
        for (boolean viaA = true; System.nanoTime() < until; viaA = !viaA) {
            assertThat((viaA ? a : b).call(new BoardRequest.Heartbeat(id(), 2))).isInstanceOf(BoardResponse.Ok.class);
            a.board().tick(System.nanoTime() / 1_000_000);
            b.board().tick(System.nanoTime() / 1_000_000);
            Thread.sleep(300);
        }
        assertThat(b.board().record(other).lock()).as("the other lock, 4 s on a lease of 2 s").isNotNull();
        assertThat(a.board().isAlive(2)).isTrue();

        assertThat(b.call(new BoardRequest.Attach(id(), other, "vm-c", List.of(0x0a000003), 3, true))).isInstanceOf(BoardResponse.Queued.class);
        await("host 2 silent: it lapses, and its lock is released as COMPLETED", () -> {
            a.board().tick(System.nanoTime() / 1_000_000);
            b.board().tick(System.nanoTime() / 1_000_000);
            NodeRecord r = b.board().record(other);
            return !a.board().isAlive(2) && !r.isLocked() && r.hostId() == 3;
        });
    }

    @Test
    void aReplicaStartedLaterServesTheSameRecordsLocksAndPendingUpdates() throws Exception {
        Replica a = replica();
        register(a, 2, 60_000);
        register(a, 3, 60_000);
        attach(a, 2);
        assertThat(a.call(new BoardRequest.LockRecord(id(), VM, 7, 2, 30_000))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(a.call(new BoardRequest.Attach(id(), VM, "vm-b", List.of(0x0a000002), 3, true))).isInstanceOf(BoardResponse.Queued.class);

        Replica late = replica();

        NodeRecord r = late.board().record(VM);
        assertThat(r.hostId()).isEqualTo(2);
        assertThat(r.lock().migrationId()).isEqualTo(7);
        assertThat(r.pending()).hasSize(1);
        assertThat(late.board().hosts()).hasSize(2);
        assertThat(late.call(new BoardRequest.Unlock(id(), VM, 7, Outcome.COMPLETED))).isInstanceOf(BoardResponse.Ok.class);
        assertThat(late.board().record(VM).hostId()).isEqualTo(3);
    }

    @Test
    void aReplicaWhoseWatchStartsBehindACompactionReadsEverythingAgainAndServesWhatChanged() throws Exception {
        Replica a = replica();
        register(a, 2, 60_000);
        EtcdStore late = EtcdStore.open(etcd.endpoints(), prefix, 1_000, etcd.sslContext()); // its view: no record yet
        stores.add(late);
        attach(a, 2);
        register(a, 3, 60_000); // a later revision to compact up to, so the attach's is gone
        try (Client client = Client.builder().endpoints(etcd.endpoints().toArray(URI[]::new)).sslContext(etcd.sslContext()).build()) {
            long now = client.getKVClient().get(ByteSequence.from(prefix, StandardCharsets.UTF_8)).get().getHeader().getRevision();
            client.getKVClient().compact(now).get();
        }

        // Its watch asks for revisions etcd no longer has: etcd refuses it, the client gives it up.
        Board b = new Board(late, (host, event) -> {});

        await("the record that changed behind the compaction", () -> b.record(VM) != null && b.record(VM).hostId() == 2);
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
            Thread.sleep(20);
        }
    }
}
