package dev.ferry.agent;

import dev.ferry.agent.MigrationEntry.Phase;
import dev.ferry.agent.MigrationEntry.Role;
import dev.ferry.agent.MigrationEntry.SentMarker;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardRequest.Outcome;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.VmKey;
import dev.ferry.wire.ControlCodec;
import dev.ferry.wire.ControlMessage;
import dev.ferry.wire.ControlMessage.StreamToken;
import dev.ferry.wire.Ethernet;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The migration state machine of design §6.3 and §6.6: every method is a transition, started by a
 * detector's event, a peer's control message, a board answer or a timer. The entries
 * ({@link MigrationEntry}) hold the state; this class moves them. Agent's thread only.
 */
final class Migrations implements ModePolicy {
    private static final Logger log = LoggerFactory.getLogger(Migrations.class);
    private static final long MS = 1_000_000L;

    /** What the state machine needs of the port table (plugging a standby's port). */
    interface Ports {
        LocalPort plug(Port port);

        void unplug(VmKey key);
    }

    private final int self;
    private final AgentConfig config;
    private final Counters counters;
    private final Wire wire;
    private final Markers markers;
    private final Ingress ingress;
    private final Egress egress;
    private final BoardSync board;
    private final Ports ports;
    private final Wire.Clock clock;
    private final long retryNanos;
    /** Every migration's steps, as this agent sees them (issue 15). */
    final MigrationTimeline timeline = new MigrationTimeline();

    Migrations(AgentConfig config, Counters counters, Wire wire, Markers markers, Ingress ingress, Egress egress,
               BoardSync board, Ports ports, Wire.Clock clock) {
        this.self = config.hostId();
        this.config = config;
        this.counters = counters;
        this.wire = wire;
        this.markers = markers;
        this.ingress = ingress;
        this.egress = egress;
        this.board = board;
        this.ports = ports;
        this.clock = clock;
        this.retryNanos = config.retryMillis() * MS;
    }

    private MigrationEntry newSource(long migrationId, VmKey key, long now) {
        MigrationEntry e = MigrationEntry.source(migrationId, key, now);
        e.timeline = timeline.begin(migrationId, key, Role.SOURCE, now);
        return e;
    }

    private MigrationEntry newDestination(long migrationId, VmKey key, long now) {
        MigrationEntry e = MigrationEntry.destination(migrationId, key, now);
        e.timeline = timeline.begin(migrationId, key, Role.DESTINATION, now);
        return e;
    }

    @Override public boolean relaysStaleFrames() { return true; }
    @Override public boolean marksPathChanges() { return true; }

    // ------------------------------------------------------------ detectors' events

    @Override
    public void onEvent(VirtualNetwork net, MigrationEvent event, long now) {
        VmKey key = new VmKey(event.vni(), event.mac());
        MigrationEntry e = net.migrations.get(event.mac());
        LocalPort here = net.ports.get(event.mac());
        if (here != null && here.local != null && here.local.migrationId == event.migrationId()) {
            local(net, here, event, now);
            return;
        }
        if (event instanceof MigrationEvent.StandbyAppeared s && runsHere(here, e)) {
            startLocal(net, here, s);
            return;
        }
        switch (event) {
            case MigrationEvent.StandbyAppeared s -> standbyAppeared(net, key, e, s, now);
            case MigrationEvent.Started s -> {
                if (e == null) {
                    startSource(net, key, net.ports.get(key.mac()), s.migrationId(), null, now);
                } else if (e.role == Role.DESTINATION && e.is(Phase.RESUMED)) {
                    // Leaving again before its HANDOVER_ACK named its streams: started when it comes.
                    e.deferredStart = s.migrationId();
                }
            }
            case MigrationEvent.SourceStopped s -> {
                if (e != null && e.role == Role.SOURCE && e.migrationId == s.migrationId() && e.is(Phase.PRECOPY)) {
                    sourceStopped(net, e, now);
                } else if (e != null && e.role == Role.DESTINATION && e.deferredStart == s.migrationId()) {
                    e.deferredStopped = true;
                    e.append(net.order.takeHeldFor(e.key.mac()));
                }
            }
            case MigrationEvent.DestinationResumed r -> {
                if (e != null && e.role == Role.DESTINATION && e.migrationId == r.migrationId() && e.is(Phase.INCOMING)) {
                    destinationResumed(net, e, now);
                }
            }
            case MigrationEvent.Aborted a -> aborted(net, e, a.migrationId(), now);
            case MigrationEvent.StandbyGone g -> {
                if (e != null && e.role == Role.DESTINATION && e.migrationId == g.migrationId()) {
                    net.migrations.remove(e);
                    e.timeline.end("aborted", now);
                    if (e.outgoing != null) net.migrations.put(e.outgoing);
                }
                ports.unplug(key);
                board.detach(key, true, now);
            }
            case MigrationEvent.SourceGone g -> ports.unplug(key);
        }
    }

    // ------------------------------------------------------------ an agent that restarted (§6.8)

