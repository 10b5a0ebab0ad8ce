package dev.ferry.agent;

import dev.ferry.board.BoardClient;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.agent.seal.Seal;
import dev.ferry.board.HostRecord;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.VmKey;
import java.util.function.Consumer;
import java.util.function.LongFunction;
import org.agrona.collections.Int2ObjectHashMap;
import org.agrona.collections.Long2LongHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's dealings with the board: registration and heartbeats, watches, the location cache's
 * look-ups and pushes, and every other request (through {@link BoardCalls}, which resends until
 * answered). Agent's thread only.
 */
final class BoardSync {
    private static final Logger log = LoggerFactory.getLogger(BoardSync.class);
    private static final long MS = 1_000_000L;

    /** Told when the cache learns where a VM is: frames that waited for it can go. */
    interface Learned {
        void learned(VirtualNetwork net, long mac, long now);
    }

    private final AgentConfig config;
    private final int self;
    private final Underlay underlay;
    private final Seal seal;
    private final Counters counters;
    private final BoardCalls calls;
    private final Int2ObjectHashMap<VirtualNetwork> networks;
    private final Wire.Clock clock;
    private final long retryNanos;
    /** Where each VM was learned to be, newest last: for migration timelines. */
    final LocationLog locations = new LocationLog();
    private final Long2LongHashMap lookupsPending = new Long2LongHashMap(Long.MIN_VALUE);
    private Learned learned;
    private Records records = (net, r, newer, first, now) -> {};
    private Consumer<HostRecord> keysLearned = host -> {};
    private Runnable earlierProcessSeen = () -> {};
    private long lastHeartbeat;
    private boolean heartbeatOutstanding;
    private long lastResync;
    private long lastHostListing;
    private long unknownHostsSeen;

    BoardSync(AgentConfig config, Underlay underlay, Seal seal, BoardClient client, Counters counters, long incarnation,
              Int2ObjectHashMap<VirtualNetwork> networks, Wire.Clock clock) {
        this.config = config;
        this.self = config.hostId();
        this.underlay = underlay;
        this.seal = seal;
        this.counters = counters;
        this.networks = networks;
        this.clock = clock;
        this.retryNanos = config.retryMillis() * MS;
        this.calls = new BoardCalls(client, counters, self, incarnation, retryNanos);
    }

    void learned(Learned learned) {
        this.learned = learned;
    }

    /**
     * Told of every record the board shows this agent; {@code newer}: newer than the cache's;
     * {@code first}: in the first snapshot this process got of the VNI, which shows what an earlier
     * process of this agent left behind.
     */
    interface Records {
        void seen(VirtualNetwork net, NodeRecord r, boolean newer, boolean first, long now);
    }

    void records(Records records) {
        this.records = records;
    }

    /** Any request, resent until answered; {@code onAnswer} runs once, on the agent's thread. */
    void call(LongFunction<BoardRequest> make, Consumer<BoardResponse> onAnswer, long now) {
        calls.call(make, onAnswer, now);
    }

    void start(long now) {
        lastHeartbeat = now;
        lastResync = now;
        registerThenWatch(now);
    }

    /**
     * Registers, then watches once the board has answered: a board refuses a Watch from a host it
     * does not know (it could not push to it), and a refused Watch would wait a retry interval.
     */
    void registerThenWatch(long now) {
        calls.call(id -> new BoardRequest.RegisterHost(id, self, config.endpoint(), config.vnis(), config.leaseMillis(),
                        seal.publicKey()),
                r -> watch(clock.now()), now);
        listHosts(now);
    }

    /** Where the other agents are; later registrations arrive as HostChanged pushes. */
    private void listHosts(long now) {
        lastHostListing = now;
        calls.call(BoardRequest.ListHosts::new, r -> {
            if (r instanceof BoardResponse.Hosts hosts) {
                boolean earlierProcess = false;
                for (HostRecord h : hosts.hosts()) {
                    learnHost(h);
                    // This host, registered with another key: an earlier process of this agent, whose key the others may still seal to.
                    earlierProcess |= h.hostId() == self && h.sealed() && !h.underlayKey().equals(seal.publicKey());
                }
                if (earlierProcess) earlierProcessSeen.run();
            }
        }, now);
    }

    /** Watches every VNI served, from the version of its last snapshot. */
    void watch(long now) {
        for (VirtualNetwork net : networks.values()) {
            // One watch at a time per VNI: the outstanding one is resent until answered.
            if (net.watchOutstanding) continue;
            net.pages = null;
            watchPage(net, net.watchedVersion, null, now);
        }
    }

    /** One page of a VNI's snapshot; the answer asks for the next until the last has come. */
    private void watchPage(VirtualNetwork net, long since, VmKey after, long now) {
        net.watchOutstanding = calls.call(id -> new BoardRequest.Watch(id, self, net.vni, since, after), r -> {
            if (!(r instanceof BoardResponse.Snapshot s)) {
                net.watchOutstanding = false;
                return;
            }
            learnPage(net, s);
            if (s.next() != null) watchPage(net, since, s.next(), clock.now());
            else net.watchOutstanding = false;
        }, now);
    }

