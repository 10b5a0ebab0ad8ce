package dev.ferry.agent;

import dev.ferry.board.BoardClient;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.VmKey;
import dev.ferry.agent.seal.Seal;
import dev.ferry.agent.seal.SealKey;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.Geneve;
import dev.ferry.wire.GeneveFrame;
import dev.ferry.wire.Malformed;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.agrona.collections.Int2ObjectHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The data forwarding component of one host: the entry point of everything that happens to an
 * agent. Every method runs on the agent's single event-loop thread (a runner posts commands to
 * it); no state here is shared, so nothing here locks.
 *
 * <p>The concerns are each a class of their own, wired here: {@link Ingress} classifies what
 * arrives for this host's VMs (design §6.2), {@link Egress} sends what they send, {@link Markers}
 * keeps every stream in order across a change of path (§6.5), {@link Migrations} is the migration
 * state machine (§6.3, §6.6) — or, in the demo's baselines, {@link NaiveMode} and {@link EagerMode}
 * stand in for it — and {@link BoardSync} talks to the board.
 */
public final class Agent implements Migrations.Ports {
    private static final Logger log = LoggerFactory.getLogger(Agent.class);
    private static final long MS = 1_000_000L;
    /** EtherType of a MARKER's inner frame: IEEE local experimental. */
    static final int MARKER_ETHERTYPE = Markers.MARKER_ETHERTYPE;
    /** How often rate-limit records (hints, look-ups) and consumed MARKER tokens are forgotten. */
    private static final long FORGET_NANOS = 10_000 * MS;

    private final AgentConfig config;
    private final int self;
    private final Counters counters = new Counters();
    private final Int2ObjectHashMap<VirtualNetwork> networks = new Int2ObjectHashMap<>();
    private final GeneveFrame rx = new GeneveFrame();
    private final Frame received = new Frame();
    private final Wire wire;
    private final Seal seal;
    private final KeyWait keyWait = new KeyWait(counters);
    /** A VNI each sealing host shares with this one, to greet it on; and when it was last greeted. */
    private final org.agrona.collections.Int2IntHashMap greetVni = new org.agrona.collections.Int2IntHashMap(-1);
    private final org.agrona.collections.Long2LongHashMap lastGreeting = new org.agrona.collections.Long2LongHashMap(Long.MIN_VALUE);
    private static final ControlMessage HELLO = new ControlMessage.Hello();
    private final BoardSync board;
    private final Markers markers;
    private final Ingress ingress;
    private final Egress egress;
    private final Migrations migrations;
    private final ModePolicy policy;
    /**
     * The time of the event being handled, for what runs inside it without a clock of its own:
     * board-call callbacks and control messages an agent sends itself.
     */
    private long lastNow;
    private long lastForget;
    private boolean started;

    /**
     * @param incarnation a number this process of the host draws at random (a simulation, from its
     *     seed): the board's request ids and MARKER tokens count up from it, so a restarted agent's
     *     ids meet none of its earlier process's and nobody else can guess them
     */
    public Agent(AgentConfig config, Underlay underlay, BoardClient boardClient, long incarnation) {
        this.config = config.validate();
        this.self = config.hostId();
        for (int vni : config.vnis()) {
            networks.put(vni, new VirtualNetwork(vni, config.mtuOf(vni), 30_000 * MS));
        }
        Wire.Clock clock = () -> lastNow;
        this.seal = new Seal(self, config.plaintextUnderlay() ? null : SealKey.generate(new java.security.SecureRandom()));
        this.wire = new Wire(self, underlay, seal, keyWait, counters, clock);
        this.board = new BoardSync(config, underlay, seal, boardClient, counters, incarnation, networks, clock);
        this.markers = new Markers(config, incarnation, counters, wire);
        ModePolicy baseline = switch (config.mode()) {
            case FERRY -> null;
            case NAIVE -> new NaiveMode(board, this);
            case EAGER -> new EagerMode(board, this);
        };
        boolean protocol = baseline == null;
        this.ingress = new Ingress(config, counters, wire, markers, board::lookup, protocol);
        this.egress = new Egress(config, counters, wire, markers, ingress, board, protocol);
        this.migrations = new Migrations(config, counters, wire, markers, ingress, egress, board, this, clock);
        this.policy = protocol ? migrations : baseline;
        markers.classifier(ingress);
        board.learned(egress::learned);
        board.keysLearned(this::keyLearned);
        board.earlierProcessSeen(this::greetEveryone);
        if (protocol) board.records(migrations::recordSeen);
        wire.loopback(this::onControl);
    }