    /**
     * A port plugged without a migration event, as an agent that starts finds its VMs. If the board
     * shows the VM's record locked by a migration, this agent's process restarted in the middle of
     * it and lost its entries: it takes its part up again from what the lock and the copy say.
     */
    @Override
    public void plugged(VirtualNetwork net, LocalPort port, Agent.Found found, BoardSync sync, long now) {
        VmKey key = port.key();
        boolean running = found != Agent.Found.STOPPED;
        // A stopped copy does not run: the VM is, or is about to be, elsewhere.
        if (!running) port.departed = true;
        board.call(id -> running ? new BoardRequest.Attach(id, key, port.port.vmId(), port.port.ips(), self, true)
                : new BoardRequest.Lookup(id, key), r -> {
            NodeRecord record = switch (r) {
                case BoardResponse.Ok ok -> ok.record();
                case BoardResponse.Queued q -> q.record();
                case BoardResponse.Refused f -> f.record();
                default -> null;
            };
            if (record == null || !record.isLocked() || net.ports.get(port.mac) != port || net.migrations.get(port.mac) != null) {
                return;
            }
            long migrationId = record.lock().migrationId();
            int owner = record.lock().owner();
            long at = clock.now();
            if (owner == self) {
                MigrationEntry source = resumeSource(net, port, migrationId, found, record.version(), at);
                // It runs and does not migrate out: the VM left and came back meanwhile.
                if (found == Agent.Found.RUNNING) cameBack(net, port, source, at);
            } else if (running && record.hostId() == owner) {
                resumeDestination(net, port, migrationId, owner, at);
            }
        }, now);
    }

