package dev.ferry.service;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.MigrationEntry;
import dev.ferry.agent.MigrationEvent;
import dev.ferry.agent.VirtualNetwork;
import dev.ferry.agent.port.PeerSocket;
import dev.ferry.agent.port.PolledPort;
import dev.ferry.agent.port.QemuSocketPort;
import dev.ferry.agent.runtime.AgentLoop;
import dev.ferry.board.Endpoints;
import dev.ferry.agent.runtime.HostDirectory;
import dev.ferry.agent.runtime.UdpUnderlay;
import dev.ferry.service.libvirt.LibvirtDetector;
import dev.ferry.service.libvirt.LibvirtHook;
import dev.ferry.service.qmp.QmpDetector;
import dev.ferry.board.VmKey;
import dev.ferry.rpc.GrpcBoardClient;
import dev.ferry.wire.Malformed;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@code ferry agent} runs: one agent on its event loop, its UDP underlay, its gRPC board client,
 * the ports it was configured with and those added at run time, and the admin endpoint that
 * {@code ferry ctl} and Prometheus talk to. Every change and every snapshot runs on the loop's
 * thread, posted there by {@link #onLoop}; the agent itself stays single-threaded.
 */
public final class AgentService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AgentService.class);
    private static final long CALL_TIMEOUT_SECONDS = 5;

    /** A plugged port; {@code standby} as it was plugged (QMP ports learn it from QEMU). */
    private record Plugged(PortSpec.Port spec, PolledPort port, boolean standby) {}

    private final AgentSettings.Validated settings;
    private final AgentLoop loop;
    private final UdpUnderlay underlay;
    private final GrpcBoardClient boardClient;
    private final Agent agent;
    private final AdminServer admin;
    /** Prometheus' own endpoint when asked for ({@code metrics: host:port}), else null. */
    private final HttpEndpoint metrics;
    /** What QEMU's end of a QEMU socket port is given: as much as the agent's own sockets. */
    private static final int QEMU_RECEIVE_BUFFER = 4 << 20;
    /** By port id; touched on the loop's thread only. */
    private final Map<String, Plugged> ports = new LinkedHashMap<>();
    /** QMP detectors by port id, from {@link #addPort} until the port goes. */
    private final Map<String, QmpDetector> detectors = new java.util.concurrent.ConcurrentHashMap<>();
    /** The libvirt detector, made when the first port with a libvirt domain is plugged; guarded by this. */
    private LibvirtDetector libvirt;

    private AgentService(AgentSettings.Validated settings) throws IOException {
        this.settings = settings;
        this.loop = new AgentLoop(settings.listen(), settings.transport(), "agent-" + settings.config().hostId(), settings.loopNice());
        this.underlay = new UdpUnderlay(loop.socket(), new HostDirectory());
        var config = settings.config();
        if (settings.listen().getPort() == 0) {
            // Port 0 picks a free one: tell the others the port the kernel chose.
            InetSocketAddress adv = Endpoints.parse(config.endpoint());
            config = config.withEndpoint(Endpoints.format(new InetSocketAddress(adv.getAddress(), loop.localAddress().getPort())));
        }
        this.boardClient = new GrpcBoardClient(settings.board(), config.hostId(),
                response -> loop.post((a, now) -> a.onBoardResponse(response, now)),
                event -> loop.post((a, now) -> a.onBoardEvent(event, now)),
                () -> loop.post((a, now) -> a.resynchronise(now)), settings.tls());
        if (config.plaintextUnderlay()) {
            log.warn("the underlay is plaintext (--plaintext-underlay): anyone who can send to {} can forge frames and migration messages;"
                    + " run so only where the underlay is protected otherwise", Endpoints.format(loop.localAddress()));
        }
        this.agent = new Agent(config, underlay, boardClient, new java.security.SecureRandom().nextLong());
        loop.start(agent, underlay.directory());
        AdminServer started = null;
        HttpEndpoint scraped = null;
        try {
            for (PortSpec.Port p : settings.ports()) addPort(p);
            started = new AdminServer(settings.admin(), adminTls(settings), this);
            if (settings.metrics() != null) {
                scraped = new HttpEndpoint(settings.metrics(), null, settings.metricsToken());
                AgentMetrics m = new AgentMetrics(this::status);
                scraped.metrics(m.registry(), m::refresh);
            }
        } catch (IOException | RuntimeException e) {
            if (started != null) started.close();
            close();
            throw e;
        }
        this.admin = started;
        this.metrics = scraped;
        log.info("agent {} up: underlay {} ({}), board {}, admin {}, {} port(s){}", config.hostId(), config.endpoint(),
                loop.socket().transport(),
                settings.board(), admin.address(), settings.ports().size(),
                metrics == null ? "" : ", metrics on http://" + metrics.address() + "/metrics");
    }

    /**
     * The admin endpoint's TLS: none on a Unix socket (its file's permissions guard it); on TCP,
     * mutual TLS that admits operators' certificates only, or plaintext for an agent run insecure.
     */
    private static io.netty.handler.ssl.SslContext adminTls(AgentSettings.Validated settings) throws IOException {
        if (!(settings.admin() instanceof HttpAddress.Tcp tcp)) return null;
        if (settings.tls() == null) {
            log.warn("the admin endpoint {} is plaintext TCP (--insecure): anyone who reaches it steers this agent", tcp);
            return null;
        }
        return settings.tls().nettyServer(who -> who instanceof dev.ferry.security.Identity.Operator, "an operator");
    }

    /** Starts an agent; throws (naming the port or address) when a port or socket cannot be opened. */
    public static AgentService start(AgentSettings.Validated settings) throws IOException {
        return new AgentService(settings);
    }

    public int hostId() {
        return agent.hostId();
    }

    /** The underlay socket's transport: epoll or nio. */
    public String transport() {
        return loop.socket().transport();
    }

    public String endpoint() {
        return agent.config().endpoint();
    }

    /** Where {@code ferry ctl} reaches this agent: its socket's path, or host:port. */
    public HttpAddress adminAddress() {
        return admin.address();
    }

    /** Where Prometheus scrapes this agent, or null when it was not asked for. */
    public HttpAddress metricsAddress() {
        return metrics == null ? null : metrics.address();
    }

    /**
     * Plugs a port in: a running VM (attached active), or with {@code standby} a paused incoming copy,
     * which is the destination's first migration step. The socket or device opens on the caller's
     * thread so that a refusal reaches the caller. A port with a QMP socket is plugged once QEMU
     * answers there, as what QEMU says the copy is; its detector reports every step after that.
     */
    public AgentStatus.PortStatus addPort(PortSpec.Port spec) throws IOException {
        if (spec.qmp() != null && detectors.containsKey(spec.id())) {
            throw new ConfigException("id: port '" + spec.id() + "' is already plugged in");
        }
        LibvirtDetector domains = spec.domain() != null ? libvirt() : null;
        PolledPort port = spec.open();
        if (spec.qmp() != null) return follow(spec, port);
        sizeQemuSocket(spec);
        AgentStatus.PortStatus plugged;
        try {
            plugged = plug(spec, port, spec.standby(), spec.migration(), Agent.Found.RUNNING);
        } catch (RuntimeException e) {
            port.close();
            throw e;
        }
        if (domains != null) domains.follow(spec.domain(), spec.id());
        return plugged;
    }

    /**
     * libvirt's hook on this agent ({@code POST /v1/libvirt/...}, {@link LibvirtHook#apply}): the
     * domain's ports plugged, as a standby, or unplugged; what was done, a line each. Called on the
     * admin endpoint's thread, so hook calls never run at once.
     */
    public List<String> libvirtHook(String operation, String subOperation, String xml) {
        return LibvirtHook.apply(operation, subOperation, xml, new LibvirtHook.Ports() {
            @Override
            public Set<String> plugged() {
                return onLoop((a, now) -> Set.copyOf(ports.keySet()));
            }

            @Override
            public void plug(PortSpec.Port port) throws IOException {
                addPort(port);
            }

            @Override
            public void unplug(String id) {
                removePort(id);
            }
        });
    }

    /**
     * This agent's libvirt detector, connecting to {@code libvirt:} (default qemu:///system) the first
     * time; a {@link ConfigException} when libvirt's library is not installed.
     */
    private synchronized LibvirtDetector libvirt() {
        if (libvirt == null) {
            try {
                libvirt = new LibvirtDetector(settings.libvirt(), (id, step, migrationId) -> migrate(step, id, migrationId));
            } catch (IOException e) {
                throw new ConfigException("domain: the agent cannot follow libvirt at " + settings.libvirt() + ": " + e.getMessage());
            }
        }
        return libvirt;
    }

    private AgentStatus.PortStatus plug(PortSpec.Port spec, PolledPort port, boolean standby, long migrationId, Agent.Found found) {
        return onLoop((a, now) -> {
            if (ports.containsKey(spec.id())) throw new ConfigException("id: port '" + spec.id() + "' is already plugged in");
            if (a.localPort(spec.key()) != null) {
                throw new ConfigException("mac: " + Addresses.formatMac(spec.key().mac()) + " in VNI " + spec.key().vni()
                        + " is already on a port of this agent");
            }
            LocalPort handle;
            if (standby) {
                a.onEvent(new MigrationEvent.StandbyAppeared(port, migrationId), now);
                handle = a.localPort(spec.key());
            } else {
                handle = a.addFoundPort(port, found, now);
            }
            loop.poll(port, handle);
            ports.put(spec.id(), new Plugged(spec, port, standby));
            return portStatus(ports.get(spec.id()), a);
        });
    }

    /** Starts the QMP detector of a port; the port is plugged when QEMU answers. */
    private AgentStatus.PortStatus follow(PortSpec.Port spec, PolledPort port) {
        QmpDetector detector = new QmpDetector(spec.id(), spec.qmp(), new QmpDetector.Steps() {
            @Override
            public void plugged(boolean standby, Agent.Found found) {
                sizeQemuSocket(spec);
                try {
                    plug(spec, port, standby, 0, found);
                } catch (RuntimeException e) {
                    log.warn("port {}: cannot plug the VM QEMU runs: {}", spec.id(), e.getMessage());
                    forget(spec.id());
                    port.close();
                }
            }

            @Override
            public void step(MigrationStep step, Long migrationId) {
                log.info("port {}: QEMU says {}", spec.id(), step.label());
                migrate(step, spec.id(), migrationId);
            }

            @Override
            public void gone() {
                log.info("port {}: QEMU exited", spec.id());
                forget(spec.id());
                if (!unplug(spec.id())) port.close();
            }
        });
        detectors.put(spec.id(), detector);
        return new AgentStatus.PortStatus(spec.id(), port.kind(), spec.key().vni(), Addresses.formatMac(spec.key().mac()),
                spec.ips().stream().map(Addresses::formatIp).toList(),
                port.describe() + ", waiting for QEMU's QMP at " + spec.qmp(), false, 0, 0, 0, 0, 0, 0, 0, 0, spec.policy().mtu(),
                spec.policy().portSecurity(), spoofed(null));
    }

    /**
     * Gives QEMU's socket of a QEMU socket port room for the burst a migration's buffer makes when it
     * is handed to the new copy ({@link PeerSocket#ensureReceiveBuffer}). Off the agent's loop; when
     * it cannot be done, logs why and carries on.
     */
    private void sizeQemuSocket(PortSpec.Port spec) {
        if (spec.kind() != PortSpec.Kind.QEMU_SOCKET) return;
        try (PeerSocket qemu = PeerSocket.borrow(spec.remote())) {
            int now = qemu.ensureReceiveBuffer(QEMU_RECEIVE_BUFFER);
            log.debug("port {}: QEMU's socket receive buffer {} bytes", spec.id(), now);
            if (now < QEMU_RECEIVE_BUFFER) {
                log.warn("port {}: QEMU's socket receive buffer is {} bytes (wanted {}): a burst after a migration may"
                        + " overflow it; run the agent as root or raise net.core.rmem_max", spec.id(), now, QEMU_RECEIVE_BUFFER);
            }
        } catch (IOException e) {
            log.warn("port {}: QEMU's socket keeps its receive buffer: {}", spec.id(), e.getMessage());
        }
    }

    private void forget(String id) {
        QmpDetector d = detectors.remove(id);
        if (d != null) d.close();
        synchronized (this) {
            if (libvirt != null) libvirt.unfollow(id);
        }
    }

    /**
     * Unplugs a port: the VM is gone from this host. After a completed migration that is the source's
     * last step; for a standby copy it means the migration was given up.
     */
    public void removePort(String id) {
        QmpDetector d = detectors.get(id);
        forget(id);
        if (!unplug(id) && d == null) throw new ConfigException("id: no port '" + id + "' on this agent");
    }

    /** Unplugs port {@code id} if it is plugged; false when it is not. */
    private boolean unplug(String id) {
        return onLoop((a, now) -> {
            Plugged p = ports.get(id);
            if (p == null) return false;
            VmKey key = p.spec.key();
            MigrationEntry m = a.migration(key);
            if (m != null && m.role() == MigrationEntry.Role.SOURCE) {
                a.onEvent(new MigrationEvent.SourceGone(key.vni(), key.mac(), m.migrationId()), now);
            } else if (m != null && m.phase() == MigrationEntry.Phase.INCOMING) {
                a.onEvent(new MigrationEvent.StandbyGone(key.vni(), key.mac(), m.migrationId()), now);
            } else {
                a.removePort(key, true, now);
            }
            ports.remove(id);
            loop.stopPolling(p.port);
            return true;
        });
    }

    /** One migration step for the VM of port {@code id} (design §7, the API detector). */
    public AgentStatus.MigrationStatus migrate(MigrationStep step, String id, Long migrationId) {
        PeerSocket peer = step == MigrationStep.BEGIN ? borrowQemuSocket(id) : null;
        try {
            return step(step, id, migrationId, peer);
        } catch (RuntimeException e) {
            if (peer != null) peer.close();
            throw e;
        }
    }

    /**
     * QEMU's own socket of a QEMU socket port, to take back at {@code stopped} what the paused VM
     * never read; null (and logged) when it cannot be had. Looked up here, off the agent's loop.
     */
    private PeerSocket borrowQemuSocket(String id) {
        PortSpec.Port spec = onLoop((a, now) -> ports.containsKey(id) ? ports.get(id).spec : null);
        if (spec == null || spec.kind() != PortSpec.Kind.QEMU_SOCKET) return null;
        try {
            PeerSocket peer = PeerSocket.borrow(spec.remote());
            log.debug("port {}: borrowed QEMU's socket (pid {})", id, peer.pid());
            return peer;
        } catch (IOException e) {
            log.warn("port {}: frames QEMU leaves unread when the VM pauses cannot be taken back: {}", id, e.getMessage());
            return null;
        }
    }

    private AgentStatus.MigrationStatus step(MigrationStep step, String id, Long migrationId, PeerSocket peer) {
        return onLoop((a, now) -> {
            Plugged p = ports.get(id);
            if (p == null) throw new ConfigException("vm: no port '" + id + "' on this agent");
            VmKey key = p.spec.key();
            MigrationEntry m = a.migration(key);
            switch (step) {
                case BEGIN -> {
                    if (migrationId == null || migrationId <= 0) {
                        throw new ConfigException("migration: begin needs the migration's id (the same as the destination's --migration)");
                    }
                    if (m != null && m.role() == MigrationEntry.Role.SOURCE) {
                        throw new ConfigException("vm: '" + id + "' is already migrating out (migration " + m.migrationId() + ")");
                    }
                    a.onEvent(new MigrationEvent.Started(key.vni(), key.mac(), migrationId), now);
                    if (peer != null && p.port instanceof QemuSocketPort q) q.lend(peer);
                }
                case STOPPED -> {
                    if (m == null || m.outgoingMigrationId() == 0) requireRole(m, MigrationEntry.Role.SOURCE, id, "stopped");
                    // The VM stopped before this report: what it sent until then, still in the
                    // port's socket, goes ahead of the MARKERs that close its streams.
                    LocalPort handle = a.localPort(key);
                    if (handle != null) while (p.port.poll(a, handle, now) > 0) { }
                    a.onEvent(new MigrationEvent.SourceStopped(key.vni(), key.mac(), m.outgoingMigrationId()), now);
                }
                case RESUMED -> {
                    // The copy's own first frames may have told the agent already (it may even
                    // have finished the migration): a late report changes nothing.
                    if (m == null && !p.standby()) {
                        throw new ConfigException("vm: '" + id + "' has no migration here to report resumed for; resumed is"
                                + " reported on the destination's agent (port added with --standby)");
                    }
                    if (m != null && m.role() == MigrationEntry.Role.SOURCE) requireRole(m, MigrationEntry.Role.DESTINATION, id, "resumed");
                    // Without an entry (a late report, or a mode that keeps none) the agent decides what it means.
                    a.onEvent(new MigrationEvent.DestinationResumed(key.vni(), key.mac(), m == null ? 0 : m.migrationId()), now);
                }
                case ABORT -> {
                    if (m == null) throw new ConfigException("vm: '" + id + "' is not migrating on this agent");
                    if (m.outgoingMigrationId() != 0) {
                        if (p.port instanceof QemuSocketPort q) q.returnQemuSocket();
                        a.onEvent(new MigrationEvent.Aborted(key.vni(), key.mac(), m.outgoingMigrationId()), now);
                    } else {
                        a.onEvent(new MigrationEvent.StandbyGone(key.vni(), key.mac(), m.migrationId()), now);
                        ports.remove(id);
                        loop.stopPolling(p.port);
                    }
                }
            }
            MigrationEntry after = a.migration(key);
            return after == null ? null : migrationStatus(after, id);
        });
    }

    private static void requireRole(MigrationEntry m, MigrationEntry.Role role, String id, String step) {
        if (m == null || m.role() != role) {
            String where = role == MigrationEntry.Role.SOURCE ? "the source's agent after begin" : "the destination's agent (port added with --standby)";
            throw new ConfigException("vm: '" + id + "' has no migration here to report " + step + " for; " + step
                    + " is reported on " + where);
        }
    }

    /** A consistent snapshot of the agent, taken on its loop. */
    public AgentStatus status() {
        List<InetSocketAddress> sockets = new ArrayList<>();
        AgentStatus status = onLoop((a, now) -> {
            sockets.add(loop.localAddress());
            for (Plugged p : ports.values()) {
                if (p.port() instanceof dev.ferry.agent.port.QemuSocketPort q) sockets.add(q.localAddress());
            }
            Map<String, Long> counters = new LinkedHashMap<>();
            a.counters().snapshot().forEach((c, v) -> counters.put(c.label(), v));
            Map<String, Long> malformed = new LinkedHashMap<>();
            for (Malformed m : Malformed.values()) malformed.put(m.name().toLowerCase(java.util.Locale.ROOT), a.counters().malformed(m));
            Map<String, Long> under = new LinkedHashMap<>();
            under.put("send_failures", underlay.sendFailures());
            under.put("segmented_sends", loop.socket().segmentedSends());
            under.put("joined_receives", loop.socket().joinedReceives());
            under.put("receive_errors", loop.socket().receiveErrors());
            under.put("unknown_hosts", underlay.unknownHosts());
            under.put("sealed", a.seal().sealing() ? 1L : 0L);
            under.put("commands_dropped", loop.commandsDropped());
            under.put("loop_errors", loop.errors());
            under.put("ports_faulted", loop.portsFaulted());
            int held = 0;
            for (VirtualNetwork net : a.networks()) held += net.heldFrames();
            List<AgentStatus.PortStatus> portList = new ArrayList<>();
            for (Plugged p : ports.values()) portList.add(portStatus(p, a));
            List<AgentStatus.MigrationStatus> migrations = new ArrayList<>();
            for (MigrationEntry m : a.migrations()) migrations.add(migrationStatus(m, vmName(m.key())));
            List<AgentStatus.PastMigration> history = new ArrayList<>();
            for (dev.ferry.agent.MigrationTimeline.Past m : a.migrationHistory()) history.add(pastMigration(m, vmName(m.key())));
            return new AgentStatus(a.hostId(), a.config().endpoint(), settings.board(), a.config().mode().name().toLowerCase(),
                    loop.socket().transport(),
                    counters, malformed, under, a.outstandingBoardCalls(), held, portList, migrations, history);
        });
        // Read off the loop: a look into /proc is slower than the packet path should wait for. The
        // underlay's socket and every QEMU socket port's: datagrams lost before Ferry could count them.
        status.underlay().put("kernel_drops", dev.ferry.agent.runtime.KernelDrops.of(sockets));
        return status;
    }

    /**
     * The kept migrations as the agent recorded them, their first steps on this process's
     * {@link System#nanoTime} clock: for a lab that runs agents in its own process and lines their
     * timelines up with its own observations. Operators read the same through {@link #status}.
     */
    public List<dev.ferry.agent.MigrationTimeline.Past> migrationHistory() {
        return onLoop((a, now) -> a.migrationHistory());
    }

    /** The newest changes to where this agent sends each VM's frames, their times on this process's clock (the lab's). */
    public List<dev.ferry.agent.LocationLog.Change> locationChanges() {
        return onLoop((a, now) -> a.locationChanges());
    }

    /** Frames written to port {@code id}'s VM so far; 0 when no such port is plugged. */
    public long framesOut(String id) {
        return onLoop((a, now) -> ports.containsKey(id) ? ports.get(id).port.framesOut() : 0L);
    }

    /** A migration's steps in the order they happened, in milliseconds after its first. */
    private static AgentStatus.PastMigration pastMigration(dev.ferry.agent.MigrationTimeline.Past m, String vm) {
        Map<String, Double> steps = new LinkedHashMap<>();
        m.nanosAfterBegun().entrySet().stream().sorted(Map.Entry.comparingByValue())
                .forEach(e -> steps.put(e.getKey().name().toLowerCase(java.util.Locale.ROOT), e.getValue() / 1e6));
        return new AgentStatus.PastMigration(m.migrationId(), m.key().vni(), Addresses.formatMac(m.key().mac()), vm, m.role(),
                m.outcome(), steps, m.relayed());
    }

    private String vmName(VmKey key) {
        for (Plugged p : ports.values()) if (p.spec.key().equals(key)) return p.spec.id();
        return "";
    }

    /** A port as it is now: plugged as a standby, it stays one only until its copy resumes. */
    private static AgentStatus.PortStatus portStatus(Plugged p, Agent a) {
        PortSpec.Port s = p.spec;
        MigrationEntry m = a.migration(s.key());
        boolean standby = m != null && m.role() == MigrationEntry.Role.DESTINATION && m.phase() == MigrationEntry.Phase.INCOMING;
        return new AgentStatus.PortStatus(s.id(), p.port.kind(), s.key().vni(), Addresses.formatMac(s.key().mac()),
                s.ips().stream().map(Addresses::formatIp).toList(), p.port.describe(), standby, p.port.framesIn(),
                p.port.framesOut(), p.port.inDropped(), p.port.outDropped(), p.port.faults(), p.port.superFramesIn(), p.port.superFramesOut(),
                p.port.nudges(), s.policy().mtu(), s.policy().portSecurity(),
                spoofed(a.localPort(s.key())));
    }

    private static Map<String, Long> spoofed(LocalPort lp) {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("mac", lp == null ? 0 : lp.spoofedMac());
        m.put("ip", lp == null ? 0 : lp.spoofedIp());
        m.put("arp", lp == null ? 0 : lp.spoofedArp());
        m.put("nd", lp == null ? 0 : lp.spoofedNd());
        return m;
    }

    private static AgentStatus.MigrationStatus migrationStatus(MigrationEntry m, String vm) {
        return new AgentStatus.MigrationStatus(m.migrationId(), m.key().vni(), Addresses.formatMac(m.key().mac()), vm,
                m.role().name().toLowerCase(), m.phase().name().toLowerCase(), m.peer(), m.buffered(), m.bufferedBytes(),
                m.egressHeld(), m.relayedTotal(), m.bufferedTotal());
    }

    /**
     * Runs {@code action} on the agent's loop and returns its result; what it throws is rethrown
     * here, never on the loop (which must go on).
     */
    <T> T onLoop(BiFunction<Agent, Long, T> action) {
        CompletableFuture<T> result = new CompletableFuture<>();
        loop.post((a, now) -> {
            try {
                result.complete(action.apply(a, now));
            } catch (RuntimeException e) {
                result.completeExceptionally(e);
            }
        });
        try {
            return result.get(CALL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IllegalArgumentException iae && !(iae instanceof ConfigException)) {
                throw new ConfigException(iae.getMessage());
            }
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("agent loop did not answer within " + CALL_TIMEOUT_SECONDS + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    @Override
    public void close() {
        for (String id : List.copyOf(detectors.keySet())) forget(id);
        synchronized (this) {
            if (libvirt != null) libvirt.close();
        }
        if (admin != null) admin.close();
        if (metrics != null) metrics.close();
        loop.close();
        for (Plugged p : ports.values()) p.port.close();
        boardClient.close();
    }
}