    // ---------------------------------------------------------------- life cycle and ports

    /** Registers with the board and subscribes to the VNIs served. */
    public void start(long now) {
        lastNow = now;
        started = true;
        lastForget = now;
        board.start(now);
    }

    /**
     * After the connection to the board came back (the board may have restarted and lost its
     * state): registers again, attaches every local port again — active, or as a standby for a
     * paused incoming copy — asks again for the locks it held, and watches again. The board ignores
     * what it already has.
     */
    public void resynchronise(long now) {
        lastNow = now;
        board.registerThenWatch(now);
        for (VirtualNetwork net : networks.values()) migrations.resynchronise(net, now);
    }

    /** Plugs in a running VM's port and attaches it, active, at the board. */
    public LocalPort addPort(Port port, long now) {
        return addFoundPort(port, Found.RUNNING, now);
    }

    /** What a copy of a VM is doing when its port is plugged without a migration event. */
    public enum Found {
        /** Runs, and is not migrating out. */
        RUNNING,
        /** Runs, and is being migrated out (pre-copy). */
        MIGRATING_OUT,
        /** Stopped for its migration's last copy. */
        STOPPED
    }

    /**
     * Plugs in a copy of a VM as an agent that starts finds it: attached, active, if it runs. If this
     * agent's process restarted in the middle of the VM's migration, the board's lock shows it, and
     * the agent takes its part up again (design §6.8).
     */
    public LocalPort addFoundPort(Port port, Found found, long now) {
        lastNow = now;
        LocalPort lp = plug(port);
        policy.plugged(lp.net, lp, found, board, now);
        return lp;
    }

    /** Unplugs a port; with {@code detach} the board forgets this host's copy of the VM. */
    public void removePort(VmKey key, boolean detach, long now) {
        lastNow = now;
        unplug(key);
        if (detach && networks.get(key.vni()) != null) board.detach(key, false, now);
    }

    @Override
    public LocalPort plug(Port port) {
        VirtualNetwork net = network(port.key().vni());
        LocalPort lp = new LocalPort(port, net);
        LocalPort old = net.ports.put(lp.mac, lp);
        if (old != null) old.removed = true;
        return lp;
    }

    @Override
    public void unplug(VmKey key) {
        VirtualNetwork net = networks.get(key.vni());
        if (net == null) return;
        LocalPort lp = net.ports.remove(key.mac());
        if (lp != null) lp.removed = true;
    }

    private VirtualNetwork network(int vni) {
        VirtualNetwork net = networks.get(vni);
        if (net == null) {
            throw new IllegalArgumentException("VNI " + vni + " is not served by agent " + self + " (serves " + config.vnis() + ")");
        }
        return net;
    }

    // ---------------------------------------------------------------- what arrives

    /**
     * One datagram from the underlay, sent from the endpoint host {@code from} registered
     * ({@link Underlay#UNKNOWN_HOST}: an endpoint no host registered). It is opened (design §7b) before
     * anything reads it; a control message's origin is the host it authenticated as, never its header.
     * Never throws for what the datagram holds.
     */
    public void onUnderlay(int from, byte[] buf, int offset, int length, long now) {
        lastNow = now;
        counters.inc(Counter.UNDERLAY_IN);
        receive(from, buf, offset, length, now);
    }

