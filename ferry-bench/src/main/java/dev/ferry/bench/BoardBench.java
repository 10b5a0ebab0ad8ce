package dev.ferry.bench;

import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.EtcdStore;
import dev.ferry.board.InMemoryStore;
import dev.ferry.board.SqliteStore;
import dev.ferry.board.Store;
import dev.ferry.lab.ScratchDir;
import dev.ferry.lab.etcd.EtcdCluster;
import dev.ferry.board.VmKey;
import dev.ferry.rpc.BoardServer;
import dev.ferry.rpc.GrpcBoardClient;
import dev.ferry.service.BoardService;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * {@code ferry bench board}: a board served over gRPC on loopback, once per store, and a load
 * generator of simulated agents against it. Measures attaches and lookups per second (pipelined,
 * {@link #WINDOW} requests in flight) over a table of {@code records} VMs, the round trip of a lock
 * and its unlock, and the time from sending an unlock to the last of N watching agents receiving the
 * VM's new location. The in-memory store is the anchor every other store is given as a ratio of.
 * Every loop is bounded in count and time.
 */
public final class BoardBench {
    /** After how long without an answer a pipelined request is sent again (the client's call deadline is 2 s). */
    private static final int RESEND_SECONDS = 3;
    private static final int WINDOW = 256;
    /**
     * The simulated agents' lease, for their registration and their locks alike, as an agent's are:
     * an hour, since they send no heartbeats while measured.
     */
    private static final long LEASE_MS = 3_600_000;
    private static final int BIG_VNI = 1, WATCHED_VNI = 2;
    private static final VmKey MOVING = new VmKey(WATCHED_VNI, 0x52540000FFFFL);
    private static final long TIMEOUT_SECONDS = 30;

    public record Options(List<String> stores, int records, List<Integer> watchers, int seconds, int roundTrips, int migrations) {}

    /** One store's figures; times in microseconds. */
    record Figures(String store, double attachesPerSecond, double lookupsPerSecond, double lockUnlockP50, double lockUnlockP99,
                   Map<Integer, Double> unlockToLastWatcherP50) {}

    private final Options o;
    private final PrintStream out;
    private final AtomicLong ids = new AtomicLong();

    public BoardBench(Options options, PrintStream out) {
        this.o = options;
        this.out = out;
    }

    public int run() throws Exception {
        // A first pass, thrown away: otherwise the first store measured pays for the JIT.
        out.println("warming up (in-memory store, figures discarded)");
        try (BoardService board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, new InMemoryStore())) {
            new BoardBench(new Options(List.of("memory"), Math.min(o.records(), 20_000), List.of(10), 1, 500, 5), out)
                    .measure("warm-up", "127.0.0.1:" + board.port());
        }
        List<Figures> all = new ArrayList<>();
        for (String kind : o.stores()) {
            Path dir = kind.equals("sqlite") ? Files.createTempDirectory("ferry-bench-board") : null;
            // etcd: a cluster of three members on loopback, as a small deployment runs it.
            EtcdCluster etcd = kind.equals("etcd") ? EtcdCluster.start(3) : null;
            Store store = switch (kind) {
                case "sqlite" -> SqliteStore.open(dir, BoardServer::clockMillis, 1);
                case "etcd" -> EtcdStore.open(etcd.endpoints(), "/bench/", 1, etcd.sslContext());
                default -> new InMemoryStore();
            };
            try (BoardService board = new BoardService(new InetSocketAddress("127.0.0.1", 0), null, store)) {
                out.printf("%s store: %,d records, then lookups, %,d lock+unlock round trips, %d migrations per watcher count%n",
                        kind, o.records(), o.roundTrips(), o.migrations());
                all.add(measure(kind, "127.0.0.1:" + board.port()));
            } finally {
                if (store instanceof AutoCloseable c) c.close();
                if (dir != null) ScratchDir.remove(dir);
                if (etcd != null) etcd.close();
            }
        }
        print(all);
        return 0;
    }

    private Figures measure(String kind, String target) throws Exception {
        try (Agent agent = new Agent(target, 1, null)) {
            agent.call(new BoardRequest.RegisterHost(ids.incrementAndGet(), 1, "127.0.0.1:6081", Set.of(BIG_VNI, WATCHED_VNI), LEASE_MS));
            agent.call(new BoardRequest.RegisterHost(ids.incrementAndGet(), 2, "127.0.0.1:6082", Set.of(BIG_VNI, WATCHED_VNI), LEASE_MS));

            long t0 = System.nanoTime();
            agent.pipelined(o.records(), i -> new BoardRequest.Attach(ids.incrementAndGet(), new VmKey(BIG_VNI, 0x020000000000L + i),
                    "vm" + i, List.of(0x0A000000 + i), 1 + (i & 1), true));
            double attaches = o.records() / seconds(System.nanoTime() - t0);

            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(o.seconds());
            int lookups = 0;
            t0 = System.nanoTime();
            while (System.nanoTime() < deadline && lookups < 10_000_000) {
                int base = lookups;
                agent.pipelined(20_000, i -> new BoardRequest.Lookup(ids.incrementAndGet(),
                        new VmKey(BIG_VNI, 0x020000000000L + (base + i) % o.records())));
                lookups += 20_000;
            }
            double lookupRate = lookups / seconds(System.nanoTime() - t0);

            VmKey vm = new VmKey(BIG_VNI, 0x020000000000L + 1); // on host 2
            long[] rtt = new long[o.roundTrips()];
            for (int i = 0; i < rtt.length; i++) {
                long migration = 1_000_000L + i;
                long s = System.nanoTime();
                agent.call(new BoardRequest.LockRecord(ids.incrementAndGet(), vm, migration, 2, LEASE_MS));
                agent.call(new BoardRequest.Unlock(ids.incrementAndGet(), vm, migration, BoardRequest.Outcome.ABORTED));
                rtt[i] = System.nanoTime() - s;
            }
            Arrays.sort(rtt);

            Map<Integer, Double> fanOut = new LinkedHashMap<>();
            for (int n : o.watchers()) fanOut.put(n, unlockToLastWatcher(agent, target, n));
            return new Figures(kind, attaches, lookupRate, micros(rtt[rtt.length / 2]), micros(rtt[rtt.length * 99 / 100]), fanOut);
        }
    }

    /** Median over the migrations of the time from sending the unlock to the last of {@code n} watchers holding the new location. */
    private double unlockToLastWatcher(Agent agent, String target, int n) throws Exception {
        agent.call(new BoardRequest.Attach(ids.incrementAndGet(), MOVING, "moving", List.of(), 1, true));
        AtomicLongArray seen = new AtomicLongArray(n);
        CountDownLatch[] latch = new CountDownLatch[1];
        int[] expectedHost = new int[1];
        List<Agent> watchers = new ArrayList<>();
        try {
            for (int w = 0; w < n; w++) {
                int slot = w;
                Agent watcher = new Agent(target, 10_000 + w, e -> {
                    if (e instanceof BoardEvent.Changed c && c.record().key().equals(MOVING) && c.record().hostId() == expectedHost[0]
                            && seen.compareAndSet(slot, 0, System.nanoTime())) {
                        latch[0].countDown();
                    }
                });
                watchers.add(watcher);
                watcher.call(new BoardRequest.Watch(ids.incrementAndGet(), 10_000 + w, WATCHED_VNI));
            }
            long[] times = new long[o.migrations()];
            int from = 1;
            for (int m = 0; m < times.length; m++) {
                int to = 3 - from;
                long migration = 2_000_000L + (long) n * 1_000 + m;
                for (int w = 0; w < n; w++) seen.set(w, 0);
                expectedHost[0] = to;
                latch[0] = new CountDownLatch(n);
                agent.call(new BoardRequest.LockRecord(ids.incrementAndGet(), MOVING, migration, from, LEASE_MS));
                agent.call(new BoardRequest.Attach(ids.incrementAndGet(), MOVING, "moving", List.of(), to, true));
                long start = System.nanoTime();
                agent.call(new BoardRequest.Unlock(ids.incrementAndGet(), MOVING, migration, BoardRequest.Outcome.COMPLETED));
                if (!latch[0].await(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    throw new IOException(latch[0].getCount() + " of " + n + " watchers never heard of migration " + migration);
                }
                long last = 0;
                for (int w = 0; w < n; w++) last = Math.max(last, seen.get(w));
                times[m] = last - start;
                from = to;
            }
            Arrays.sort(times);
            return micros(times[times.length / 2]);
        } finally {
            for (Agent w : watchers) w.close();
        }
    }

    private void print(List<Figures> all) {
        out.println();
        StringBuilder head = new StringBuilder(String.format("%-8s %12s %12s %14s %14s", "store", "attach/s", "lookup/s", "lock+unlock p50",
                "p99"));
        for (int n : o.watchers()) head.append(String.format(" %16s", "unlock->" + n + " p50"));
        out.println(head);
        for (Figures f : all) {
            StringBuilder row = new StringBuilder(String.format("%-8s %,12.0f %,12.0f %12.0f us %11.0f us", f.store(), f.attachesPerSecond(),
                    f.lookupsPerSecond(), f.lockUnlockP50(), f.lockUnlockP99()));
            for (int n : o.watchers()) row.append(String.format(" %13.0f us", f.unlockToLastWatcherP50().get(n)));
            out.println(row);
        }
        Figures anchor = all.getFirst();
        for (Figures f : all.subList(1, all.size())) {
            StringBuilder r = new StringBuilder(String.format("%s against %s: attach/s %.2fx, lookup/s %.2fx, lock+unlock p50 %.2fx", f.store(),
                    anchor.store(), f.attachesPerSecond() / anchor.attachesPerSecond(), f.lookupsPerSecond() / anchor.lookupsPerSecond(),
                    f.lockUnlockP50() / anchor.lockUnlockP50()));
            for (int n : o.watchers()) {
                r.append(String.format(", unlock->%d %.2fx", n, f.unlockToLastWatcherP50().get(n) / anchor.unlockToLastWatcherP50().get(n)));
            }
            out.println(r);
        }
    }

    private static double seconds(long nanos) {
        return nanos / 1e9;
    }

    private static double micros(long nanos) {
        return nanos / 1e3;
    }

    /** A simulated agent: a gRPC board client whose answers complete futures by request id. */
    private static final class Agent implements AutoCloseable {
        private final Map<Long, CompletableFuture<BoardResponse>> waiting = new ConcurrentHashMap<>();
        private final GrpcBoardClient client;

        Agent(String target, int hostId, java.util.function.Consumer<BoardEvent> events) {
            client = new GrpcBoardClient(target, hostId, r -> {
                CompletableFuture<BoardResponse> f = waiting.remove(r.requestId());
                if (f != null) f.complete(r);
            }, events == null ? e -> {} : events, () -> {});
        }

        CompletableFuture<BoardResponse> send(BoardRequest request) {
            CompletableFuture<BoardResponse> f = new CompletableFuture<>();
            waiting.put(request.requestId(), f);
            client.send(request);
            return f;
        }

        BoardResponse call(BoardRequest request) throws Exception {
            BoardResponse r = send(request).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (r instanceof BoardResponse.Refused refused) throw new IOException(request + " refused: " + refused.reason());
            return r;
        }

        /**
         * {@code count} requests made by {@code make}, at most {@link #WINDOW} in flight; returns when all
         * are answered. Like an agent, it asks again (same request id) what a call's deadline left unanswered.
         */
        void pipelined(int count, java.util.function.IntFunction<BoardRequest> make) throws Exception {
            Semaphore window = new Semaphore(WINDOW);
            CountDownLatch done = new CountDownLatch(count);
            Map<Long, BoardRequest> unanswered = new ConcurrentHashMap<>();
            for (int i = 0; i < count; i++) {
                if (!window.tryAcquire(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                    resend(unanswered);
                    if (!window.tryAcquire(TIMEOUT_SECONDS, TimeUnit.SECONDS)) throw new IOException("the board stopped answering");
                }
                BoardRequest request = make.apply(i);
                unanswered.put(request.requestId(), request);
                send(request).whenComplete((r, t) -> {
                    unanswered.remove(request.requestId());
                    window.release();
                    done.countDown();
                });
            }
            for (int rounds = 0; !done.await(RESEND_SECONDS, TimeUnit.SECONDS); rounds++) {
                if (rounds * RESEND_SECONDS > TIMEOUT_SECONDS) throw new IOException(done.getCount() + " requests never answered");
                resend(unanswered);
            }
        }

        private void resend(Map<Long, BoardRequest> unanswered) {
            for (BoardRequest r : unanswered.values()) client.send(r);
        }

        @Override
        public void close() {
            client.close();
        }
    }
}
