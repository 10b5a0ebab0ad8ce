package dev.ferry.lab.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.Board;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardRequest.Outcome;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.EtcdStore;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.Store;
import dev.ferry.board.VmKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Many simulated agents race lock, attach and unlock for the same few records across two board
 * replicas on one real etcd, each request sent to either replica and some sent to both: no lock is
 * ever held twice, every migration resolves exactly once, and both replicas end with one table.
 */
class ReplicaRaceTest {
    private static final int VNI = 100, HOSTS = 6, VMS = 4, DRIVERS = 8, MIGRATIONS_PER_DRIVER = 60;
    private static final long SEED = 5_005;

    private EtcdCluster etcd;
    private final List<EtcdStore> stores = new ArrayList<>();
    private final AtomicLong requestIds = new AtomicLong(1);

    /** One migration that held its lock, as its driver resolved it. */
    private record Resolved(VmKey vm, long migration, int from, int to, Outcome outcome, NodeRecord afterUnlock) {}

    @BeforeEach
    void startEtcd() throws Exception {
        etcd = EtcdCluster.start(1);
    }

    @AfterEach
    void stop() {
        stores.forEach(EtcdStore::close);
        if (etcd != null) etcd.close();
    }

    private Board replica() throws Exception {
        EtcdStore store = EtcdStore.open(etcd.endpoints(), "/race/", 1_000, etcd.sslContext());
        stores.add(store);
        return new Board(store, (host, event) -> {});
    }

    /** Asks until answered: an unavailable store (conflicting on and on) leaves the retry to the requester. */
    private static BoardResponse ask(Board board, BoardRequest request, AtomicInteger unanswered) {
        for (int i = 0; ; i++) {
            try {
                return board.handle(request, System.nanoTime() / 1_000_000);
            } catch (Store.Unavailable e) {
                unanswered.incrementAndGet();
                if (i > 50) throw e;
            }
        }
    }