    /** A datagram from host {@code from}, counted already: as it arrived, or once it waited for the host's key. */
    private void receive(int from, byte[] buf, int offset, int length, long now) {
        switch (seal.open(from, buf, offset, length)) {
            case OPENED -> {
                buf = seal.opened();
                offset = 0;
                length = seal.openedLength();
            }
            case PLAIN -> {}
            case UNKNOWN_PEER -> { counters.inc(Counter.DROP_UNKNOWN_PEER); return; }
            case UNSEALED -> { counters.inc(Counter.DROP_UNSEALED); return; }
            case UNKNOWN_KEY -> { keyWait.hold(from, true, buf, offset, length, now); return; }
            case STALE_KEY -> {
                counters.inc(Counter.DROP_SEAL_STALE_KEY);
                greet(from, now); // it seals to this agent's earlier process: tell it there is a new one
                return;
            }
            case FORGED -> { counters.inc(Counter.DROP_SEAL_FORGED); return; }
            case REPLAYED -> { counters.inc(Counter.DROP_SEAL_REPLAYED); return; }
        }
        Malformed bad = rx.wrap(buf, offset, length);
        if (bad != null) {
            counters.countMalformed(bad);
            return;
        }
        // What was not relayed names its sender as its origin; a relayed frame keeps its stream's.
        if (rx.hasFerryOption() && rx.origin() != from && !rx.hasFlag(Geneve.FLAG_FORWARDED)) {
            counters.inc(Counter.DROP_ORIGIN_MISMATCH);
            return;
        }
        VirtualNetwork net = networks.get(rx.vni());
        if (net == null) {
            counters.countMalformed(Malformed.UNKNOWN_VNI);
            return;
        }
        if (rx.protocol() == Geneve.PROTOCOL_FERRY_CONTROL) {
            ControlMessage m = rx.isControl() ? ControlCodec.decode(buf, rx.payloadOffset(), rx.payloadLength()) : null;
            if (m == null) {
                counters.countMalformed(Malformed.BAD_CONTROL);
                return;
            }
            counters.inc(Counter.CONTROL_IN);
            onControl(net, from, m, now);
            return;
        }
        Frame f = received.of(rx);
        if (Ethernet.isGroup(f.dst())) {
            counters.inc(Counter.BROADCAST_IN);
            if (f.has(Geneve.FLAG_FORWARDED)) {
                ingress.deliverRelayedBroadcast(net, f, now);
            } else {
                ingress.deliverBroadcast(net, f, null, now);
            }
            return;
        }
        ingress.classify(net, f, now);
    }

    /**
     * The board told this agent a host's new underlay key: what waited for it goes on, in order. The
     * VNI to greet it on, should it seal to an earlier process of this agent, is noted.
     */
    private void keyLearned(dev.ferry.board.HostRecord h) {
        int host = h.hostId();
        greetVni.remove(host);
        for (int vni : h.vnis()) {
            if (networks.containsKey(vni)) {
                greetVni.put(host, vni);
                break;
            }
        }
        for (KeyWait.Waiting w : keyWait.release(host)) {
            if (w.incoming()) {
                receive(host, w.datagram(), 0, w.datagram().length, lastNow);
            } else {
                wire.out(host, w.datagram(), w.datagram().length);
            }
        }
    }

    /**
     * This agent's earlier process registered another key: every host that knew it may seal to that
     * one still. Each is greeted, so that it asks the board for this process's key at once (§7b).
     */
    private void greetEveryone() {
        for (var it = greetVni.keySet().iterator(); it.hasNext(); ) greet(it.nextValue(), lastNow);
    }

    /** Sends {@code host} a HELLO, at most once per retry interval; only to a sealing host that shares a VNI. */
    private void greet(int host, long now) {
        if (!seal.sealing() || !greetVni.containsKey(host)) return;
        long last = lastGreeting.get(host);
        if (last != lastGreeting.missingValue() && now - last < config.retryMillis() * MS) return;
        lastGreeting.put(host, now);
        wire.sendControl(networks.get(greetVni.get(host)), host, HELLO);
    }

