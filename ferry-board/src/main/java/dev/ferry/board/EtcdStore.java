package dev.ferry.board;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.kv.TxnResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Store} in an etcd cluster, shared by any number of boards (replicas), each stateless but
 * for its view of the cluster. A board reads its view and writes back in one etcd transaction that
 * holds only if no record, host or revision it changed was changed since it read them (compare on
 * each key's mod revision): two boards can never both grant a lock, and a pending update is applied
 * by whichever board wins, once. What other boards change arrives through etcd's watch.
 *
 * <p>Locks and agents' liveness are etcd leases, so etcd's clock, not a board's, says when they run
 * out: a lock is a key {@code lock/VNI/MAC} on a lease of the lock's length, renewed by the owner's
 * heartbeats through whichever board takes them; when etcd drops the key, every board sees it and the
 * first to act releases the lock as design §5 says. Agents' leases are keys {@code alive/HOST} alike.
 */
public final class EtcdStore implements Store, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EtcdStore.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * How long one call to etcd may take before it is made again. A call that reached a member as the
     * leader died is never answered (the member waits out its own long timeout), while the cluster
     * elects a new leader within about one election timeout: asking again soon gets through.
     */
    private static final long ATTEMPT_MS = 500;
    /** How long etcd may stay away before the board answers nothing and the requester retries. */
    private static final long TIMEOUT_MS = 3_000;

    private final Client client;
    private final String prefix;
    private final long firstRevision;

    // The view of etcd this board works on, and the mod revision each value had there.
    private final Map<VmKey, NodeRecord> records = new LinkedHashMap<>();
    private final Map<VmKey, Long> recordRevs = new HashMap<>();
    /** Records this board forgot, and the etcd revision of the deletion: an older write's echo must not bring them back. */
    private final Map<VmKey, Long> forgottenAt = new HashMap<>();
    private final Map<Integer, HostRecord> hosts = new HashMap<>();
    private final Map<Integer, Long> hostRevs = new HashMap<>();
    private long revision;
    private long revisionRev;
    private final Map<VmKey, Long> lockLeases = new HashMap<>();
    private final Map<Integer, Long> hostLeases = new HashMap<>();
    /** Lock keys etcd dropped (lease ran out), with the migration they locked for. */
    private final Map<VmKey, Long> lapsedLocks = new HashMap<>();
    private final Set<Integer> lapsedHosts = new HashSet<>();

    // The request under way: the mod revisions of what it read (an answer given from a value since
    // changed, a refusal say, is as wrong as a write on it), the values its change replaced, and the
    // leases its heartbeats renew.
    private boolean tracking;
    private final Map<VmKey, Long> recordReads = new HashMap<>();
    private final Map<Integer, Long> hostReads = new HashMap<>();
    private final Map<VmKey, NodeRecord> recordsBefore = new LinkedHashMap<>();
    private final Map<Integer, HostRecord> hostsBefore = new LinkedHashMap<>();
    private Long revisionBefore;
    private final Set<Long> renewals = new HashSet<>();

    private final ExecutorService watchThread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "etcd-watch");
        t.setDaemon(true);
        return t;
    });
    private long watchedTo;
    private Watch.Watcher watcher;
    private StoreListener listener;
    private volatile boolean closed;

    private EtcdStore(Client client, String prefix, long firstRevision) {
        this.client = client;
        this.prefix = prefix;
        this.firstRevision = firstRevision;
    }

    /**
     * Connects to the etcd cluster at {@code endpoints} ("http://host:port", any member will do) and
     * reads every key under {@code prefix}. {@code firstRevision}: the board revision to start from
     * when the cluster holds none yet.
     */
    public static EtcdStore open(List<URI> endpoints, String prefix, long firstRevision) throws IOException {
        return open(endpoints, prefix, firstRevision, null);
    }

    /**
     * The same over etcd's client TLS with {@code tls} (its endpoints {@code https://}), or plaintext
     * when it is null.
     */
    public static EtcdStore open(List<URI> endpoints, String prefix, long firstRevision, io.netty.handler.ssl.SslContext tls)
            throws IOException {
        var builder = Client.builder().endpoints(endpoints.toArray(URI[]::new)).retryMaxAttempts(2).retryDelay(100).retryMaxDelay(500);
        if (tls != null) builder.sslContext(tls);
        Client client = builder.build();
        EtcdStore store = new EtcdStore(client, prefix, firstRevision);
        try {
            store.load();
        } catch (IOException | RuntimeException e) {
            client.close();
            throw e;
        }
        return store;
    }

    private void load() throws IOException {
        revision = firstRevision;
        read(null);
        log.info("etcd store: {} records, {} hosts under {} at etcd revision {}", records.size(), hosts.size(), prefix, watchedTo);
    }

    /** Reads every key under the prefix into the view; what that changed goes to {@code seen}, if any. */
    private void read(Seen seen) throws IOException {
        GetResponse all = call(() -> client.getKVClient().get(bytes(prefix), GetOption.builder().isPrefix(true).build()),
                "read " + prefix, null);
        Set<VmKey> locks = new HashSet<>();
        Set<Integer> alive = new HashSet<>();
        for (KeyValue kv : all.getKvs()) {
            observe(kv, seen);
            String[] part = parts(kv);
            if (part[0].equals("lock")) locks.add(vmKey(part));
            if (part[0].equals("alive")) alive.add(Integer.parseInt(part[1]));
        }
        // Leases that ran out while nobody watched.
        lockLeases.keySet().retainAll(locks);
        hostLeases.keySet().retainAll(alive);
        for (NodeRecord r : records.values()) {
            if (r.isLocked() && !lockLeases.containsKey(r.key())) lapsedLocks.put(r.key(), r.lock().migrationId());
        }
        for (HostRecord h : hosts.values()) {
            if (h.isAlive() && !h.isStatic() && !hostLeases.containsKey(h.hostId())) lapsedHosts.add(h.hostId());
        }
        watchedTo = all.getHeader().getRevision();
    }

    @Override
    public synchronized void listen(StoreListener listener) {
        if (this.listener != null) throw new IllegalStateException("the store has a listener already");
        this.listener = listener;
        watch();
    }

    private synchronized void watch() {
        if (closed) return;
        WatchOption option = WatchOption.builder().isPrefix(true).withPrevKV(true).withRevision(watchedTo + 1).build();
        // Off the client's event loop: the board's lock may be held by a request awaiting that loop.
        watcher = client.getWatchClient().watch(bytes(prefix), option, Watch.listener(
                response -> watchThread.execute(() -> listener.changed(() -> observe(response))),
                error -> log.warn("etcd watch: {}", error.toString()),
                () -> {
                    if (!closed) watchThread.execute(this::watchAgain);
                }));
    }

    /**
     * The client gave the watch up (its revision compacted away, no leader): the view may have missed
     * changes, so it reads everything again, then watches on from there.
     */
    private void watchAgain() {
        if (closed) return;
        log.warn("etcd watch ended; reading everything under {} again", prefix);
        try {
            listener.changed(() -> {
                Seen seen = new Seen();
                try {
                    read(seen);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                return seen.changes();
            });
            watch();
        } catch (UncheckedIOException e) {
            log.warn("etcd store: {}; trying again in 1 s", e.getCause().getMessage());
            try {
                Thread.sleep(1_000);
            } catch (InterruptedException stop) {
                return;
            }
            watchThread.execute(this::watchAgain);
        }
    }

    @Override
    public void begin() {
        recordReads.clear();
        hostReads.clear();
        tracking = true;
    }

    @Override
    public NodeRecord get(VmKey key) {
        if (tracking) recordReads.putIfAbsent(key, recordRevs.getOrDefault(key, 0L));
        return records.get(key);
    }

    @Override
    public void put(NodeRecord record) {
        NodeRecord previous = records.get(record.key());
        if (!recordsBefore.containsKey(record.key())) {
            Long lease = lockLeases.get(record.key());
            if (previous != null && lease != null && renewsOnly(previous, record)) {
                // A heartbeat renewing the lock: etcd's lease says when it runs out, not the record.
                renewals.add(lease);
                records.put(record.key(), record);
                return;
            }
            recordsBefore.put(record.key(), previous);
        }
        records.put(record.key(), record);
    }

    @Override
    public void remove(VmKey key) {
        NodeRecord previous = records.get(key);
        if (previous == null) return;
        recordsBefore.putIfAbsent(key, previous);
        records.remove(key);
    }

    private static boolean renewsOnly(NodeRecord before, NodeRecord after) {
        return before.isLocked() && after.isLocked() && before.lock().migrationId() == after.lock().migrationId()
                && before.withLock(after.lock(), before.pending()).equals(after);
    }

    @Override public Collection<NodeRecord> records() { return Collections.unmodifiableCollection(records.values()); }

    @Override
    public HostRecord host(int hostId) {
        if (tracking) hostReads.putIfAbsent(hostId, hostRevs.getOrDefault(hostId, 0L));
        return hosts.get(hostId);
    }

    @Override
    public void putHost(HostRecord host) {
        HostRecord previous = hosts.get(host.hostId());
        if (!hostsBefore.containsKey(host.hostId())) {
            Long lease = hostLeases.get(host.hostId());
            if (previous != null && lease != null && previous.isAlive() && !previous.isStatic() && host.isAlive()
                    && !host.isStatic() && previous.endpoint().equals(host.endpoint()) && previous.vnis().equals(host.vnis())
                    && previous.underlayKey().equals(host.underlayKey())
                    && previous.leaseMs() == host.leaseMs()) {
                renewals.add(lease);
                hosts.put(host.hostId(), host);
                return;
            }
            hostsBefore.put(host.hostId(), previous);
        }
        hosts.put(host.hostId(), host);
    }

    @Override public Collection<HostRecord> hosts() { return Collections.unmodifiableCollection(hosts.values()); }

    @Override public long revision() { return revision; }

    @Override
    public void revision(long revision) {
        if (revisionBefore == null) revisionBefore = this.revision;
        this.revision = revision;
    }

    /**
     * etcd refuses a transaction of more than 128 operations or comparisons (its --max-txn-ops): a
     * request writes at most two keys (a record and its lock, a host and its liveness) and compares
     * what it read, so 40 of them, with the revision, stay within.
     */
    @Override
    public int groupLimit() {
        return 40;
    }

    @Override
    public List<NodeRecord> expiredLocks(long now) {
        List<NodeRecord> out = new ArrayList<>();
        for (Map.Entry<VmKey, Long> e : lapsedLocks.entrySet()) {
            NodeRecord r = records.get(e.getKey());
            if (r != null && r.isLocked() && r.lock().migrationId() == e.getValue()) out.add(r);
        }
        return out;
    }

    @Override
    public List<HostRecord> expiredHosts(long now) {
        List<HostRecord> out = new ArrayList<>();
        for (int id : lapsedHosts) {
            HostRecord h = hosts.get(id);
            if (h != null && h.isAlive() && !h.isStatic()) out.add(h);
        }
        return out;
    }

    /**
     * Writes the change under way in one etcd transaction, on condition that nothing it changed was
     * changed since this board read it; renews the leases heartbeats asked for.
     */
    @Override
    public void commit() {
        try {
            renew();
            if (recordsBefore.isEmpty() && hostsBefore.isEmpty() && revisionBefore == null
                    && recordReads.isEmpty() && hostReads.isEmpty()) return;
            write();
        } finally {
            renewals.clear();
            recordReads.clear();
            hostReads.clear();
            tracking = false;
        }
    }

    private void renew() {
        if (renewals.isEmpty()) return;
        try {
            call(() -> {
                List<CompletableFuture<?>> all = new ArrayList<>();
                for (long lease : renewals) {
                    all.add(client.getLeaseClient().keepAliveOnce(lease).exceptionally(e -> {
                        // The lease ran out already: etcd dropped its key, and the watch says so.
                        log.debug("etcd lease {} not renewed: {}", Long.toHexString(lease), e.toString());
                        return null;
                    }));
                }
                return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
            }, "renew leases", null);
        } catch (IOException e) {
            takeBack();
            throw new Unavailable(e.getMessage(), e);
        }
    }

    private void write() {
        List<Cmp> conditions = new ArrayList<>();
        List<Op> ops = new ArrayList<>();
        Map<VmKey, Long> newLockLeases = new HashMap<>();
        Map<Integer, Long> newHostLeases = new HashMap<>();
        List<Long> granted = new ArrayList<>();
        try {
            for (Map.Entry<VmKey, NodeRecord> e : recordsBefore.entrySet()) {
                VmKey key = e.getKey();
                NodeRecord before = e.getValue(), after = records.get(key);
                conditions.add(unchanged(recordKey(key), recordRevs.getOrDefault(key, 0L)));
                if (after == null) {
                    // Only unlocked records are forgotten: there is no lock key to delete with it.
                    ops.add(Op.delete(recordKey(key), DeleteOption.DEFAULT));
                    continue;
                }
                ops.add(Op.put(recordKey(key), bytes(encode(after)), PutOption.DEFAULT));
                Lock was = before == null ? null : before.lock(), is = after.lock();
                if (is != null && (was == null || was.migrationId() != is.migrationId())) {
                    long lease = lockLease(is, granted);
                    newLockLeases.put(key, lease);
                    ops.add(Op.put(lockKey(key), bytes(Long.toString(is.migrationId())), PutOption.builder().withLeaseId(lease).build()));
                } else if (is == null && was != null) {
                    // Its lease is left to run out, not revoked: it may be the owner's own.
                    ops.add(Op.delete(lockKey(key), DeleteOption.DEFAULT));
                }
            }
            for (Map.Entry<Integer, HostRecord> e : hostsBefore.entrySet()) {
                int id = e.getKey();
                HostRecord after = hosts.get(id);
                conditions.add(unchanged(hostKey(id), hostRevs.getOrDefault(id, 0L)));
                ops.add(Op.put(hostKey(id), bytes(encode(after)), PutOption.DEFAULT));
                if (after.isAlive() && !after.isStatic()) {
                    long lease = grant(after.leaseMs());
                    granted.add(lease);
                    newHostLeases.put(id, lease);
                    ops.add(Op.put(aliveKey(id), bytes(after.endpoint()), PutOption.builder().withLeaseId(lease).build()));
                }
            }
            // What the answer rests on but the change leaves as it is must be as read, too.
            recordReads.forEach((key, rev) -> {
                if (!recordsBefore.containsKey(key)) conditions.add(unchanged(recordKey(key), rev));
            });
            hostReads.forEach((id, rev) -> {
                if (!hostsBefore.containsKey(id)) conditions.add(unchanged(hostKey(id), rev));
            });
            if (revisionBefore != null) {
                conditions.add(unchanged(revisionKey(), revisionRev));
                ops.add(Op.put(revisionKey(), bytes(Long.toString(revision)), PutOption.DEFAULT));
            }
            // Made again when unanswered: if an earlier attempt landed, the comparisons fail, and the
            // conflict brings its values in.
            boolean[] repeated = new boolean[1];
            TxnResponse answer = call(() -> client.getKVClient().txn().If(conditions.toArray(Cmp[]::new))
                    .Then(ops.toArray(Op[]::new)).commit(), "write", repeated);
            if (!answer.isSucceeded()) {
                if (!repeated[0]) {
                    // Nothing of this change landed: the leases it was granted hold nothing.
                    granted.forEach(this::revoke);
                }
                String what = describeChange();
                throw new Conflict("another board changed " + what, refreshChanged());
            }
            long at = answer.getHeader().getRevision();
            for (VmKey key : recordsBefore.keySet()) {
                if (records.get(key) == null) {
                    // Gone from etcd: a record made again later is made where no key is (mod revision 0).
                    recordRevs.remove(key);
                    forgottenAt.put(key, at);
                    lockLeases.remove(key);
                    lapsedLocks.remove(key);
                    continue;
                }
                forgottenAt.remove(key);
                recordRevs.put(key, at);
                if (records.get(key).lock() == null) lockLeases.remove(key);
                lapsedLocks.remove(key);
            }
            lockLeases.putAll(newLockLeases);
            for (int id : hostsBefore.keySet()) {
                hostRevs.put(id, at);
                lapsedHosts.remove(id);
            }
            hostLeases.putAll(newHostLeases);
            if (revisionBefore != null) revisionRev = at;
            recordsBefore.clear();
            hostsBefore.clear();
            revisionBefore = null;
        } catch (IOException e) {
            // The write may have landed or not: its leases are left to run out, and if it landed
            // the watch brings it back as a change this board did not make.
            takeBack();
            throw new Unavailable("etcd: " + e.getMessage(), e);
        }
    }

    private String describeChange() {
        Set<String> what = new java.util.TreeSet<>();
        recordsBefore.keySet().forEach(k -> what.add(k.toString()));
        recordReads.keySet().forEach(k -> what.add(k.toString()));
        hostsBefore.keySet().forEach(h -> what.add("host " + h));
        hostReads.keySet().forEach(h -> what.add("host " + h));
        return String.join(", ", what);
    }

    private static Cmp unchanged(ByteSequence key, long modRevision) {
        return new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(modRevision));
    }

    /**
     * The lease a new lock's key goes on. A lock lapses when its owner's heartbeats stop, as the
     * owner's liveness does: when both are as long, the lock shares the owner's lease (no grant, one
     * renewal per heartbeat); else it is granted one of its own.
     */
    private long lockLease(Lock lock, List<Long> granted) throws IOException {
        Long owners = hostLeases.get(lock.owner());
        HostRecord owner = hosts.get(lock.owner());
        if (owners != null && owner != null && owner.isAlive() && !owner.isStatic() && owner.leaseMs() == lock.leaseMs()) {
            return owners;
        }
        long lease = grant(lock.leaseMs());
        granted.add(lease);
        return lease;
    }

    private long grant(long leaseMs) throws IOException {
        // etcd counts leases in whole seconds and raises any below its minimum (about 2 s) to it.
        long seconds = Math.max(1, (leaseMs + 999) / 1000);
        return call(() -> client.getLeaseClient().grant(seconds), "grant a lease", null).getID();
    }

    private void revoke(long lease) {
        client.getLeaseClient().revoke(lease).exceptionally(e -> null);
    }

    /** Puts back what the change under way replaced. */
    private void takeBack() {
        recordsBefore.forEach((k, v) -> {
            if (v == null) records.remove(k);
            else records.put(k, v);
        });
        hostsBefore.forEach((k, v) -> {
            if (v == null) hosts.remove(k);
            else hosts.put(k, v);
        });
        if (revisionBefore != null) revision = revisionBefore;
        recordsBefore.clear();
        hostsBefore.clear();
        revisionBefore = null;
    }

    /** After a conflict: takes the change back and reads what etcd holds now for what it touched. */
    private StoreListener.Changes refreshChanged() throws IOException {
        Set<VmKey> touched = new HashSet<>(recordsBefore.keySet());
        touched.addAll(recordReads.keySet());
        Set<Integer> touchedHosts = new HashSet<>(hostsBefore.keySet());
        touchedHosts.addAll(hostReads.keySet());
        List<ByteSequence> keys = new ArrayList<>();
        touched.forEach(k -> {
            keys.add(recordKey(k));
            keys.add(lockKey(k));
        });
        touchedHosts.forEach(h -> {
            keys.add(hostKey(h));
            keys.add(aliveKey(h));
        });
        boolean revisionToo = revisionBefore != null;
        takeBack();
        if (revisionToo) keys.add(revisionKey());
        List<Op> reads = new ArrayList<>();
        for (ByteSequence k : keys) reads.add(Op.get(k, GetOption.DEFAULT));
        TxnResponse now = call(() -> client.getKVClient().txn().Then(reads.toArray(Op[]::new)).commit(), "read after a conflict", null);
        Seen seen = new Seen();
        for (GetResponse got : now.getGetResponses()) {
            for (KeyValue kv : got.getKvs()) observe(kv, seen);
        }
        return seen.changes();
    }

    /** Applies one watch response to the view; what it changed goes to the board. */
    private StoreListener.Changes observe(WatchResponse response) {
        Seen seen = new Seen();
        for (WatchEvent event : response.getEvents()) {
            KeyValue kv = event.getKeyValue();
            if (event.getEventType() == WatchEvent.EventType.DELETE) {
                dropped(kv, event.getPrevKV(), seen);
            } else {
                observe(kv, seen);
            }
            watchedTo = Math.max(watchedTo, kv.getModRevision());
        }
        return seen.changes();
    }

    /** What values taken in from etcd changed, for the board. */
    private static final class Seen {
        final List<StoreListener.Change<NodeRecord>> records = new ArrayList<>();
        final List<StoreListener.Change<HostRecord>> hosts = new ArrayList<>();

        StoreListener.Changes changes() {
            return new StoreListener.Changes(records, hosts);
        }
    }

    /**
     * Takes one value etcd holds into the view unless the view has it already (this board's own
     * write, coming back through the watch); reports what it changed to {@code seen}, if any.
     */
    private void observe(KeyValue kv, Seen seen) {
        long rev = kv.getModRevision();
        String[] part = parts(kv);
        switch (part[0]) {
            case "record" -> {
                VmKey key = vmKey(part);
                if (rev <= recordRevs.getOrDefault(key, 0L) || rev <= forgottenAt.getOrDefault(key, 0L)) return;
                forgottenAt.remove(key);
                NodeRecord before = records.get(key), after = decodeRecord(key, kv.getValue());
                records.put(key, after);
                recordRevs.put(key, rev);
                if (!after.isLocked()) lapsedLocks.remove(key);
                if (seen != null) seen.records.add(new StoreListener.Change<>(before, after));
            }
            case "host" -> {
                int id = Integer.parseInt(part[1]);
                if (rev <= hostRevs.getOrDefault(id, 0L)) return;
                HostRecord before = hosts.get(id), after = decodeHost(id, kv.getValue());
                hosts.put(id, after);
                hostRevs.put(id, rev);
                if (seen != null) seen.hosts.add(new StoreListener.Change<>(before, after));
            }
            case "revision" -> {
                if (rev <= revisionRev) return;
                revision = Long.parseLong(kv.getValue().toString(StandardCharsets.UTF_8));
                revisionRev = rev;
            }
            case "lock" -> {
                lockLeases.put(vmKey(part), kv.getLease());
                lapsedLocks.remove(vmKey(part));
            }
            case "alive" -> {
                hostLeases.put(Integer.parseInt(part[1]), kv.getLease());
                lapsedHosts.remove(Integer.parseInt(part[1]));
            }
            default -> log.warn("etcd store: key {} under {} is none of Ferry's; left alone", String.join("/", part), prefix);
        }
    }

    /** etcd dropped a key: for a lock or an agent's liveness, its lease ran out (or the lock was released). */
    private void dropped(KeyValue kv, KeyValue previous, Seen seen) {
        String[] part = parts(kv);
        switch (part[0]) {
            case "record" -> {
                // Another board forgot a detached record; this board's own deletion finds it gone already.
                VmKey key = vmKey(part);
                NodeRecord before = records.get(key);
                if (before == null || kv.getModRevision() <= recordRevs.getOrDefault(key, 0L)) return;
                records.remove(key);
                recordRevs.remove(key);
                seen.records.add(new StoreListener.Change<>(before, null));
            }
            case "lock" -> {
                VmKey key = vmKey(part);
                lockLeases.remove(key);
                if (previous != null && !previous.getValue().isEmpty()) {
                    lapsedLocks.put(key, Long.parseLong(previous.getValue().toString(StandardCharsets.UTF_8)));
                }
            }
            case "alive" -> {
                int id = Integer.parseInt(part[1]);
                hostLeases.remove(id);
                lapsedHosts.add(id);
            }
            default -> { }
        }
    }

    private ByteSequence recordKey(VmKey key) { return vmKey("record", key); }
    private ByteSequence lockKey(VmKey key) { return vmKey("lock", key); }

    private ByteSequence vmKey(String kind, VmKey key) {
        return bytes(prefix + kind + "/" + key.vni() + "/" + Long.toHexString(key.mac()));
    }
    private ByteSequence hostKey(int id) { return bytes(prefix + "host/" + id); }
    private ByteSequence aliveKey(int id) { return bytes(prefix + "alive/" + id); }
    private ByteSequence revisionKey() { return bytes(prefix + "revision"); }

    /** A key's name below the prefix, cut at its slashes: {@code record, VNI, MAC} and the like. */
    private String[] parts(KeyValue kv) {
        return kv.getKey().toString(StandardCharsets.UTF_8).substring(prefix.length()).split("/");
    }

    private static VmKey vmKey(String[] part) {
        return new VmKey(Integer.parseInt(part[1]), Long.parseUnsignedLong(part[2], 16));
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    /** The gRPC codes (jetcd's ErrorCode spells them alike) of errors that asking again may get past. */
    private static final Set<String> PASSING = Set.of("UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "UNKNOWN", "INTERNAL",
            "CANCELLED", "RESOURCE_EXHAUSTED");

    /** An error that asking again may not get: a refusal (bad request, no permission) is not. */
    private static boolean passing(Throwable error) {
        String code = switch (error) {
            case EtcdException e -> e.getErrorCode() == null ? null : e.getErrorCode().name();
            case io.grpc.StatusRuntimeException e -> e.getStatus().getCode().name();
            default -> null;
        };
        return code == null || PASSING.contains(code);
    }

    private static void pause() throws IOException {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /**
     * Calls etcd, making the call again after each {@link #ATTEMPT_MS} without an answer, for at most
     * {@link #TIMEOUT_MS}; {@code repeated[0]} (when given) tells whether it was made more than once.
     */
    private static <T> T call(Supplier<CompletableFuture<T>> attempt, String what, boolean[] repeated) throws IOException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        for (int n = 0; ; n++) {
            if (repeated != null) repeated[0] = n > 0;
            CompletableFuture<T> future = attempt.get();
            try {
                return future.get(ATTEMPT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(what + ": interrupted", e);
            } catch (ExecutionException e) {
                // No leader, a member gone: what an election ends; a lasting fault is reported at the deadline.
                if (!passing(e.getCause()) || System.nanoTime() > deadline) {
                    throw new IOException(what + ": " + e.getCause().getMessage(), e.getCause());
                }
                pause();
            } catch (TimeoutException e) {
                future.cancel(true);
                if (System.nanoTime() > deadline) {
                    throw new IOException(what + ": no answer from etcd within " + TIMEOUT_MS + " ms", e);
                }
            }
        }
    }

    // The records' JSON: what an operator reads with etcdctl, so names are spelled out.

    private static String encode(NodeRecord r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("vm", r.vmId());
        r.ips().forEach(o.putArray("ips")::add);
        o.put("host", r.hostId());
        r.standbys().forEach(o.putArray("standbys")::add);
        o.put("version", r.version());
        if (r.lock() != null) {
            ObjectNode l = o.putObject("lock");
            l.put("migration", r.lock().migrationId());
            l.put("owner", r.lock().owner());
            l.put("leaseMs", r.lock().leaseMs());
            l.put("expiresAt", r.lock().expiresAt());
        }
        ArrayNode pending = o.putArray("pending");
        for (PendingUpdate p : r.pending()) {
            ObjectNode u = pending.addObject();
            u.put("migration", p.migrationId());
            u.put("host", p.hostId());
            switch (p) {
                case PendingUpdate.Attach a -> {
                    u.put("kind", "attach");
                    u.put("vm", a.vmId());
                    a.ips().forEach(u.putArray("ips")::add);
                }
                case PendingUpdate.Detach d -> u.put("kind", "detach");
            }
        }
        return o.toString();
    }

    private static NodeRecord decodeRecord(VmKey key, ByteSequence value) {
        JsonNode o = parse(value);
        Lock lock = null;
        if (o.hasNonNull("lock")) {
            JsonNode l = o.get("lock");
            lock = new Lock(l.get("migration").asLong(), l.get("owner").asInt(), l.get("leaseMs").asLong(), l.get("expiresAt").asLong());
        }
        List<PendingUpdate> pending = new ArrayList<>();
        for (JsonNode u : o.path("pending")) {
            pending.add(u.get("kind").asText().equals("attach")
                    ? new PendingUpdate.Attach(u.get("migration").asLong(), u.get("host").asInt(), text(u, "vm"), ints(u.get("ips")))
                    : new PendingUpdate.Detach(u.get("migration").asLong(), u.get("host").asInt()));
        }
        return new NodeRecord(key, text(o, "vm"), ints(o.get("ips")), o.get("host").asInt(), Set.copyOf(ints(o.get("standbys"))),
                o.get("version").asLong(), lock, pending);
    }

    private static String encode(HostRecord h) {
        ObjectNode o = JSON.createObjectNode();
        o.put("endpoint", h.endpoint());
        h.vnis().forEach(o.putArray("vnis")::add);
        o.put("leaseMs", h.leaseMs());
        if (h.sealed()) o.put("underlayKey", h.underlayKey());
        o.put("state", h.isStatic() ? "static" : h.isAlive() ? "alive" : "lapsed");
        return o.toString();
    }

    private static HostRecord decodeHost(int id, ByteSequence value) {
        JsonNode o = parse(value);
        long expires = switch (o.get("state").asText()) {
            case "static" -> HostRecord.STATIC;
            case "lapsed" -> HostRecord.LAPSED;
            // Its liveness is the alive/ key's lease; the time here only has to say "alive".
            default -> Long.MAX_VALUE - 1;
        };
        return new HostRecord(id, o.get("endpoint").asText(), Set.copyOf(ints(o.get("vnis"))), o.get("leaseMs").asLong(), expires,
                o.path("underlayKey").asText(""));
    }

    private static JsonNode parse(ByteSequence value) {
        try {
            return JSON.readTree(value.getBytes());
        } catch (IOException e) {
            throw new UncheckedIOException("etcd store: a value is not Ferry's JSON", e);
        }
    }

    private static String text(JsonNode o, String field) {
        JsonNode v = o.get(field);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        if (array != null) for (JsonNode n : array) out.add(n.asInt());
        return out;
    }

    @Override
    public void close() {
        closed = true;
        if (watcher != null) watcher.close();
        watchThread.shutdownNow();
        client.close();
    }

    @Override
    public String toString() {
        return "etcd " + prefix + " (" + Objects.requireNonNullElse(client, "") + ")";
    }
}
