package dev.ferry.service.libvirt;

import dev.ferry.service.MigrationStep;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The libvirt detector of design §7: one connection to this host's libvirt daemon, its domain events
 * (lifecycle and migration passes) turned into migration steps of the ports that follow a domain
 * ({@link MigrationTracker}), with the same steps the QMP detector reports. It needs no monitor of its
 * own (libvirt owns QEMU's) and reconnects by itself when libvirtd restarts, routine on hosts.
 *
 * <p>Threads: libvirt's default event loop runs on one thread of the process ({@code libvirt-events});
 * every callback, the job polling and this detector's state live there. Other threads only post
 * commands ({@link #follow}, {@link #unfollow}, {@link #close}), which the loop's timer drains every
 * {@value #TICK_MILLIS} ms.
 */
public final class LibvirtDetector implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LibvirtDetector.class);
    static final int TICK_MILLIS = 20;
    private static final long RECONNECT_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final int KEEPALIVE_SECONDS = 2, KEEPALIVE_COUNT = 3;

    /** Where the steps go. */
    public interface Steps {
        /** A migration step of port {@code portId}; {@code migrationId} only with {@link MigrationStep#BEGIN}. */
        void step(String portId, MigrationStep step, Long migrationId);
    }

    private static final Map<Long, LibvirtDetector> DETECTORS = new ConcurrentHashMap<>();
    private static final AtomicLong IDS = new AtomicLong();
    private static Thread eventLoop;
    private static MemorySegment lifecycleStub, iterationStub, closeStub, tickStub;

    private final Libvirt lib;
    private final String uri;
    private final Steps steps;
    private final long id = IDS.incrementAndGet();
    private final ConcurrentLinkedQueue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final CountDownLatch closed = new CountDownLatch(1);
    private final int timer;
    // Event-loop thread only:
    private final Map<String, Domain> domains = new HashMap<>();
    private MemorySegment conn = MemorySegment.NULL;
    private boolean lost;
    private long nextConnectAt;
    private boolean everConnected;

    /** A followed domain: its tracker and the ports it has on this agent. */
    private record Domain(MigrationTracker tracker, List<String> ports) {}

    /**
     * Starts following libvirt at {@code uri} (e.g. {@code qemu:///system}); connects at once and,
     * whenever the connection is lost, again every second. IOException when libvirt's library is not
     * installed.
     */
    public LibvirtDetector(String uri, Steps steps) throws IOException {
        this.lib = Libvirt.load();
        this.uri = uri;
        this.steps = steps;
        startEventLoop(lib);
        DETECTORS.put(id, this);
        try {
            timer = (int) lib.eventAddTimeout.invokeExact(TICK_MILLIS, tickStub, MemorySegment.ofAddress(id), MemorySegment.NULL);
        } catch (Throwable t) {
            DETECTORS.remove(id);
            throw new IOException("libvirt: cannot add the detector's timer", t);
        }
        if (timer < 0) {
            DETECTORS.remove(id);
            throw new IOException("libvirt: cannot add the detector's timer: " + lib.lastError());
        }
    }

    /** Port {@code portId} follows domain {@code uuid}'s migrations from now on. */
    public void follow(String uuid, String portId) {
        commands.add(() -> {
            Domain d = domains.computeIfAbsent(uuid.toLowerCase(java.util.Locale.ROOT),
                    u -> new Domain(new MigrationTracker(), new ArrayList<>()));
            if (!d.ports.contains(portId)) d.ports.add(portId);
        });
    }

    /** Port {@code portId} no longer follows its domain (it was unplugged). */
    public void unfollow(String portId) {
        commands.add(() -> domains.values().removeIf(d -> d.ports.remove(portId) && d.ports.isEmpty()));
    }

    @Override
    public void close() {
        commands.add(() -> {
            disconnect();
            DETECTORS.remove(id);
            try {
                int ignored = (int) lib.eventRemoveTimeout.invokeExact(timer);
            } catch (Throwable t) {
                log.debug("libvirt: removing the timer: {}", t.toString());
            }
            closed.countDown();
        });
        try {
            if (!closed.await(5, TimeUnit.SECONDS)) log.warn("libvirt detector for {}: not closed within 5 s", uri);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------ the event loop's thread

    private void tick() {
        for (Runnable c; (c = commands.poll()) != null; ) c.run();
        if (DETECTORS.get(id) != this) return;
        if (lost) disconnect();
        if (conn.equals(MemorySegment.NULL) && System.nanoTime() >= nextConnectAt) connect();
        if (conn.equals(MemorySegment.NULL)) return;
        for (Map.Entry<String, Domain> e : domains.entrySet()) {
            if (e.getValue().tracker.watchesJob() && !hasJob(e.getKey())) {
                deliver(e.getValue(), e.getValue().tracker.onJobEnded(here(e.getKey())));
            }
        }
    }

    private void connect() {
        nextConnectAt = System.nanoTime() + RECONNECT_NANOS;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment c = (MemorySegment) lib.connectOpen.invokeExact(arena.allocateFrom(uri));
            if (c.equals(MemorySegment.NULL)) {
                if (everConnected || log.isDebugEnabled()) log.debug("libvirt at {}: not reachable: {}", uri, lib.lastError());
                return;
            }
            MemorySegment opaque = MemorySegment.ofAddress(id);
            int keepAlive = (int) lib.connectSetKeepAlive.invokeExact(c, KEEPALIVE_SECONDS, KEEPALIVE_COUNT);
            int close = (int) lib.connectRegisterCloseCallback.invokeExact(c, closeStub, opaque, MemorySegment.NULL);
            int life = (int) lib.connectDomainEventRegisterAny.invokeExact(c, MemorySegment.NULL, Libvirt.EVENT_ID_LIFECYCLE,
                    lifecycleStub, opaque, MemorySegment.NULL);
            int passes = (int) lib.connectDomainEventRegisterAny.invokeExact(c, MemorySegment.NULL, Libvirt.EVENT_ID_MIGRATION_ITERATION,
                    iterationStub, opaque, MemorySegment.NULL);
            if (life < 0 || passes < 0) {
                log.warn("libvirt at {}: cannot follow domain events: {}", uri, lib.lastError());
                int ignored = (int) lib.connectClose.invokeExact(c);
                return;
            }
            if (keepAlive < 0 || close < 0) log.warn("libvirt at {}: a lost daemon may go unnoticed: {}", uri, lib.lastError());
            conn = c;
            lost = false;
            log.info("libvirt at {}: {}following domain events", uri, everConnected ? "connected again, " : "");
            // Events while the daemon was away are gone: what they would have said is read from the domains' state
            // (a migration out that ended meanwhile shows as no job, which tick() watches).
            if (everConnected) {
                for (Map.Entry<String, Domain> e : domains.entrySet()) {
                    for (MigrationStep s : e.getValue().tracker.onReconnected(here(e.getKey()))) deliver(e.getValue(), s);
                }
            }
            everConnected = true;
        } catch (Throwable t) {
            log.warn("libvirt at {}: cannot connect: {}", uri, t.toString());
        }
    }

    private void disconnect() {
        if (conn.equals(MemorySegment.NULL)) return;
        try {
            int ignored = (int) lib.connectClose.invokeExact(conn);
        } catch (Throwable t) {
            log.debug("libvirt: closing the connection: {}", t.toString());
        }
        conn = MemorySegment.NULL;
    }

    /** Whether domain {@code uuid} has a job (a migration) now; false when it is gone. */
    private boolean hasJob(String uuid) {
        // A failed query says nothing: keep watching rather than report an abort that did not happen.
        return query(uuid, "job", false, true, (dom, arena) -> {
            MemorySegment info = arena.allocate(Libvirt.JOB_INFO_SIZE, 8);
            int r = (int) lib.domainGetJobInfo.invokeExact(dom, info);
            return r < 0 || info.get(ValueLayout.JAVA_INT, 0) != Libvirt.JOB_NONE;
        });
    }

    /** Domain {@code uuid} on this host as libvirt shows it now. */
    private MigrationTracker.Here here(String uuid) {
        return query(uuid, "state", MigrationTracker.Here.GONE, MigrationTracker.Here.UNKNOWN, (dom, arena) -> {
            MemorySegment state = arena.allocate(ValueLayout.JAVA_INT), reason = arena.allocate(ValueLayout.JAVA_INT);
            if ((int) lib.domainGetState.invokeExact(dom, state, reason, 0) < 0) return MigrationTracker.Here.UNKNOWN;
            return MigrationTracker.Here.of(state.get(ValueLayout.JAVA_INT, 0));
        });
    }

    /** A question about one domain, given its handle (freed after) and an arena for the answer. */
    @FunctionalInterface
    private interface DomainQuery<T> {
        T ask(MemorySegment domain, Arena arena) throws Throwable;
    }

    /** {@code query}'s answer for domain {@code uuid}; {@code gone} when libvirt has no such domain, {@code failed} when a call throws. */
    private <T> T query(String uuid, String what, T gone, T failed, DomainQuery<T> query) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dom = (MemorySegment) lib.domainLookupByUuidString.invokeExact(conn, arena.allocateFrom(uuid));
            if (dom.equals(MemorySegment.NULL)) return gone;
            try {
                return query.ask(dom, arena);
            } finally {
                int ignored = (int) lib.domainFree.invokeExact(dom);
            }
        } catch (Throwable t) {
            log.warn("libvirt: cannot read the {} of domain {}: {}", what, uuid, t.toString());
            return failed;
        }
    }

    private void deliver(Domain d, MigrationStep step) {
        if (step == null) return;
        Long migrationId = step == MigrationStep.BEGIN ? ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE) : null;
        for (String port : List.copyOf(d.ports)) {
            log.info("port {}: libvirt says {}", port, step.label());
            try {
                steps.step(port, step, migrationId);
            } catch (RuntimeException e) {
                log.warn("port {}: the agent refused {}: {}", port, step.label(), e.getMessage());
            }
        }
    }

    private Domain domain(MemorySegment dom) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment uuid = arena.allocate(Libvirt.UUID_STRING_BUFLEN);
            int r = (int) lib.domainGetUuidString.invokeExact(dom, uuid);
            return r < 0 ? null : domains.get(uuid.getString(0));
        } catch (Throwable t) {
            return null;
        }
    }

    // ------------------------------------------------------------ libvirt's callbacks (upcalls)

    static int onLifecycle(MemorySegment conn, MemorySegment dom, int event, int detail, MemorySegment opaque) {
        try {
            LibvirtDetector d = DETECTORS.get(opaque.address());
            Domain domain = d == null ? null : d.domain(dom);
            if (domain != null) for (MigrationStep s : domain.tracker.onLifecycle(event, detail)) d.deliver(domain, s);
        } catch (Throwable t) {
            log.warn("libvirt: lifecycle event {}/{} not handled: {}", event, detail, t.toString());
        }
        return 0;
    }

    static void onIteration(MemorySegment conn, MemorySegment dom, int iteration, MemorySegment opaque) {
        try {
            LibvirtDetector d = DETECTORS.get(opaque.address());
            Domain domain = d == null ? null : d.domain(dom);
            if (domain != null) d.deliver(domain, domain.tracker.onIteration());
        } catch (Throwable t) {
            log.warn("libvirt: migration pass {} not handled: {}", iteration, t.toString());
        }
    }

    static void onClose(MemorySegment conn, int reason, MemorySegment opaque) {
        LibvirtDetector d = DETECTORS.get(opaque.address());
        if (d == null) return;
        log.warn("libvirt at {}: connection lost (reason {}); connecting again", d.uri, reason);
        d.lost = true;
    }

    static void onTick(int timer, MemorySegment opaque) {
        try {
            LibvirtDetector d = DETECTORS.get(opaque.address());
            if (d != null) d.tick();
        } catch (Throwable t) {
            log.warn("libvirt detector: {}", t.toString());
        }
    }

    static void onError(MemorySegment userData, MemorySegment error) {
        // libvirt would print every failed call on standard error; the detector logs what matters itself.
    }

    /** libvirt's default event loop on a thread of its own, started once per process. */
    private static synchronized void startEventLoop(Libvirt lib) throws IOException {
        if (eventLoop != null) return;
        Arena arena = Arena.global();
        lifecycleStub = Libvirt.upcall(LibvirtDetector.class, "onLifecycle",
                FunctionDescriptor.of(Libvirt.INT, Libvirt.PTR, Libvirt.PTR, Libvirt.INT, Libvirt.INT, Libvirt.PTR), arena);
        iterationStub = Libvirt.upcall(LibvirtDetector.class, "onIteration",
                FunctionDescriptor.ofVoid(Libvirt.PTR, Libvirt.PTR, Libvirt.INT, Libvirt.PTR), arena);
        closeStub = Libvirt.upcall(LibvirtDetector.class, "onClose", FunctionDescriptor.ofVoid(Libvirt.PTR, Libvirt.INT, Libvirt.PTR), arena);
        tickStub = Libvirt.upcall(LibvirtDetector.class, "onTick", FunctionDescriptor.ofVoid(Libvirt.INT, Libvirt.PTR), arena);
        MemorySegment errorStub = Libvirt.upcall(LibvirtDetector.class, "onError", FunctionDescriptor.ofVoid(Libvirt.PTR, Libvirt.PTR), arena);
        try {
            lib.setErrorFunc.invokeExact(MemorySegment.NULL, errorStub);
            if ((int) lib.eventRegisterDefaultImpl.invokeExact() < 0) throw new IOException("libvirt: no event loop: " + lib.lastError());
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("libvirt: no event loop", t);
        }
        eventLoop = new Thread(() -> {
            while (true) {
                try {
                    if ((int) lib.eventRunDefaultImpl.invokeExact() < 0) {
                        log.warn("libvirt event loop: {}", lib.lastError());
                        Thread.sleep(100);
                    }
                } catch (Throwable t) {
                    log.warn("libvirt event loop: {}", t.toString());
                }
            }
        }, "libvirt-events");
        eventLoop.setDaemon(true);
        eventLoop.start();
    }
}