    private void onControl(VirtualNetwork net, int origin, ControlMessage m, long now) {
        if (log.isTraceEnabled()) log.trace("{} agent {} from {}: {}", Wire.ms(now), self, origin, m);
        switch (m) {
            case ControlMessage.Prepare p -> migrations.onPrepare(net, origin, p);
            case ControlMessage.PrepareAck a -> migrations.onPrepareAck(net, origin, a);
            case ControlMessage.Handover h -> migrations.onHandover(net, origin, h, now);
            case ControlMessage.HandoverAck a -> migrations.onHandoverAck(net, a, now);
            case ControlMessage.MarkerAck a -> markers.onAck(net, a);
            case ControlMessage.LocationHint h -> board.lookup(net, h.mac(), now);
            case ControlMessage.Hello h -> {} // its seal was the message: the key it opened under is known here now
        }
    }

    /** One frame sent by a local VM. */
    public void onPortFrame(LocalPort port, byte[] b, int off, int len, long now) {
        lastNow = now;
        counters.inc(Counter.PORT_IN);
        if (len < Ethernet.HEADER_LENGTH) {
            counters.inc(Counter.DROP_RUNT_FRAME);
            return;
        }
        if (len > port.maxFrame) {
            counters.inc(Counter.DROP_FRAME_TOO_LONG);
            return;
        }
        if (port.removed) {
            counters.inc(Counter.DROP_PORT_NOT_RUNNING);
            return;
        }
        if (port.policy.portSecurity()) {
            PortSecurity.Violation v = PortSecurity.check(port, b, off, len);
            if (v != null) {
                port.refused(v);
                counters.inc(v.counter);
                return;
            }
        }
        if (migrations.holdsEgress(port, b, off, len, now)) return;
        egress.send(port, b, off, len, now);
    }

    /** A migration step reported by a detector. */
    public void onEvent(MigrationEvent event, long now) {
        lastNow = now;
        if (log.isTraceEnabled()) log.trace("{} agent {} event {}", Wire.ms(now), self, event);
        policy.onEvent(network(event.vni()), event, now);
    }

    /** An answer from the board. */
    public void onBoardResponse(BoardResponse response, long now) {
        lastNow = now;
        board.onResponse(response);
    }

    /** A push from the board. */
    public void onBoardEvent(BoardEvent event, long now) {
        lastNow = now;
        board.onEvent(event);
    }

    // ---------------------------------------------------------------- time

    /** Timers: retries, bounded waits, grace periods, heartbeats. Call often (every millisecond or so). */
    public void tick(long now) {
        lastNow = now;
        if (!started) return;
        board.tick(now);
        markers.tick(now);
        keyWait.expire(now);
        boolean forget = now - lastForget > FORGET_NANOS;
        for (VirtualNetwork net : networks.values()) {
            egress.tick(net, now);
            migrations.tick(net, now);
            markers.releaseHeld(net, now);
            if (forget) net.order.forgetOld(now);
        }
        if (forget) {
            lastForget = now;
            ingress.forgetHints();
            board.forgetLookups();
        }
    }

    // ---------------------------------------------------------------- inspection

    public int hostId() { return self; }
    /** The underlay's seal: this boot's key, and what it knows of the other hosts'. */
    public Seal seal() { return seal; }
    public AgentConfig config() { return config; }
    public Counters counters() { return counters; }

    /** A port was unplugged with {@code frames} still waiting in its own queue for the VM: they are lost, so counted. */
    public void onPortUnplugged(int frames) {
        if (frames > 0) counters.add(Counter.DROP_PORT_UNPLUGGED, frames);
    }

    /** A VM's virtio ring started on a port of this host behind where its queue goes on (see {@link Counter#VM_RINGS_BEHIND}): counted. */
    public void onRingBehind() {
        counters.inc(Counter.VM_RINGS_BEHIND);
    }

    public Collection<VirtualNetwork> networks() {
        return networks.values();
    }