    @Test
    void agentsRacingAcrossTwoReplicasNeverHoldALockTwiceAndEveryMigrationResolvesOnce() throws Exception {
        Board[] replicas = {replica(), replica()};
        VmKey[] vms = new VmKey[VMS];
        AtomicInteger unanswered = new AtomicInteger();
        for (int h = 1; h <= HOSTS; h++) {
            ask(replicas[0], new BoardRequest.RegisterHost(requestIds.getAndIncrement(), h, "127.0.0.1:" + (6000 + h), Set.of(VNI), 120_000), unanswered);
        }
        for (int v = 0; v < VMS; v++) {
            vms[v] = new VmKey(VNI, 0x52_54_00_00_00_10L + v);
            ask(replicas[v % 2], new BoardRequest.Attach(requestIds.getAndIncrement(), vms[v], "vm-" + v, List.of(0x0a000010 + v),
                    1 + v % HOSTS, true), unanswered);
        }
        awaitSameTable(replicas, vms);
        long revisionBefore = revision(replicas[0], vms);

        AtomicLongArray holder = new AtomicLongArray(VMS);
        List<String> violations = new CopyOnWriteArrayList<>();
        ConcurrentLinkedQueue<Resolved> resolved = new ConcurrentLinkedQueue<>();
        AtomicInteger refusedLocks = new AtomicInteger();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        List<Thread> drivers = new ArrayList<>();
        for (int d = 0; d < DRIVERS; d++) {
            Random random = new Random(SEED + d);
            int driver = d;
            drivers.add(Thread.ofPlatform().name("driver-" + d).start(() -> {
                for (int m = 0; m < MIGRATIONS_PER_DRIVER && System.nanoTime() < deadline; m++) {
                    int v = random.nextInt(VMS);
                    Board via = replicas[random.nextInt(2)], other = via == replicas[0] ? replicas[1] : replicas[0];
                    // The view of the replica asked may be stale: the race is the point.
                    NodeRecord seen = via.record(vms[v]);
                    if (seen == null || seen.isLocked()) continue;
                    int from = seen.hostId(), to = 1 + (from + random.nextInt(HOSTS - 1)) % HOSTS;
                    long migration = (driver + 1) * 1_000L + m;
                    BoardRequest lock = new BoardRequest.LockRecord(requestIds.getAndIncrement(), vms[v], migration, from, 60_000);
                    boolean granted = holds(ask(via, lock, unanswered), migration);
                    // The lock retried at the other replica: the same migration keeps (or gets) its lock.
                    if (random.nextBoolean()) granted |= holds(ask(other, lock, unanswered), migration);
                    if (!granted) {
                        refusedLocks.incrementAndGet();
                        continue;
                    }
                    if (!holder.compareAndSet(v, 0, migration)) {
                        violations.add("migration " + migration + " granted " + vms[v] + " while migration " + holder.get(v) + " held it");
                        continue;
                    }
                    BoardResponse queued = ask(replicas[random.nextInt(2)],
                            new BoardRequest.Attach(requestIds.getAndIncrement(), vms[v], "vm-" + v, List.of(0x0a000010 + v), to, true), unanswered);
                    if (!(queued instanceof BoardResponse.Queued)) violations.add("attach to locked " + vms[v] + " answered " + queued);
                    Outcome outcome = random.nextInt(10) < 7 ? Outcome.COMPLETED : Outcome.ABORTED;
                    Board unlockVia = replicas[random.nextInt(2)];
                    BoardRequest unlock = new BoardRequest.Unlock(requestIds.getAndIncrement(), vms[v], migration, outcome);
                    // Released before the unlock is sent, so that a lock granted after it is no false alarm.
                    holder.set(v, 0);
                    BoardResponse done = ask(unlockVia, unlock, unanswered);
                    if (random.nextBoolean()) ask(unlockVia == replicas[0] ? replicas[1] : replicas[0], unlock, unanswered);
                    resolved.add(new Resolved(vms[v], migration, from, to, outcome, ((BoardResponse.Ok) done).record()));
                }
            }));
        }
        for (Thread t : drivers) t.join(TimeUnit.SECONDS.toMillis(90));

        System.out.printf("race: %d migrations resolved (%d completed), %d locks refused, %d requests left unanswered and retried%n",
                resolved.size(), resolved.stream().filter(r -> r.outcome() == Outcome.COMPLETED).count(), refusedLocks.get(), unanswered.get());
        assertThat(violations).as("locks held twice, or attaches not queued").isEmpty();
        assertThat(resolved).as("migrations that ran").hasSizeGreaterThan(DRIVERS * 2);
        assertThat(refusedLocks.get()).as("locks refused: the drivers did race").isPositive();

        for (Resolved r : resolved) {
            int expected = r.outcome() == Outcome.COMPLETED ? r.to() : r.from();
            assertThat(r.afterUnlock().hostId()).as("%s after migration %d %s", r.vm(), r.migration(), r.outcome()).isEqualTo(expected);
        }
        long completed = resolved.stream().filter(r -> r.outcome() == Outcome.COMPLETED).count();
        awaitSameTable(replicas, vms);
        assertThat(revision(replicas[0], vms) - revisionBefore).as("changes applied: one per completed migration, none twice")
                .isEqualTo(completed);
        for (int v = 0; v < VMS; v++) {
            NodeRecord end = replicas[0].record(vms[v]);
            assertThat(end.isLocked()).as("%s locked at the end", vms[v]).isFalse();
            assertThat(end.pending()).as("%s pending at the end", vms[v]).isEmpty();
        }
    }

    private static boolean holds(BoardResponse answer, long migration) {
        return answer instanceof BoardResponse.Ok ok && ok.record().isLocked() && ok.record().lock().migrationId() == migration;
    }

    /** The highest version among the records: the board revision of the last change applied to them. */
    private static long revision(Board board, VmKey[] vms) {
        long max = 0;
        for (VmKey k : vms) max = Math.max(max, board.record(k).version());
        return max;
    }

    private static void awaitSameTable(Board[] replicas, VmKey[] vms) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            boolean same = true;
            for (VmKey k : vms) same &= replicas[0].record(k) != null && replicas[0].record(k).equals(replicas[1].record(k));
            if (same) return;
            if (System.nanoTime() > deadline) {
                for (VmKey k : vms) assertThat(replicas[1].record(k)).as("%s on both replicas", k).isEqualTo(replicas[0].record(k));
            }
            Thread.sleep(50);
        }
    }
}