    /**
     * This host's migration out of the VM, whose lock it still holds: a SOURCE again, pre-copying if
     * the copy is migrating out, else stopped (buffering). The destination's HANDOVER finds it as
     * before, or an abort the detector reports ends it.
     */
    private MigrationEntry resumeSource(VirtualNetwork net, LocalPort port, long migrationId, Agent.Found found, long version,
                                        long now) {
        log.warn("agent {}: taking up migration {} of {} again after a restart (the copy here {})", self, migrationId, port.key(),
                found.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '));
        MigrationEntry e = newSource(migrationId, port.key(), now);
        e.port = port;
        e.lockHeld = true;
        e.residentVersion = version;
        net.migrations.put(e);
        if (found != Agent.Found.MIGRATING_OUT) sourceStopped(net, e, now);
        return e;
    }

    /**
     * The VM runs here again after the migration out this host still holds the lock of: its return
     * resumed while this agent was down. Its entry is that of a return (design §6.6) whose source it
     * learns once the migration out has handed over and the record points there.
     */
    private void cameBack(VirtualNetwork net, LocalPort port, MigrationEntry source, long now) {
        net.migrations.remove(source);
        MigrationEntry d = newDestination(0, port.key(), now);
        d.outgoing = source;
        d.port = port;
        net.migrations.put(d);
        destinationResumed(net, d, now);
    }
    /**
     * A running copy of a VM whose record still points at the host that locked it for a migration:
     * this host is that migration's destination, its copy has resumed, and its entry was lost. It
     * asks for the hand-over again.
     */
    private void resumeDestination(VirtualNetwork net, LocalPort port, long migrationId, int source, long now) {
        log.warn("agent {}: taking up migration {} of {} from host {} again after a restart", self, migrationId, port.key(), source);
        MigrationEntry d = newDestination(migrationId, port.key(), now);
        d.port = port;
        d.peer = source;
        d.peerConfirmed = true;
        net.migrations.put(d);
        destinationResumed(net, d, now);
    }

    /**
     * What the board shows of a VM: a lock of this host's when this process first looks (left by
     * the process before it, if no entry knows it), or a VM said to be elsewhere.
     */
    void recordSeen(VirtualNetwork net, NodeRecord r, boolean newer, boolean first, long now) {
        if (r.isLocked() && r.lock().owner() == self) {
            if (first) {
                lockedHere(net, r, now);
            } else {
                // Not only newer records: a lock granted or released leaves the record's version as it was.
                lockedAgain(net, r, now);
            }
        } else if (newer && r.isAttached() && r.hostId() != self) {
            movedAway(net, r, now);
        }
    }

    /**
     * The board says a VM is elsewhere while it runs here, and no migration of it is under way
     * here: the board was told otherwise by a host that lost track (an agent restarted mid-migration
     * or reported its copy running after its source went quiet, design §6.8). The copy that runs
     * tells the board again; if a migration's lock holds the record, its source hands over to it.
     */
    private void movedAway(VirtualNetwork net, NodeRecord r, long now) {
        LocalPort p = net.ports.get(r.key().mac());
        if (p == null || p.removed || p.departed || net.migrations.get(p.mac) != null || net.returned.get(p.mac) != null
                || p.local != null && !p.local.ended()) {
            return;
        }
        // Usually a push older than this host's own attach, still on its way: attaching again changes nothing then.
        log.debug("agent {}: the board says {} is on host {}, but it runs here with no migration under way; attaching it again",
                self, r.key(), r.hostId());
        board.attach(p.key(), p.port, true, now);
    }

    /** A lock of this host's: one of a migration no entry here knows is watched, and released if it stays so. */
    private void lockedHere(VirtualNetwork net, NodeRecord r, long now) {
        long mac = r.key().mac();
        if (net.knows(mac, r.lock().migrationId()) || net.orphanLocks.containsKey(mac)) return;
        net.orphanLocks.put(mac, new long[] {r.lock().migrationId(), now});
    }

    /**
     * A record shows a lock of this host's for a migration whose source here has handed over and
     * whose unlock the board has answered: maybe a record from before the unlock applied, or maybe a
     * late copy of its LockRecord reached a board that had forgotten the first (one restarted in
     * memory) and was granted again after the unlock. Nobody else would release that one, and the
     * VM's next migration would wait behind it for ever (dangerous seed 306,351). Unlocking a lock
     * that is not there, or not that migration's, changes nothing, so the first case costs one request.
     */
    private void lockedAgain(VirtualNetwork net, NodeRecord r, long now) {
        long migrationId = r.lock().migrationId();
        MigrationEntry e = net.entry(r.key().mac(), migrationId);
        if (e == null || e.role != Role.SOURCE || !e.unlocked || now - e.unlockedAgainAt < retryNanos) return;
        e.unlockedAgainAt = now;
        log.debug("agent {}: the board shows migration {}'s lock of {} after its hand-over; releasing it (again)", self, migrationId, r.key());
        board.call(id -> new BoardRequest.Unlock(id, r.key(), migrationId, Outcome.COMPLETED), x -> {}, now);
    }

    /**
     * Half a lease after it was seen, a lock of this host's that no entry here knows was left by this
     * agent's process that died: the VM has left (its migration went on without the agent; a copy
     * here now is a standby of its return), so it is released as COMPLETED and the destination's
     * queued attach applies. The heartbeats of this process would otherwise renew it for ever. A VM
     * that still runs or is stopped here takes its migration up again instead ({@link #plugged}).
     */
    private void releaseOrphanLocks(VirtualNetwork net, long now) {
        for (var it = net.orphanLocks.entrySet().iterator(); it.hasNext(); ) {
            var o = it.next();
            long mac = o.getKey();
            long migrationId = o.getValue()[0];
            if (now - o.getValue()[1] < config.leaseMillis() * MS / 2) continue;
            // A copy plugged here with no entry yet: the lock decides what it takes up; wait for that.
            if (net.ports.containsKey(mac) && net.migrations.get(mac) == null && !net.knows(mac, migrationId)) continue;
            it.remove();
            if (net.knows(mac, migrationId)) continue;
            VmKey key = new VmKey(net.vni, mac);
            log.warn("agent {}: releasing the lock of migration {} of {} left by this agent's previous process", self, migrationId, key);
            board.call(id -> new BoardRequest.Unlock(id, key, migrationId, Outcome.COMPLETED), r -> {}, now);
        }
    }

    // ------------------------------------------------------------ a migration within this host (§6.7)

    /** The VM runs on this host's port: no migration takes it away, and it is not a copy that has left. */
    private static boolean runsHere(LocalPort port, MigrationEntry e) {
        if (port == null || port.removed || port.departed) return false;
        return e == null || e.role == Role.DESTINATION && e.ownsVm() && e.deferredStart == 0;
    }

    private void startLocal(VirtualNetwork net, LocalPort port, MigrationEvent.StandbyAppeared s) {
        port.local = new LocalMigration(s.migrationId(), s.port());
        net.localMigrations.put(port.mac, port);
    }

    /**
     * A step of a migration between two copies on this host: nobody else takes part, the port holds
     * the VM's frames while neither copy runs and switches to the new copy when it resumes.
     */
    private void local(VirtualNetwork net, LocalPort port, MigrationEvent event, long now) {
        LocalMigration m = port.local;
        if (m.ended()) {
            // Late or repeated steps of a migration that ended are ignored; a new standby starts the next one.
            if (event instanceof MigrationEvent.StandbyAppeared s && s.port() != port.port) startLocal(net, port, s);
            return;
        }
        switch (event) {
            case MigrationEvent.StandbyAppeared s -> { }
            case MigrationEvent.Started s -> { }
            case MigrationEvent.SourceStopped s -> {
                if (!m.holding()) stopLocal(port, m, now);
            }
            case MigrationEvent.DestinationResumed r -> {
                if (!m.holding()) stopLocal(port, m, now);
                port.port = m.standby;
                counters.inc(Counter.MIGRATIONS_COMPLETED);
                endLocal(net, port, m, now);
            }
            // The old copy runs again (Aborted), or the new one is gone (StandbyGone): either way the old one has it.
            case MigrationEvent.Aborted a -> abortLocal(net, port, m, now);
            case MigrationEvent.StandbyGone g -> abortLocal(net, port, m, now);
            case MigrationEvent.SourceGone g -> { }
        }
    }

    private void abortLocal(VirtualNetwork net, LocalPort port, LocalMigration m, long now) {
        counters.inc(Counter.MIGRATIONS_ABORTED);
        endLocal(net, port, m, now);
    }

    /** The old copy stopped: what it was given and never read leads what waits for the new one. */
    private void stopLocal(LocalPort port, LocalMigration m, long now) {
        m.stop();
        List<byte[]> unread = new ArrayList<>();
        port.port.takeBackUnread(unread::add);
        m.holdFirst(unread, now);
        counters.add(Counter.TAKEN_BACK, unread.size());
    }

    /**
     * Hands what waited to the copy that runs now. The ended migration stays on the port: the steps
     * still to come for it (the old copy gone, the standby gone) must not unplug the VM's port.
     */
    private void endLocal(VirtualNetwork net, LocalPort port, LocalMigration m, long now) {
        net.localMigrations.remove(port.mac);
        for (Held h : m.release()) ingress.deliverToPort(port, h.frame(), 0, h.frame().length, now);
    }

    /** design §6.3 step 1; also the VM coming back to a host whose copy of it has left (§6.6). */
    private void standbyAppeared(VirtualNetwork net, VmKey key, MigrationEntry e, MigrationEvent.StandbyAppeared s, long now) {
        LocalPort port = ports.plug(s.port());
        boolean returning = e != null && e.hasLeft();
        if (e != null && !returning) return;
        MigrationEntry d = newDestination(s.migrationId(), key, now);
        d.outgoing = e;
        d.port = port;
        net.migrations.put(d);
        board.call(id -> new BoardRequest.Attach(id, key, s.port().vmId(), s.port().ips(), self, false), r -> {
            if (r instanceof BoardResponse.Ok ok && ok.record() != null && ok.record().isAttached()
                    && ok.record().hostId() != self && net.incoming(key.mac(), d.migrationId) == d) {
                if (!d.peerConfirmed) d.peer = ok.record().hostId();
                wire.sendControl(net, d.peer, new ControlMessage.Prepare(d.migrationId, key.mac()));
                d.timeline.mark(MigrationTimeline.Step.PREPARE_SENT, clock.now());
            }
        }, now);
    }

    /** design §6.3 step 4: a paused copy that speaks, or is said to run, has resumed. */
    void destinationResumed(VirtualNetwork net, MigrationEntry e, long now) {
        e.moveTo(Phase.RESUMED);
        e.resumedAt = now;
        e.lastRetryAt = now;
        e.timeline.mark(MigrationTimeline.Step.DESTINATION_RESUMED, now);
        LocalPort here = net.portOf(e);
        if (here != null) {
            here.arrival = e.timeline;
            here.landed = e.timeline;
        }
        if (e.peer != 0) {
            wire.sendControl(net, e.peer, new ControlMessage.Handover(e.migrationId, e.key.mac()));
            e.timeline.mark(MigrationTimeline.Step.HANDOVER_SENT, now);
        }
        ingress.flushLocally(net, e, now);
    }

    private void aborted(VirtualNetwork net, MigrationEntry e, long migrationId, long now) {
        if (e != null && e.role == Role.DESTINATION && e.deferredStart == migrationId) {
            // Aborted before it could start: the VM goes on running here.
            e.deferredStart = 0;
            e.deferredStopped = false;
            ingress.flushLocally(net, e, now);
            counters.inc(Counter.MIGRATIONS_ABORTED);
            return;
        }
        if (e == null || e.role != Role.SOURCE || e.migrationId != migrationId || e.is(Phase.HANDED_OVER)) return;
        net.migrations.remove(e);
        e.aborted = true;
        e.timeline.end("aborted", now);
        counters.inc(Counter.MIGRATIONS_ABORTED);
        ingress.flushLocally(net, e, now);
        unlockAborted(e, now);
    }

    /** A migration out; {@code newer} is the entry of the VM's return here, if it came back before this one began. */
    private MigrationEntry startSource(VirtualNetwork net, VmKey key, LocalPort port, long migrationId, MigrationEntry newer,
                                       long now) {
        MigrationEntry src = newSource(migrationId, key, now);
        src.port = port;
        if (newer == null) {
            net.migrations.put(src);
        } else {
            newer.outgoing = src;
        }
        requestLock(net, src, now);
        return src;
    }

    void requestLock(VirtualNetwork net, MigrationEntry e, long now) {
        e.timeline.mark(MigrationTimeline.Step.LOCK_ASKED, now);
        board.call(id -> new BoardRequest.LockRecord(id, e.key, e.migrationId, self, config.leaseMillis()), r -> {
            if (e.aborted && r instanceof BoardResponse.Ok) {
                // Granted after the migration was aborted (the unlock overtook it): release it again.
                unlockAborted(e, clock.now());
                return;
            }
            if (net.source(e.key.mac(), e.migrationId) != e) return;
            if (r instanceof BoardResponse.Ok ok) {
                e.lockHeld = true;
                e.timeline.mark(MigrationTimeline.Step.LOCK_GRANTED, clock.now());
                if (ok.record() != null) e.residentVersion = ok.record().version();
                maybeHandOver(net, e, clock.now());
            } else {
                // Still held by the previous migration, or the record does not point here yet.
                e.lockRetryAt = clock.now() + retryNanos;
                if (r instanceof BoardResponse.Refused f && f.record() != null && !f.record().isLocked()
                        && f.record().isAttached() && f.record().hostId() != self && e.port != null) {
                    // Unlocked, yet pointing elsewhere while the VM is here to be migrated: this host's
                    // own attach is still on its way (then this one changes nothing), or a late resend
                    // of another host's attach landed after the hand-over (design §10.11).
                    log.debug("agent {}: the board says {} is on host {} while it migrates out of here; attaching it again",
                            self, e.key, f.record().hostId());
                    board.attach(e.key, e.port.port, true, clock.now());
                }
            }
        }, now);
    }

    private void unlockAborted(MigrationEntry e, long now) {
        board.call(id -> new BoardRequest.Unlock(id, e.key, e.migrationId, Outcome.ABORTED), r -> {}, now);
    }

    /**
     * design §6.3 step 3: buffer from now on, and end each of the VM's own streams with a MARKER on
     * the path it took, whose tokens the destination will flag its first frames with.
     */
    private void sourceStopped(VirtualNetwork net, MigrationEntry e, long now) {
        e.moveTo(Phase.STOPPED);
        e.stoppedAt = now;
        e.timeline.mark(MigrationTimeline.Step.SOURCE_STOPPED, now);
        // Frames held here for the VM are older than any that will be buffered: they lead the buffer.
        e.append(net.order.takeHeldFor(e.key.mac()));
        takeBackUnread(net, e, now);
        LocalPort port = e.port;
        if (port == null) return;
        for (OutStream s : port.streams.values()) {
            if (s.hostUsed == OutStream.UNSET || net.awaitingLookup.containsKey(s.dst)) continue;
            long token = markers.nextToken();
            e.streams.add(new StreamToken(s.dst, token));
            e.unackedMarkers.put(token, new SentMarker(port.mac, s.dst, s.hostUsed, token, s.awaitToken, s.versionUsed));
            markers.send(net, s.hostUsed, port.mac, s.dst, token, s.awaitToken, s.versionUsed, now);
        }
        // Streams whose first frames still wait for a look-up: their MARKER waits behind them.
        for (long dst : new ArrayList<>(net.awaitingLookup.keySet())) {
            if (net.awaitingLookup.get(dst).stream().anyMatch(w -> w.port() == port)) {
                long token = markers.nextToken();
                e.streams.add(new StreamToken(dst, token));
                egress.queueMarkerBehindLookup(net, port, dst, token, now);
            }
        }
    }

    /**
     * Frames the source's port gave the VM that the paused VM never read (they waited in the
     * hypervisor's socket, see {@link Port#takeBackUnread}): they go to the VM's new place ahead of
     * everything buffered, being older. Runs when the source stops, whichever way it learns it.
     */
    private void takeBackUnread(VirtualNetwork net, MigrationEntry e, long now) {
        if (e.port == null) return;
        List<byte[]> unread = new ArrayList<>();
        e.port.port.takeBackUnread(unread::add);
        List<Held> older = new ArrayList<>(unread.size());
        for (byte[] f : unread) {
            // The host that sent it, as far as this agent knows: its sender's location.
            long src = Ethernet.src(f, 0);
            Location from = net.cache.get(src);
            int origin = from != null && from.host != NodeRecord.NOWHERE && !net.ports.containsKey(src) ? from.host : self;
            older.add(new Held(f, origin, 0, 0, 0, 0, now));
        }
        e.keepFirst(older);
        counters.add(Counter.TAKEN_BACK, unread.size());
    }

    // ------------------------------------------------------------ peers' control messages

    /**
     * Only the real source answers: a host the record pointed at earlier stays silent. A PREPARE
     * without an id (a standby plugged without one) learns the source's, but only from a migration
     * not already promised to another destination: in a quick chain the record may still name an
     * earlier source, whose VM went elsewhere.
     */
    void onPrepare(VirtualNetwork net, int origin, ControlMessage.Prepare p) {
        MigrationEntry e = p.migrationId() != 0 ? net.source(p.mac(), p.migrationId()) : net.ongoingSource(p.mac());
        if (e != null && p.migrationId() == 0 && e.peer != 0 && e.peer != origin) e = null;
        if (e == null && p.migrationId() == 0 && log.isDebugEnabled()) {
            log.debug("agent {}: PREPARE without an id from {} for {} left unanswered; entry here: {}", self, origin,
                    Ethernet.format(p.mac()), net.migrations.get(p.mac()));
        }
        if (e != null) {
            e.peer = origin;
            e.timeline.mark(MigrationTimeline.Step.PREPARE_RECEIVED, clock.now());
            wire.sendControl(net, origin, new ControlMessage.PrepareAck(e.migrationId, p.mac()));
        }
    }

    void onPrepareAck(VirtualNetwork net, int origin, ControlMessage.PrepareAck a) {
        MigrationEntry e = net.incoming(a.mac(), a.migrationId());
        if (e == null) e = net.incoming(a.mac(), 0);
        if (e != null) {
            e.migrationId = a.migrationId();
            e.timeline.migrationId = a.migrationId();
            e.peer = origin;
            e.peerConfirmed = true;
        }
    }

    void onHandover(VirtualNetwork net, int from, ControlMessage.Handover h, long now) {
        MigrationEntry e = net.source(h.mac(), h.migrationId());
        if (e == null) {
            log.debug("agent {}: HANDOVER for unknown migration {} of {}", self, h.migrationId(), Ethernet.format(h.mac()));
            return;
        }
        e.peer = from;
        e.handoverAsked = true;
        e.timeline.mark(MigrationTimeline.Step.HANDOVER_RECEIVED, now);
        // The destination runs, so the source has stopped even if its event has not reached us.
        if (e.is(Phase.PRECOPY)) sourceStopped(net, e, now);
        maybeHandOver(net, e, now);
    }

    /**
     * A source stopped for half a lease whose destination never asked for the hand-over: if another
     * host has told the board that the VM runs there (its attach waits behind this lock), that host
     * lost its part of the migration (its agent restarted, design §6.8) or took the VM on elsewhere,
     * and the VM runs there: the buffer goes there and the lock is released, which applies its attach.
     */
    private void handOverToClaimant(VirtualNetwork net, MigrationEntry e, long now) {
        if (now - e.claimantAskedAt < 2 * retryNanos) return;
        e.claimantAskedAt = now;
        board.call(id -> new BoardRequest.Lookup(id, e.key), r -> {
            if (!(r instanceof BoardResponse.Ok ok) || ok.record() == null || !ok.record().isLocked()
                    || ok.record().lock().migrationId() != e.migrationId || e.handoverAsked || !e.is(Phase.STOPPED)) {
                return;
            }
            for (var p : ok.record().pending()) {
                if (p instanceof dev.ferry.board.PendingUpdate.Attach a && a.hostId() != self) {
                    log.warn("agent {}: migration {} of {}: the destination never asked for the hand-over, host {} says the VM"
                            + " runs there; handing over to it", self, e.migrationId, e.key, a.hostId());
                    e.peer = a.hostId();
                    e.handoverAsked = true;
                    maybeHandOver(net, e, clock.now());
                    return;
                }
            }
        }, now);
    }

    /** design §6.3 step 5, once the destination asked and the lock is held. */
    private void maybeHandOver(VirtualNetwork net, MigrationEntry e, long now) {
        if (!e.handoverAsked) return;
        if (e.is(Phase.STOPPED) && e.lockHeld) {
            // Frames still waiting here for a MARKER wait at the destination now, behind the buffer.
            e.append(net.order.takeHeldFor(e.key.mac()));
            Frame f = new Frame();
            for (Held h : e.takeBuffer()) {
                wire.relay(net, e.peer, f.of(h), e.migrationId);
                e.relayed++;
            }
            e.consumed = net.order.consumedFor(e.key.mac());
            capForHandoverAck(e);
            e.moveTo(Phase.HANDED_OVER);
            if (e.port != null) e.port.departed = true;
            e.handedOverAt = now;
            e.lastActivityAt = now;
            e.timeline.mark(MigrationTimeline.Step.RELAY_FLUSHED, now);
            e.timeline.mark(MigrationTimeline.Step.UNLOCK_ASKED, now);
            e.timeline.relayed = e.relayed;
            e.timeline.outcome = "completed";
            counters.inc(Counter.MIGRATIONS_COMPLETED);
            board.call(id -> new BoardRequest.Unlock(id, e.key, e.migrationId, Outcome.COMPLETED), r -> {
                e.unlocked = true;
                e.timeline.mark(MigrationTimeline.Step.UNLOCK_APPLIED, clock.now());
            }, now);
        }
        if (e.is(Phase.HANDED_OVER)) {
            wire.sendControl(net, e.peer, new ControlMessage.HandoverAck(e.migrationId, e.key.mac(), e.streams, e.consumed));
        }
    }

    /**
     * A VM's streams and the MARKER tokens consumed for it, as many as one HANDOVER_ACK carries: a
     * guest talking to thousands of MACs, or senders planting MARKERs, cannot make it overflow. What
     * is left out is counted: those streams' first frames at the destination do not wait for their
     * MARKERs (order may be lost for them), and frames waiting for those tokens wait out their bound.
     */
    private void capForHandoverAck(MigrationEntry e) {
        int over = Math.max(0, e.streams.size() - ControlCodec.MAX_STREAMS) + Math.max(0, e.consumed.size() - ControlCodec.MAX_CONSUMED);
        if (over == 0) return;
        log.warn("agent {}: migration {} of {}: {} streams and {} consumed MARKERs, more than a HANDOVER_ACK carries ({} and {});"
                + " {} left out (handover_entries_capped)", self, e.migrationId, e.key, e.streams.size(), e.consumed.size(),
                ControlCodec.MAX_STREAMS, ControlCodec.MAX_CONSUMED, over);
        counters.add(Counter.HANDOVER_ENTRIES_CAPPED, over);
        while (e.streams.size() > ControlCodec.MAX_STREAMS) e.streams.removeLast();
        if (e.consumed.size() > ControlCodec.MAX_CONSUMED) e.consumed = List.copyOf(e.consumed.subList(0, ControlCodec.MAX_CONSUMED));
    }

    /** design §6.3 step 6. */
    void onHandoverAck(VirtualNetwork net, ControlMessage.HandoverAck a, long now) {
        MigrationEntry e = net.incoming(a.mac(), a.migrationId());
        if (e == null || !e.is(Phase.RESUMED)) {
            log.debug("agent {}: HANDOVER_ACK of migration {} not taken; entry here: {}", self, a.migrationId(),
                    net.migrations.get(a.mac()));
            return;
        }
        // The VM may already have come back again: then a newer entry stands before this one.
        MigrationEntry newer = net.newerThan(e);
        LocalPort port = e.port;
        port.streams.clear();
        for (StreamToken s : a.streams()) {
            port.stream(s.dstMac()).awaitToken = s.token();
        }
        for (long token : a.consumed()) {
            if (!net.order.markSeen(token, e.key.mac(), now)) counters.inc(Counter.MARKER_TOKENS_REFUSED);
        }
        if (e.outgoing != null && e.outgoing.is(Phase.HANDED_OVER)) net.keepReturned(e.outgoing, e.migrationId);
        e.moveTo(Phase.RUNNING);
        e.timeline.mark(MigrationTimeline.Step.HANDOVER_ACK_RECEIVED, now);
        e.timeline.end("completed", now);
        // The VM runs here now; the entry of its earlier migration out (e.outgoing) ends with this one.
        if (newer == null) {
            net.migrations.remove(e);
        } else {
            newer.outgoing = null;
        }
        if (e.outgoing != null && e.outgoing.role == Role.SOURCE && !e.outgoing.is(Phase.HANDED_OVER)) {
            endUnfinishedSource(net, e.outgoing, now);
        }
        // What the VM sent meanwhile goes out now, even if the VM has already moved on again.
        egress.sendKept(port, e.takeEgress(), now);
        // Queued behind the source's lock: the board applies it when the source unlocks.
        board.attach(e.key, port.port, true, now);
        if (e.deferredStart != 0) {
            MigrationEntry next = startSource(net, e.key, port, e.deferredStart, newer, now);
            if (e.deferredStopped) {
                sourceStopped(net, next, now);
                next.append(e.takeBuffer());
            }
        }
        markers.releaseHeld(net, now);
    }

    // ------------------------------------------------------------ a resumed VM's own frames

    /**
     * A frame from a VM whose migration in has not settled: a paused copy that speaks has resumed
     * (the announce detector), and until the source's HANDOVER_ACK names the VM's streams its frames
     * wait here (bounded). Returns true if the frame was taken.
     */
    boolean holdsEgress(LocalPort port, byte[] b, int off, int len, long now) {
        VirtualNetwork net = port.net;
        MigrationEntry m = net.migrations.get(port.mac);
        if (m == null || m.role != Role.DESTINATION || m.is(Phase.RUNNING)) return false;
        if (m.is(Phase.INCOMING)) destinationResumed(net, m, now);
        // Checked before copying: a frame that does not fit costs nothing.
        if (!m.egressHold.fits(len, config.bufferBytes())) {
            counters.inc(Counter.DROP_EGRESS_HOLD_FULL);
            return true;
        }
        m.egressHold.add(new Held(java.util.Arrays.copyOfRange(b, off, off + len), self, 0, 0, 0, 0, now));
        return true;
    }

    // ------------------------------------------------------------ timers

    void tick(VirtualNetwork net, long now) {
        if (!net.returned.isEmpty()) tickReturned(net, now);
        if (!net.orphanLocks.isEmpty()) releaseOrphanLocks(net, now);
        for (LocalPort p : net.localMigrations.values()) {
            counters.add(Counter.DROP_BUFFER_EXPIRED, p.local.expire(now, config.bufferMillis() * MS));
        }
        if (net.migrations.size() == 0) return;
        for (MigrationEntry top : new ArrayList<>(net.migrations.entries())) {
            MigrationEntry newer = top;
            for (MigrationEntry e = top.outgoing; e != null; e = e.outgoing) {
                if (tickEntry(net, e, false, now)) {
                    newer.outgoing = e.outgoing;
                    retire(e);
                } else {
                    newer = e;
                }
            }
            if (tickEntry(net, top, true, now)) {
                net.migrations.remove(top);
                retire(top);
                if (top.outgoing != null) succeed(net, top, top.outgoing);
            }
        }
    }

    private void tickReturned(VirtualNetwork net, long now) {
        for (MigrationEntry r : new ArrayList<>(net.returned.values())) {
            MigrationEntry newer = r;
            for (MigrationEntry o = r.outgoing; o != null; o = o.outgoing) {
                if (tickEntry(net, o, false, now)) {
                    newer.outgoing = o.outgoing;
                } else {
                    newer = o;
                }
            }
            if (tickEntry(net, r, false, now)) {
                net.returned.remove(r.key.mac(), r);
                if (r.outgoing != null) net.returned.put(r.key.mac(), r.outgoing);
            }
        }
    }

    /**
     * The entry before a finished one takes its place: kept relaying if handed over, the table's row
     * otherwise; a migration out that never handed over ends if its VM runs here again.
     */
    private void succeed(VirtualNetwork net, MigrationEntry finished, MigrationEntry older) {
        if (older.role == Role.SOURCE && older.is(Phase.HANDED_OVER)) {
            net.keepReturned(older, finished.role == Role.DESTINATION ? finished.migrationId : 0);
        } else if (finished.role == Role.DESTINATION && finished.is(Phase.RUNNING) && older.role == Role.SOURCE) {
            endUnfinishedSource(net, older, clock.now());
        } else {
            net.migrations.put(older);
        }
    }

    /**
     * A migration out that never handed over, whose VM runs here again: its destination lost its
     * part (an agent restarted, design §6.8) and the VM came back another way. What it kept is
     * delivered here, and its lock released as aborted: the record still points here, as it should.
     */
    private void endUnfinishedSource(VirtualNetwork net, MigrationEntry src, long now) {
        log.warn("agent {}: migration {} of {} never handed over and its VM runs here again; ending it", self, src.migrationId,
                src.key);
        src.aborted = true;
        src.timeline.end("aborted", now);
        counters.inc(Counter.MIGRATIONS_ABORTED);
        ingress.flushLocally(net, src, now);
        if (src.lockHeld) unlockAborted(src, now);
    }

    /** An entry leaves the table: what it still keeps can go nowhere any more, and is counted. */
    private void retire(MigrationEntry e) {
        e.timeline.end(e.aborted ? "aborted" : e.timeline.outcome.equals("ongoing") ? "ended" : e.timeline.outcome, clock.now());
        int dropped = e.discard();
        if (dropped > 0) {
            log.warn("agent {}: migration {} of {} ends with {} frames kept; dropped (drop_migration_ended)", self, e.migrationId,
                    e.key, dropped);
            counters.add(Counter.DROP_MIGRATION_ENDED, dropped);
        }
    }

    /** Timers of one entry; returns true when the entry is done and leaves the table. */
    private boolean tickEntry(VirtualNetwork net, MigrationEntry e, boolean newest, long now) {
        counters.add(Counter.DROP_BUFFER_EXPIRED, e.expire(now, config.bufferMillis() * MS));
        boolean due = now - e.lastRetryAt >= retryNanos;
        switch (e.phase()) {
            case PRECOPY, STOPPED -> {
                if (!e.lockHeld && e.lockRetryAt != 0 && now >= e.lockRetryAt) {
                    e.lockRetryAt = 0;
                    requestLock(net, e, now);
                }
                if (due && e.is(Phase.STOPPED)) {
                    e.lastRetryAt = now;
                    markers.resend(net, e, now);
                    if (!e.handoverAsked && e.lockHeld && now - e.stoppedAt >= config.leaseMillis() * MS / 2) {
                        handOverToClaimant(net, e, now);
                    }
                }
            }
            case HANDED_OVER -> {
                if (due) {
                    e.lastRetryAt = now;
                    markers.resend(net, e, now);
                }
                boolean quiet = now - e.lastActivityAt >= config.graceMillis() * MS;
                boolean settled = e.unackedMarkers.isEmpty() && e.unlocked;
                if (quiet && (settled || now - e.handedOverAt >= 10 * config.graceMillis() * MS)) {
                    if (!settled) log.warn("agent {}: dropping migration {} of {} unsettled", self, e.migrationId, e.key);
                    return true;
                }
            }
            case INCOMING, RESUMED -> {
                if (due) {
                    e.lastRetryAt = now;
                    if (!e.peerConfirmed) {
                        refreshPeer(net, e, now);
                        if (e.peer != 0) wire.sendControl(net, e.peer, new ControlMessage.Prepare(e.migrationId, e.key.mac()));
                    }
                    if (e.peer != 0 && e.is(Phase.RESUMED)) {
                        wire.sendControl(net, e.peer, new ControlMessage.Handover(e.migrationId, e.key.mac()));
                    }
                }
                // Only where the VM runs: an older entry's VM has moved on since.
                if (newest && e.is(Phase.RESUMED) && sourceLost(net, e, now)) return true;
            }
            case RUNNING -> { }
        }
        return false;
    }

    /**
     * A destination whose source has not answered its HANDOVER for half a lease may have lost it (the
     * source's host died). It tells the board that its copy runs, queued behind the source's lock:
     * applied at the source's unlock if the source is only slow, or, design §5, when the source's lock
     * lapses, which is then released as COMPLETED. Once the board points here, the VM runs here without
     * the source's streams: returns true, and the entry ends.
     */
    private boolean sourceLost(VirtualNetwork net, MigrationEntry e, long now) {
        if (now - e.resumedAt < config.leaseMillis() * MS / 2) return false;
        LocalPort port = e.port;
        if (!e.reportedRunning) {
            e.reportedRunning = true;
            log.warn("agent {}: the source (host {}) of migration {} of {} has not answered for {} ms; telling the board the VM runs here",
                    self, e.peer, e.migrationId, e.key, (now - e.resumedAt) / MS);
            board.attach(e.key, port.port, true, now);
            return false;
        }
        if (e.deferredStart != 0 && now - e.resumedAt >= config.leaseMillis() * MS) {
            // The VM has begun to leave again, and its next migration waits for this one: it goes
            // on as if the source had named no streams (the source's process lost them, design §6.8).
            log.warn("agent {}: migration {} of {} ends without its source's HANDOVER_ACK; its next migration {} goes on",
                    self, e.migrationId, e.key, e.deferredStart);
            counters.inc(Counter.MIGRATIONS_SOURCE_LOST);
            onHandoverAck(net, new ControlMessage.HandoverAck(e.migrationId, e.key.mac(), List.of(), List.of()), now);
            return false;
        }
        Location loc = net.cache.get(e.key.mac());
        if (loc == null || loc.host != self) return false;
        log.warn("agent {}: migration {} of {} ends here without its source's HANDOVER_ACK", self, e.migrationId, e.key);
        e.moveTo(Phase.RUNNING);
        egress.sendKept(port, e.takeEgress(), now);
        counters.inc(Counter.MIGRATIONS_SOURCE_LOST);
        return true;
    }

    /**
     * The source is where the record points once the updates before ours are applied: in a chain
     * A to B to C, C's standby may first see A. Asked again until the source answers the HANDOVER.
     */
    private void refreshPeer(VirtualNetwork net, MigrationEntry e, long now) {
        if (now - e.peerRefreshedAt < 2 * retryNanos) return;
        e.peerRefreshedAt = now;
        board.call(id -> new BoardRequest.Lookup(id, e.key), r -> {
            if (r instanceof BoardResponse.Ok ok && ok.record() != null && ok.record().isAttached()
                    && ok.record().hostId() != self && net.incoming(e.key.mac(), e.migrationId) == e && !e.peerConfirmed) {
                e.peer = ok.record().hostId();
            }
        }, now);
    }

    // ------------------------------------------------------------ the board came back

    /** The first SOURCE of a VM's chain that has not handed over yet, or null. */
    private static MigrationEntry unsettledSource(MigrationEntry chain) {
        for (MigrationEntry m = chain; m != null; m = m.outgoing) {
            if (m.role == Role.SOURCE && !m.is(Phase.HANDED_OVER)) return m;
        }
        return null;
    }

    /** After a board reconnection: the ports' attachments as the migrations see them, and locks asked for again. */
    void resynchronise(VirtualNetwork net, long now) {
        for (LocalPort p : net.ports.values()) {
            MigrationEntry m = net.migrations.get(p.mac);
            // Handed over: the VM runs elsewhere, its port here only waits to be unplugged.
            if (m != null && m.role == Role.SOURCE && m.is(Phase.HANDED_OVER)) continue;
            // A source not handed over is attached below, once: a second attach, answered late,
            // could land after the hand-over and point the record back here.
            if (unsettledSource(m) != null) continue;
            // A destination attaches active only after HANDOVER_ACK, behind the source's lock.
            boolean standby = m != null && m.role == Role.DESTINATION;
            board.attach(p.key(), p.port, !standby, now);
        }
        for (MigrationEntry top : net.migrations.entries()) {
            // A source not handed over yet is still where the VM is, even once its VM stopped and
            // its port was unplugged, and even behind the entry of the VM's return (design §6.6);
            // a lock the board forgot is asked for again.
            for (MigrationEntry m = top; m != null; m = m.outgoing) {
                if (m.role == Role.SOURCE && !m.is(Phase.HANDED_OVER) && m.port != null) {
                    board.attach(m.key, m.port.port, true, now);
                    if (m.lockHeld) {
                        m.lockHeld = false;
                        requestLock(net, m, now);
                    }
                }
            }
        }
    }
}