    /**
     * A vhost-user port's back-end saw the VM's rings start ({@code running}) or stop: QEMU's own
     * word, before its detector's event when the VM stops, before or after it when the VM resumes.
     * Marked on the VM's migration timeline only; the detector's events still drive the migration.
     */
    public void onRings(LocalPort port, boolean running, long now) {
        MigrationEntry e = port.net.migrations.get(port.mac);
        if (!running) {
            if (e != null && e.timeline != null && e.role() == MigrationEntry.Role.SOURCE) {
                e.timeline.mark(MigrationTimeline.Step.SOURCE_RINGS_STOPPED, now);
            }
            return;
        }
        MigrationTimeline.Record arriving = arriving(port, e);
        if (arriving != null) arriving.mark(MigrationTimeline.Step.DESTINATION_RINGS_STARTED, now);
    }

    /**
     * A vhost-user port wrote its first frame into the guest's receive ring since QEMU started the
     * ring: for a VM arriving here, where its gap ends inside the guest. Marked on its timeline only.
     */
    public void onFirstFrameInRing(LocalPort port, long now) {
        MigrationTimeline.Record arriving = arriving(port, port.net.migrations.get(port.mac));
        if (arriving == null) return;
        arriving.mark(MigrationTimeline.Step.FIRST_IN_RING, now);
        port.landed = null;
    }

    /** The timeline of the migration bringing the VM to {@code port}: its DESTINATION entry's, or the last one's that ended. */
    private static MigrationTimeline.Record arriving(LocalPort port, MigrationEntry e) {
        if (e != null) return e.role() == MigrationEntry.Role.DESTINATION ? e.timeline : null;
        return port.landed;
    }

    /** The handle of a plugged port (also of a standby copy the agent plugged itself), or null. */
    public LocalPort localPort(VmKey key) {
        VirtualNetwork net = networks.get(key.vni());
        return net == null ? null : net.ports.get(key.mac());
    }

    /** The VM's row of the migration table, or null. */
    public MigrationEntry migration(VmKey key) {
        VirtualNetwork net = networks.get(key.vni());
        return net == null ? null : net.migrations.get(key.mac());
    }

    /** Entries of every VNI's migration table. */
    public List<MigrationEntry> migrations() {
        List<MigrationEntry> out = new ArrayList<>();
        for (VirtualNetwork net : networks.values()) out.addAll(net.migrations.entries());
        return out;
    }

    /** The newest changes to where this agent sends each VM's frames (a copy; agent's thread only). */
    public List<LocationLog.Change> locationChanges() {
        return board.locations.changes();
    }

    /** The newest migrations' steps as this agent saw them (a copy; agent's thread only). */
    public List<MigrationTimeline.Past> migrationHistory() {
        return migrations.timeline.history();
    }

    /** Where this agent believes the VM is (its location cache), or null. */
    public Location location(VmKey key) {
        return locate(key.vni(), key.mac());
    }

    /** Where this agent believes the VM is, or null. */
    public Location locate(int vni, long mac) {
        VirtualNetwork net = networks.get(vni);
        return net == null ? null : net.cache.get(mac);
    }

    /**
     * Frames this agent keeps now, wherever: migration buffers and egress holds (every entry of every
     * chain), frames held behind MARKERs, frames waiting for a look-up, local migrations' holds,
     * datagrams waiting for a host's key.
     * What a process that dies loses with it.
     */
    public long framesHeld() {
        long n = 0;
        for (VirtualNetwork net : networks.values()) {
            for (MigrationEntry top : net.migrations.entries()) {
                for (MigrationEntry e = top; e != null; e = e.outgoing) n += e.buffered() + e.egressHeld();
            }
            n += net.order.heldFrames();
            for (var waiting : net.awaitingLookup.values()) n += waiting.stream().filter(w -> w.frame() != null).count();
            for (LocalPort p : net.localMigrations.values()) n += p.local.heldFrames();
        }
        return n + keyWait.size();
    }

    public int outstandingBoardCalls() {
        return board.outstanding();
    }
}