    /**
     * Takes in one page of a snapshot. The last page ends it: the VNI is watched from the first
     * page's version on (later pages are newer still), and a whole snapshot's absent records, older
     * than it, were forgotten by the board.
     */
    private void learnPage(VirtualNetwork net, BoardResponse.Snapshot s) {
        if (net.pages == null) net.pages = new VirtualNetwork.SnapshotPages(s.version(), s.whole());
        boolean first = !net.snapshotSeen;
        for (NodeRecord r : s.records()) {
            learn(net, r, first);
            if (net.pages.whole()) net.pages.seen().add(r.key().mac());
        }
        if (s.next() != null) return;
        VirtualNetwork.SnapshotPages pages = net.pages;
        net.pages = null;
        if (pages.whole()) net.cache.forgetAllBut(pages.seen(), pages.version());
        net.snapshotSeen = true;
        net.watchedVersion = Math.max(net.watchedVersion, pages.version());
    }

    void attach(VmKey key, Port port, boolean active, long now) {
        calls.call(id -> new BoardRequest.Attach(id, key, port.vmId(), port.ips(), self, active), r -> {}, now);
    }

    void detach(VmKey key, boolean standby, long now) {
        calls.call(id -> new BoardRequest.Detach(id, key, self, standby), r -> {}, now);
    }

    /** Asks where a VM is, at most once per retry interval. */
    void lookup(VirtualNetwork net, long mac, long now) {
        long last = lookupsPending.get(mac);
        if (last != Long.MIN_VALUE && now - last < retryNanos) return;
        lookupsPending.put(mac, now);
        calls.call(id -> new BoardRequest.Lookup(id, new VmKey(net.vni, mac)), r -> {
            Location loc = net.cache.get(mac);
            // Not known yet (a VM being attached, a board that restarted): the frames wait, and the
            // timer asks again until their buffer time runs out.
            if (loc != null && loc.host != NodeRecord.NOWHERE) learned.learned(net, mac, clock.now());
        }, now);
    }

    void onResponse(BoardResponse response) {
        // A snapshot is taken in by its watch's answer, page by page.
        if (response instanceof BoardResponse.Ok ok && ok.record() != null) {
            VirtualNetwork net = networks.get(ok.record().key().vni());
            if (net != null) {
                learn(net, ok.record(), false);
                lookupsPending.remove(ok.record().key().mac());
            }
        }
        calls.onResponse(response);
    }

    void onEvent(BoardEvent event) {
        switch (event) {
            case BoardEvent.Changed c -> {
                VirtualNetwork net = networks.get(c.record().key().vni());
                if (net != null) learn(net, c.record(), false);
            }
            case BoardEvent.LockWaiter w -> log.debug("agent {}: host {} waits behind migration {} of {}", self,
                    w.waitingHost(), w.migrationId(), w.key());
            case BoardEvent.HostChanged h -> learnHost(h.host());
        }
    }

    /** Where a host is and its underlay key: the endpoint first, so that what waited for the key can go. */
    private void learnHost(HostRecord h) {
        underlay.learnHost(h);
        if (seal.learn(h, clock.now())) keysLearned.accept(h);
    }

    /** Told when the board shows this host registered by an earlier process of this agent, with another key. */
    void earlierProcessSeen(Runnable earlierProcessSeen) {
        this.earlierProcessSeen = earlierProcessSeen;
    }

    /** Told of each host whose underlay key (or its absence) this agent learned anew. */
    void keysLearned(Consumer<HostRecord> keysLearned) {
        this.keysLearned = keysLearned;
    }

    private void learn(VirtualNetwork net, NodeRecord r, boolean first) {
        boolean newer = net.cache.update(r);
        if (newer && r.isAttached()) {
            locations.add(new LocationLog.Change(net.vni, r.key().mac(), r.hostId(), r.version(), clock.now()));
            net.hosts.add(r.hostId());
            learned.learned(net, r.key().mac(), clock.now());
        }
        records.seen(net, r, newer, first, clock.now());
    }

    /** Resends, heartbeats, periodic re-watches, and a new host listing when a datagram found no known host. */
    void tick(long now) {
        calls.tick(now);
        // One heartbeat at a time: while the board is away they would only pile up.
        if (now - lastHeartbeat >= config.leaseMillis() * MS / 3 && !heartbeatOutstanding) {
            lastHeartbeat = now;
            heartbeatOutstanding = calls.call(id -> new BoardRequest.Heartbeat(id, self), r -> heartbeatOutstanding = false, now);
        }
        if (now - lastResync >= config.resyncMillis() * MS) {
            lastResync = now;
            watch(now);
        }
        // A push can be missed (a host that registered while this agent was connecting): sending to
        // a host whose endpoint is not known here asks the board again, at most once per retry.
        // So does a host whose key is not known here, or not the one it seals with now (it restarted).
        long unknown = underlay.unknownHosts() + counters.get(Counter.KEY_WAITED)
                + counters.get(Counter.DROP_SEAL_STALE_KEY) + counters.get(Counter.DROP_UNKNOWN_PEER);
        if (unknown != unknownHostsSeen && now - lastHostListing >= config.retryMillis() * MS) {
            unknownHostsSeen = unknown;
            listHosts(now);
        }
    }

    /** Only rate-limits: forgetting costs at most one more look-up. */
    void forgetLookups() {
        lookupsPending.clear();
    }

    int outstanding() {
        return calls.outstanding();
    }
}
