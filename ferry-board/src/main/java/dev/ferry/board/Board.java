package dev.ferry.board;

import dev.ferry.board.BoardRequest.*;
import dev.ferry.board.BoardResponse.*;
import dev.ferry.board.NodeTable.Result;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The information bulletin board: answers {@link BoardRequest}s against the node table, pushes every
 * applied change to the watchers of its VNI, and expires host and lock leases on {@link #tick}.
 * Transport-agnostic: an in-process call, a simulated network or gRPC sits in front of it. Calls
 * are serialised; time is the caller's clock in milliseconds, so simulations stay deterministic.
 * Several boards may share one store (replicas on etcd): a request whose commit meets another
 * board's change is applied again on what that board wrote, and what others change reaches this
 * board's watchers as its own changes do.
 */
public final class Board {
    private static final Logger log = LoggerFactory.getLogger(Board.class);
    /** How many answers are kept to make retried requests harmless. */
    private static final int ANSWERED_CAPACITY = 65_536;
    /** How often a request meets another board's change before it is left to its requester's retry. */
    private static final int MAX_ATTEMPTS = 16;

    /**
     * How long a record detached from every host (no lock, no standby) is kept: late requests about
     * the VM still find it; after that it is forgotten, so records of VMs gone for good do not grow
     * the table and every VNI's snapshot without bound.
     */
    public static final long FORGET_DETACHED_AFTER_MS = 10 * 60_000L;

    private final Store store;
    private final NodeTable table;
    private final long forgetDetachedAfterMs;
    /** Detached records, and when this board first saw each detached (board's clock). */
    private final Map<VmKey, Long> detachedSince = new HashMap<>();
    private long lastDetachedScan = Long.MIN_VALUE;
    private long recordsForgotten;
    /**
     * The newest version a forgotten record had, by this board or another replica. A watch from
     * before it may have missed a deletion, and is answered with the whole VNI, marked so. Kept in
     * memory: a restarted board starts from none, and does not send whole snapshots to agents still
     * filling it again (they would forget VMs whose agents have not attached them again yet).
     */
    private long forgottenUpTo;

    /** The most IPs one VM's record may carry, and the longest name: what bounds a snapshot's page. */
    public static final int MAX_IPS = 64, MAX_VM_ID = 253;
    private final BoardListener listener;
    private final Map<Integer, Set<Integer>> watchers = new TreeMap<>();
    private final Map<Long, BoardResponse> answered = new LinkedHashMap<>(1024, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, BoardResponse> eldest) {
            return size() > ANSWERED_CAPACITY;
        }
    };

    /** Pushes the request being applied makes once it is committed. */
    private final List<Runnable> pushes = new ArrayList<>();

    /** Why the store failed to commit, once it has: from then on the board answers nothing but that. */
    private String storeFailure;

    public Board(Store store, BoardListener listener) {
        this(store, listener, FORGET_DETACHED_AFTER_MS);
    }

    /** A board that forgets detached records after {@code forgetDetachedAfterMs}. */
    public Board(Store store, BoardListener listener, long forgetDetachedAfterMs) {
        if (forgetDetachedAfterMs <= 0) throw new IllegalArgumentException("forgetDetachedAfterMs must be positive, was " + forgetDetachedAfterMs);
        this.forgetDetachedAfterMs = forgetDetachedAfterMs;
        this.store = store;
        this.table = new NodeTable(store);
        this.listener = listener;
        store.listen(this::changedElsewhere);
    }

    /**
     * Answers one request; a request id seen before gets the first answer again. Throws
     * {@link Store.Unavailable} when the store could not be reached: then nothing is answered.
     */
    public synchronized BoardResponse handle(BoardRequest request, long now) {
        if (storeFailure != null) return storeFailed(request.requestId());
        BoardResponse earlier = answered.get(request.requestId());
        if (earlier != null) {
            return earlier;
        }
        for (int attempt = 1; ; attempt++) {
            store.begin();
            BoardResponse response = apply(request, now);
            if (BoardRequest.isRead(request)) return response; // asking again is harmless, and their answers can be large
            try {
                if (!commit()) return storeFailed(request.requestId());
            } catch (Store.Conflict c) {
                // Another board changed a record this request read; the store now holds its values.
                takeBack();
                observed(c.seen());
                if (attempt < MAX_ATTEMPTS) continue;
                throw new Store.Unavailable("still conflicting after " + attempt + " attempts: " + c.getMessage(), c);
            } catch (Store.Unavailable u) {
                takeBack();
                throw u;
            }
            answered.put(request.requestId(), response);
            if (log.isDebugEnabled() && !(request instanceof Heartbeat)) log.debug("{} answered {}", request, response);
            committed();
            return response;
        }
    }

    /**
     * Answers requests that arrived together, their changes committed at once (group commit: one
     * synced transaction for all instead of one each). The answers are in the requests' order; a
     * null answer is one not given (the store was unavailable): its requester asks again. When the
     * group cannot be committed (another board's change, the store away), each is handled on its own.
     */
    public synchronized List<BoardResponse> handleAll(List<BoardRequest> requests, long now) {
        int limit = Math.max(1, store.groupLimit());
        if (requests.size() > limit) {
            List<BoardResponse> out = new ArrayList<>(requests.size());
            for (int from = 0; from < requests.size(); from += limit) {
                out.addAll(handleAll(requests.subList(from, Math.min(requests.size(), from + limit)), now));
            }
            return out;
        }
        if (requests.size() == 1 || storeFailure != null) return oneByOne(requests, now);
        store.begin();
        List<BoardResponse> out = new ArrayList<>(requests.size());
        Map<Long, BoardResponse> applied = new LinkedHashMap<>();
        for (BoardRequest request : requests) {
            BoardResponse earlier = answered.getOrDefault(request.requestId(), applied.get(request.requestId()));
            if (earlier != null) {
                out.add(earlier);
                continue;
            }
            BoardResponse response = apply(request, now);
            out.add(response);
            if (!BoardRequest.isRead(request)) applied.put(request.requestId(), response);
        }
        if (applied.isEmpty()) return out; // reads only: nothing to commit, as for one read alone
        try {
            if (!commit()) return oneByOne(requests, now);
        } catch (Store.Conflict c) {
            takeBack();
            observed(c.seen());
            return oneByOne(requests, now);
        } catch (Store.Unavailable u) {
            takeBack();
            return oneByOne(requests, now);
        }
        answered.putAll(applied);
        if (log.isDebugEnabled()) log.debug("{} requests committed together", requests.size());
        committed();
        return out;
    }

    /** What was applied is in the store: the pushes it made go out, and the records it changed. */
    private void committed() {
        for (Runnable push : pushes) push.run();
        pushes.clear();
        publish();
    }

    private List<BoardResponse> oneByOne(List<BoardRequest> requests, long now) {
        List<BoardResponse> out = new ArrayList<>(requests.size());
        for (BoardRequest request : requests) {
            try {
                out.add(handle(request, now));
            } catch (Store.Unavailable u) {
                out.add(null);
            }
        }
        return out;
    }

    private BoardResponse apply(BoardRequest request, long now) {
        return switch (request) {
            case RegisterHost r when r.leaseMs() == 0 && !r.underlayKey().isEmpty() ->
                    new Refused(r.requestId(), "underlayKey: a static VTEP (lease 0) runs no agent and seals nothing; register it without a key", null);
            case RegisterHost r when !r.underlayKey().isEmpty() && !isUnderlayKey(r.underlayKey()) ->
                    new Refused(r.requestId(), "underlayKey: not base64 of a 32-byte X25519 public key", null);
            case RegisterHost r -> {
                HostRecord before = store.host(r.hostId());
                // Lease 0: a static VTEP (a Geneve endpoint that is not a Ferry agent), never expiring.
                HostRecord host = new HostRecord(r.hostId(), r.endpoint(), r.vnis(), r.leaseMs(),
                        r.leaseMs() == 0 ? HostRecord.STATIC : now + r.leaseMs(), r.underlayKey());
                store.putHost(host);
                if (before == null || !before.endpoint().equals(r.endpoint()) || !before.underlayKey().equals(r.underlayKey())) {
                    pushes.add(() -> hostChanged(host));
                }
                yield new Ok(r.requestId(), null);
            }
            case Heartbeat h -> heartbeat(h, now);
            case Attach a when a.ips().size() > MAX_IPS ->
                    new Refused(a.requestId(), "ips: a VM may have at most " + MAX_IPS + ", this one has " + a.ips().size(), null);
            case Attach a when a.vmId() != null && a.vmId().length() > MAX_VM_ID ->
                    new Refused(a.requestId(), "vmId: at most " + MAX_VM_ID + " characters, this one has " + a.vmId().length(), null);
            case Attach a -> answer(a.requestId(), table.attach(a.key(), a.vmId(), a.ips(), a.hostId(), a.active()), a.hostId());
            case Detach d -> answer(d.requestId(), table.detach(d.key(), d.hostId(), d.standby()), d.hostId());
            case Lookup l -> new Ok(l.requestId(), table.get(l.key()));
            case LookupIp l -> new Ok(l.requestId(), table.getByIp(l.vni(), l.ip()));
            case LockRecord l -> answer(l.requestId(), table.lock(l.key(), l.migrationId(), l.owner(), l.leaseMs(), now), l.owner());
            case Unlock u -> {
                Result result = table.unlock(u.key(), u.migrationId(), u.outcome());
                log.debug("unlock {} migration {} {}", u.key(), u.migrationId(), u.outcome());
                yield answer(u.requestId(), result, 0);
            }
            case Watch w -> {
                watchers.computeIfAbsent(w.vni(), v -> new HashSet<>()).add(w.hostId());
                // A version beyond the board's own comes from a board that lost changes: send
                // everything. One from before a record was forgotten may have missed its deletion:
                // send everything, and say so, for the watcher to forget what the pages do not show.
                boolean whole = w.sinceVersion() < forgottenUpTo;
                long since = whole || w.sinceVersion() > store.revision() ? 0 : w.sinceVersion();
                yield page(w.requestId(), w.vni(), table.records(w.vni()).stream().filter(r -> r.version() > since), w.after(), whole);
            }
            case ListHosts l -> new Hosts(l.requestId(), hostsById());
            case ListNodes l -> page(l.requestId(), l.vni(),
                    l.vni() == BoardRequest.ALL_VNIS ? store.records().stream() : table.records(l.vni()).stream(), l.after(), true);
        };
    }

    /** The page of {@code records} after key {@code after} (from the first for null), in key order. */
    private Snapshot page(long requestId, int vni, java.util.stream.Stream<NodeRecord> records, VmKey after, boolean whole) {
        java.util.Comparator<VmKey> order = java.util.Comparator.comparingInt(VmKey::vni).thenComparingLong(VmKey::mac);
        List<NodeRecord> page = records.filter(r -> after == null || order.compare(r.key(), after) > 0)
                .sorted(java.util.Comparator.comparing(NodeRecord::key, order)).limit(Snapshot.PAGE_RECORDS + 1L).toList();
        if (page.size() <= Snapshot.PAGE_RECORDS) return new Snapshot(requestId, vni, store.revision(), page, null, whole);
        List<NodeRecord> first = page.subList(0, Snapshot.PAGE_RECORDS);
        return new Snapshot(requestId, vni, store.revision(), List.copyOf(first), first.getLast().key(), whole);
    }

    /** The request's changes were taken back by the store: so are its pushes and index entries. */
    private void takeBack() {
        pushes.clear();
        table.reload();
    }

    /**
     * Another board changed records or hosts in the store this one shares: index them and push them
     * to this board's watchers, as this board's own changes are.
     */
    private void changedElsewhere(Supplier<StoreListener.Changes> apply) {
        synchronized (this) {
            observed(apply.get());
        }
    }

    private void observed(StoreListener.Changes changes) {
        for (StoreListener.Change<NodeRecord> c : changes.records()) {
            NodeRecord before = c.before(), after = c.after();
            table.changedElsewhere(before, after);
            if (after == null) {
                // Another board forgot a detached record.
                forgottenUpTo = Math.max(forgottenUpTo, before.version());
                continue;
            }
            if (before == null || after.version() != before.version()) publish(after);
            if (!after.isLocked()) continue;
            for (PendingUpdate p : after.pending()) {
                // The owner of the lock hears of a new waiter as if it had queued here.
                if (p instanceof PendingUpdate.Attach a && (before == null || !before.pending().contains(p))) {
                    listener.push(after.lock().owner(), new BoardEvent.LockWaiter(after.key(), a.migrationId(), a.hostId()));
                }
            }
        }
        for (StoreListener.Change<HostRecord> c : changes.hosts()) {
            if (c.before() == null || !c.before().endpoint().equals(c.after().endpoint())
                    || !c.before().underlayKey().equals(c.after().underlayKey())) {
                hostChanged(c.after());
            }
        }
    }

    /** Expires the leases that ran out by {@code now} (design §5), and pushes what that changed. */
    public synchronized void tick(long now) {
        if (storeFailure != null) return;
        store.begin();
        for (NodeRecord r : store.expiredLocks(now)) {
            Lock lock = r.lock();
            boolean destinationRuns = r.pending().stream().anyMatch(p -> p instanceof PendingUpdate.Attach);
            Outcome outcome = destinationRuns ? Outcome.COMPLETED : Outcome.ABORTED;
            log.warn("lock on {} for migration {} lapsed (owner host {} silent): released as {}{}", r.key(),
                    lock.migrationId(), lock.owner(), outcome,
                    destinationRuns ? ", the destination had reported running" : ", no destination had reported running");
            table.unlock(r.key(), lock.migrationId(), outcome);
        }
        for (HostRecord h : store.expiredHosts(now)) {
            log.warn("host {} ({}) lease lapsed", h.hostId(), h.endpoint());
            store.putHost(h.expiring(HostRecord.LAPSED));
        }
        forgetDetached(now);
        try {
            if (commit()) committed();
        } catch (Store.Conflict c) {
            // Another board expired them first: the next tick looks again.
            takeBack();
            observed(c.seen());
        } catch (Store.Unavailable u) {
            takeBack(); // the store is away: the next tick looks again
        }
    }

    /** Once a second: forgets records detached for longer than the grace period (in the tick's commit). */
    private void forgetDetached(long now) {
        if (lastDetachedScan != Long.MIN_VALUE && now - lastDetachedScan < 1_000) return;
        lastDetachedScan = now;
        Set<VmKey> detached = new HashSet<>();
        List<NodeRecord> expired = new ArrayList<>();
        for (NodeRecord r : store.records()) {
            if (r.isAttached() || r.isLocked() || !r.standbys().isEmpty()) continue;
            detached.add(r.key());
            if (now - detachedSince.computeIfAbsent(r.key(), k -> now) >= forgetDetachedAfterMs) expired.add(r);
        }
        detachedSince.keySet().retainAll(detached);
        for (NodeRecord r : expired) {
            table.forget(r);
            forgottenUpTo = Math.max(forgottenUpTo, r.version());
            detachedSince.remove(r.key());
            recordsForgotten++;
            log.debug("{} forgotten: detached for {} ms", r.key(), forgetDetachedAfterMs);
        }
    }

    /** Detached records forgotten after their grace period, for the board's metrics. */
    public synchronized long recordsForgotten() {
        return recordsForgotten;
    }

    /**
     * Makes the request's changes durable. When the store cannot, the board's memory holds changes its
     * store does not: it stops (fail-stop) rather than answer from a state a restart would not have.
     */
    private boolean commit() {
        try {
            store.commit();
            return true;
        } catch (Store.Conflict | Store.Unavailable e) {
            throw e;
        } catch (RuntimeException e) {
            storeFailure = e.getMessage();
            log.error("the board's store failed: {}; the board answers nothing from now on, restart it", storeFailure);
            return false;
        }
    }

    private BoardResponse storeFailed(long requestId) {
        return new Refused(requestId, "the board's store failed (" + storeFailure + "): restart the board", null);
    }

    public synchronized NodeRecord record(VmKey key) {
        return table.get(key);
    }

    public synchronized List<NodeRecord> records() {
        return List.copyOf(store.records());
    }

    public synchronized List<HostRecord> hosts() {
        return hostsById();
    }

    /** Host {@code hostId}'s registration, or null. */
    public synchronized HostRecord host(int hostId) {
        return store.host(hostId);
    }

    /** Locks, for the board's metrics. */
    public synchronized int locks() {
        int n = 0;
        for (NodeRecord r : store.records()) if (r.lock() != null) n++;
        return n;
    }

    /** Pending updates queued behind locks, for the board's metrics. */
    public synchronized int pendingUpdates() {
        int n = 0;
        for (NodeRecord r : store.records()) n += r.pending().size();
        return n;
    }

    /** (VNI, host) watch subscriptions, for the board's metrics. */
    public synchronized int watches() {
        return watchers.values().stream().mapToInt(Set::size).sum();
    }

    private List<HostRecord> hostsById() {
        return store.hosts().stream().sorted(java.util.Comparator.comparingInt(HostRecord::hostId)).toList();
    }

    /** True while the host's lease runs. */
    public synchronized boolean isAlive(int hostId) {
        HostRecord h = store.host(hostId);
        return h != null && h.isAlive();
    }

    private static boolean isUnderlayKey(String key) {
        try {
            return key.length() == 44 && java.util.Base64.getDecoder().decode(key).length == 32;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private BoardResponse heartbeat(Heartbeat h, long now) {
        HostRecord host = store.host(h.hostId());
        if (host == null) {
            return new Refused(h.requestId(), "host " + h.hostId() + " is not registered", null);
        }
        store.putHost(host.expiring(now + host.leaseMs()));
        table.renewLocks(h.hostId(), now);
        return new Ok(h.requestId(), null);
    }

    private BoardResponse answer(long requestId, Result result, int requester) {
        return switch (result) {
            case Result.Applied a -> new Ok(requestId, a.record());
            case Result.Queued q -> {
                BoardEvent waiter = new BoardEvent.LockWaiter(q.record().key(), q.record().lock().migrationId(), requester);
                pushes.add(() -> listener.push(q.record().lock().owner(), waiter));
                yield new Queued(requestId, q.record());
            }
            case Result.Refused r -> new Refused(requestId, r.reason(), r.record());
        };
    }

    private void publish() {
        for (NodeRecord changed : table.drainChanges()) publish(changed);
    }

    private void publish(NodeRecord changed) {
        Set<Integer> hosts = watchers.get(changed.key().vni());
        if (hosts == null) return;
        BoardEvent event = new BoardEvent.Changed(changed);
        for (int host : new ArrayList<>(hosts)) {
            listener.push(host, event);
        }
    }

    private void hostChanged(HostRecord host) {
        listener.pushToAll(store.hosts().stream().map(HostRecord::hostId).toList(), new BoardEvent.HostChanged(host));
    }
}
