package dev.ferry.agent.port.vhost;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.port.Epoll;
import dev.ferry.agent.port.Libc;
import dev.ferry.agent.port.PolledPort;
import dev.ferry.agent.PortPolicy;
import dev.ferry.board.VmKey;
import dev.ferry.wire.Arp;
import dev.ferry.wire.Ethernet;
import dev.ferry.wire.TcpCoalescer;
import dev.ferry.wire.TcpSegmenter;
import dev.ferry.wire.VirtioNetHeader;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.agrona.concurrent.ManyToOneConcurrentArrayQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A VM's NIC served by the agent itself as a vhost-user backend: QEMU
 * ({@code -chardev socket,id=c0,path=SOCKET,server=on,wait=off -netdev vhost-user,id=n0,chardev=c0}, its
 * RAM shared, e.g. {@code memory-backend-memfd,share=on}) hands the agent the virtio rings of the
 * guest's virtio-net device, and the agent copies frames straight between the guest's buffers and
 * its own; QEMU never reads or queues a frame.
 *
 * <p>Why this port exists: it is the one through which a migration loses nothing. When QEMU stops
 * the VM it stops the rings first ({@code VHOST_USER_GET_VRING_BASE}): every frame the agent put in a
 * buffer before that is in guest memory, which the migration carries (the agent marks the pages in
 * QEMU's dirty log), and every frame after it stays here, in {@link #takeBackUnread}'s queue, for the
 * VM's new place. A QEMU socket port cannot know what QEMU read and dropped in that instant.
 *
 * <p>With offloads (the default) the device offers virtio-net's checksum and TCP segmentation
 * features and mergeable receive buffers, as a TAP port does with its kernel: what the guest sends
 * as a TCP super-frame is cut by {@link TcpSegmenter} into the segments the overlay carries, and
 * segments of one stream delivered back to back are joined by {@link TcpCoalescer} and written at
 * the end of the loop's turn ({@link #flush}) over as many of the guest's buffers as they fill.
 * Only ordinary frames ever wait for the VM: a joined frame the guest has no room for is cut again,
 * so what a stopped copy leaves unread goes to its next place as the overlay carries it.
 *
 * <p>Threads: a vhost-user thread ({@link VhostUserBackend}) talks to QEMU and posts
 * {@link DeviceCommand}s; the agent's thread applies them at the start of {@link #poll} and alone
 * touches the rings, the guest's memory and the queue of waiting frames.
 *
 * <p>Sleep: the agent's loop polls the rings while it has work, the guest told not to kick. Before
 * it sleeps ({@link #readyToSleep}) the guest is asked to kick again, and the loop sleeps on
 * {@link #readableFd}: one epoll set holding the guest's kick eventfds (edge-triggered: the
 * vhost-user thread owns and may close them, so the agent never reads them) and an eventfd the
 * vhost-user thread signals with each command, so QEMU's stop is applied at once, not at the next tick.
 */
public final class VhostUserPort implements PolledPort {
    private static final Logger log = LoggerFactory.getLogger(VhostUserPort.class);
    /**
     * Frames for the VM while its receive queue is stopped or full. After a migration the agent hands
     * the new copy everything it buffered at once (two seconds at 5,000 frames/s is 10,000 frames),
     * while the guest, just resumed, offers a ring of 256 buffers.
     */
    private static final int WAITING_FRAMES = 16_384;
    /** The longest frame either way: a jumbo frame (the agent's bound, {@link dev.ferry.agent.Port#MAX_MTU}) with its header and a VLAN tag. */
    private static final int MAX_FRAME = dev.ferry.agent.Port.MAX_MTU + 18;
    /** Frames waiting for the VM take a slot of this size each; longer ones share {@link #WAITING_LONG_BYTES}. */
    private static final int SLOT_BYTES = 2048;
    private static final long WAITING_LONG_BYTES = 16L << 20;
    private static final int MAX_FRAMES_PER_POLL = 64;
    private static final long APPLY_TIMEOUT_MILLIS = 2_000;
    /** How long a command of a polled port is waited for at most. */
    private static final long APPLY_LIMIT_MILLIS = 30_000;
    /** The agent's loop polls this port (it is plugged); set on the loop's thread, read by the vhost-user thread. */
    private volatile boolean polled;
    private volatile boolean closed;

    private record Posted(DeviceCommand command, CompletableFuture<Integer> done) {}

    private final VmKey key;
    private final String vmId;
    private final List<Integer> ips;
    private final PortPolicy policy;
    private final Path socket;
    private final ManyToOneConcurrentArrayQueue<Posted> commands = new ManyToOneConcurrentArrayQueue<>(256);
    private final VhostUserBackend backend;
    /** What wakes the sleeping loop for this port: the guest's kicks and the vhost-user thread's commands. */
    private final Epoll wakeups = new Epoll(4);
    private final int commandPosted;
    /** Guards {@link #commandPosted}'s number between a post and close: never signalled once closed (it may be reused). */
    private final Object closing = new Object();
    /** Each queue's kick eventfd, watched in {@link #wakeups}, and its call eventfd: the port's own duplicates (agent's thread). */
    private final int[] kickFds = {-1, -1}, callFds = {-1, -1};

    // The agent's thread's alone.
    private GuestMemory memory;
    private DirtyLog dirtyLog;
    private boolean logging;
    /** Where every write into the guest is marked: {@link #dirtyLog} while QEMU has the log on, else null. */
    private DirtyLog marking;
    private Virtqueue rx, tx;
    private final FrameQueue waiting = new FrameQueue(WAITING_FRAMES, SLOT_BYTES, MAX_FRAME, WAITING_LONG_BYTES);
    /** A header and a frame for the guest: up to a joined super-frame of 64 KiB of IP. */
    private final byte[] staged = new byte[Virtqueue.NET_HEADER + Ethernet.HEADER_LENGTH + 4 + 65_535];
    private final byte[] sent = new byte[Virtqueue.NET_HEADER + Ethernet.HEADER_LENGTH + 4 + 65_535];
    private final boolean offload;
    private final TcpSegmenter segmenter;
    private final TcpCoalescer coalescer;
    /** What the guest's driver took (agent's thread): buffers merged, and super-frames and checksums it takes. */
    private boolean mergeable, guestTso;
    private long framesIn, framesOut, malformed, waitingFull, undeliverable, ringsBroken;
    private long superFramesIn, superFramesOut, offloadRefused;
    /** {@link #nudgeIfStalled}: how long the guest may leave waiting frames untaken before it is signalled again. */
    private static final long STALL_NANOS = 200_000_000L;
    private long framesOutAtCheck, stalledSince, rxNudges;
    private Virtqueue stallQueue;
    private boolean stallLogged;
    /** Each segment of what the guest sent, cut by {@link TcpSegmenter}, goes to the agent as a frame of its own. */
    private final dev.ferry.agent.port.SegmentsToAgent toAgent = new dev.ferry.agent.port.SegmentsToAgent();
    /** A joined frame the guest cannot take now goes back to ordinary frames, in order. */
    private final TcpSegmenter.Sink toGuest = this::deliverFrame;
    private final byte[] announcement = new byte[60];
    /** Whether the last frame found the waiting queue full: one warning per overflow. */
    private boolean overflowing;
    /** A malformed buffer from this guest was logged: the next ones are counted only. */
    private boolean malformedLogged;
    /**
     * The receive queue started and nothing was written into it yet: the first write is told to the
     * agent ({@link Agent#onFirstFrameInRing}), once per start. With the agent and handle of the last poll.
     */
    private boolean firstWriteUntold;
    private Agent pollingAgent;
    private LocalPort pollingHandle;
    /** The queues whose breaking was counted and logged, so each is once. */
    private Virtqueue rxReported, txReported;

    /** Starts the vhost-user thread, which connects to QEMU's socket at {@code socket} (and again whenever it goes). */
    public VhostUserPort(VmKey key, String vmId, List<Integer> ips, PortPolicy policy, Path socket) {
        this(key, vmId, ips, policy, socket, true);
    }

    /** As above; {@code offload}: offer virtio-net's checksum and segmentation offloads and merged receive buffers. */
    public VhostUserPort(VmKey key, String vmId, List<Integer> ips, PortPolicy policy, Path socket, boolean offload) {
        this.offload = offload;
        this.segmenter = offload ? new TcpSegmenter(MAX_FRAME) : null;
        this.coalescer = offload ? new TcpCoalescer() : null;
        this.key = key;
        this.vmId = vmId;
        this.ips = List.copyOf(ips);
        this.policy = policy;
        this.socket = socket;
        try {
            this.commandPosted = Epoll.eventFd();
            wakeups.addEdgeTriggered(commandPosted); // never read: each post wakes once
        } catch (RuntimeException e) {
            wakeups.close();
            throw e;
        }
        this.backend = new VhostUserBackend(this, vmId, socket, key.mac(), offload);
        backend.start();
    }

    @Override public VmKey key() { return key; }
    @Override public String vmId() { return vmId; }
    @Override public List<Integer> ips() { return ips; }
    @Override public PortPolicy policy() { return policy; }

    // ------------------------------------------------------------------ agent's thread

    @Override
    public boolean deliver(byte[] buf, int offset, int length) {
        if (guestTso) {
            // Joined only straight into the guest's buffers: nothing joined ever waits.
            if (rx != null && waiting.isEmpty()) {
                if (coalescer.offer(buf, offset, length)) return true;
                flush();
                if (coalescer.offer(buf, offset, length)) return true;
            } else {
                flush();
            }
        }
        return deliverFrame(buf, offset, length);
    }

    /** Writes the frame being joined, if any, into the guest's buffers: the loop calls this at the end of every turn. */
    @Override
    public void flush() {
        if (coalescer == null) return;
        int segments = coalescer.segments();
        int n = coalescer.finish();
        if (n == 0) return;
        byte[] b = coalescer.buffer();
        if (segments == 1) {
            deliverFrame(b, VirtioNetHeader.LENGTH, n - VirtioNetHeader.LENGTH);
            return;
        }
        if (rx != null && waiting.isEmpty()) {
            // virtio_net_hdr_v1: the coalescer's header, then num_buffers (receiveMerged writes it).
            System.arraycopy(b, 0, staged, 0, VirtioNetHeader.LENGTH);
            System.arraycopy(b, VirtioNetHeader.LENGTH, staged, Virtqueue.NET_HEADER, n - VirtioNetHeader.LENGTH);
            if (rx.receiveMerged(memory, marking, staged, Virtqueue.NET_HEADER + n - VirtioNetHeader.LENGTH)
                    == Virtqueue.DELIVERED) {
                framesOut += segments;
                superFramesOut++;
                if (firstWriteUntold) tellFirstWrite();
                // This comes after the port's poll in the loop's turn: the guest must not wait for the next one to hear of it.
                rx.signal();
                return;
            }
        }
        // No room now: the segments again, each delivered (or waiting) as it came. They were joined
        // from whole frames, so cutting them cannot be refused; if it were, each would be counted.
        if (segmenter.segment(b, 0, VirtioNetHeader.LENGTH, n - VirtioNetHeader.LENGTH, toGuest) != null) undeliverable += segments;
    }

    /** One ordinary frame: into the guest's next buffer, or waiting for one. */
    private boolean deliverFrame(byte[] buf, int offset, int length) {
        if (length > MAX_FRAME) {
            undeliverable++;
            return false;
        }
        if (waiting.isEmpty() && rx != null) {
            int put = put(buf, offset, length);
            // One the guest's buffers cannot hold is the agent's to count too (drop_port_full).
            if (put != WAIT) return put == PUT;
        }
        if (waiting.offer(buf, offset, length)) {
            overflowing = false;
            return true;
        }
        waitingFull++;
        if (!overflowing) log.warn("port {}: {} frames wait for the VM, no room for more: dropping (waiting_full)", vmId, WAITING_FRAMES);
        overflowing = true;
        return false;
    }

    /** What {@link #put} did with a frame: in the guest's buffer, waits (no buffer yet), or refused (counted). */
    private static final int PUT = 0, WAIT = 1, REFUSED = 2;

    /** Into the guest's next buffer, or {@link #WAIT} when there is none; {@link #REFUSED} when no buffer of this guest holds it. */
    private int put(byte[] buf, int offset, int length) {
        System.arraycopy(buf, offset, staged, Virtqueue.NET_HEADER, length);
        // A plain frame's header: no offload asked, whole (num_buffers 1, or as receiveMerged sets it).
        java.util.Arrays.fill(staged, 0, Virtqueue.NET_HEADER, (byte) 0);
        staged[10] = 1;
        int r = mergeable ? rx.receiveMerged(memory, marking, staged, Virtqueue.NET_HEADER + length)
                : rx.receive(memory, marking, staged, Virtqueue.NET_HEADER + length);
        switch (r) {
            case Virtqueue.DELIVERED -> {
                framesOut++;
                if (firstWriteUntold) tellFirstWrite();
                return PUT;
            }
            case Virtqueue.NO_BUFFER -> {
                return WAIT;
            }
            default -> {
                undeliverable++;
                return REFUSED;
            }
        }
    }

    @Override
    public int readableFd() {
        return wakeups.fd();
    }

    @Override
    public boolean readyToSleep() {
        // What the kicks and posts seen so far announced is looked at below; only later ones wake the loop.
        wakeups.await(0);
        if (!commands.isEmpty()) return false;
        if (tx != null && tx.wantKicks(marking)) return false;
        // New buffers matter only to frames waiting for them.
        return rx == null || waiting.isEmpty() || !rx.wantKicks(marking);
    }

    private void tellFirstWrite() {
        firstWriteUntold = false;
        if (pollingAgent != null) pollingAgent.onFirstFrameInRing(pollingHandle, System.nanoTime());
    }

    @Override
    public int poll(Agent agent, LocalPort handle, long now) {
        if (!polled) polled = true;
        pollingAgent = agent;
        pollingHandle = handle;
        if (tx != null) tx.noKicks(marking);
        if (rx != null) rx.noKicks(marking);
        // Nothing joined may be pending when a queue stops or the features change.
        if (!commands.isEmpty()) flush();
        for (Posted p; (p = commands.poll()) != null; ) {
            int answer;
            try {
                answer = execute(p.command(), agent, handle, now);
            } catch (RuntimeException e) {
                log.warn("port {}: {} failed: {}", vmId, p.command(), e.toString());
                answer = -1;
            }
            p.done().complete(answer);
        }
        if (rx != null) {
            while (!waiting.isEmpty() && put(waiting.first(), 0, waiting.firstLength()) != WAIT) waiting.remove();
            rx.signal();
            if (rx.isBroken() && rxReported != rx) rxReported = brokenRing(rx, "receive");
            nudgeIfStalled(now);
        }
        int n = 0;
        if (tx != null) {
            toAgent.polling(agent, handle, now);
            for (; n < MAX_FRAMES_PER_POLL; n++) {
                int length = tx.transmit(memory, marking, sent);
                if (length == -1) break;
                if (length < Virtqueue.NET_HEADER) {
                    malformed++;
                    if (!malformedLogged) {
                        malformedLogged = true;
                        log.warn("port {}: the guest offered a malformed transmit buffer (descriptor chain, address or length);"
                                + " returned unread, further ones are counted only (ferry_port_drops{{direction=\"in\"}})", vmId);
                    }
                    continue;
                }
                if (!offload) {
                    framesIn++;
                    agent.onPortFrame(handle, sent, Virtqueue.NET_HEADER, length - Virtqueue.NET_HEADER, now);
                } else if (segmenter.segment(sent, 0, Virtqueue.NET_HEADER, length - Virtqueue.NET_HEADER, toAgent) != null) {
                    offloadRefused++;
                } else if (VirtioNetHeader.gsoType(sent, 0) != VirtioNetHeader.GSO_NONE) {
                    superFramesIn++;
                }
            }
            tx.signal();
            if (tx.isBroken() && txReported != tx) txReported = brokenRing(tx, "transmit");
        }
        return n;
    }

    /**
     * Frames wait and the guest has taken none of its buffers back for {@link #STALL_NANOS}: its
     * receive ring is full of frames it was told of and never read. A guest that missed that signal
     * (seen under TCG right after a migration: its interrupt never came, and a guest that is told of
     * nothing reads nothing) would wait for ever, so it is told again, once per stall period, and
     * counted ({@link #rxNudges}). A spurious signal costs a guest one look at its ring.
     */
    private void nudgeIfStalled(long now) {
        // A queue that just started was signalled as it started: its stall period starts then.
        if (waiting.isEmpty() || framesOut != framesOutAtCheck || rx != stallQueue) {
            stallQueue = rx;
            framesOutAtCheck = framesOut;
            stalledSince = now;
            stallLogged = false;
            return;
        }
        if (now - stalledSince < STALL_NANOS) return;
        stalledSince = now;
        rxNudges++;
        if (!stallLogged) {
            stallLogged = true;
            log.warn("port {}: the guest has taken no frame for {} ms with {} waiting; signalled it again (nudges; its call eventfd {},"
                    + " {} signals lost); QEMU's last messages:{}", vmId, STALL_NANOS / 1_000_000, waiting.size(), rx.callFd(),
                    rx.signalsLost(), backend.recent.describe(now));
        }
        rx.forceSignal();
    }

    /**
     * The guest published more buffers than its ring holds: no driver does. That queue stops, as
     * QEMU stops a device it finds broken, until the guest's reset starts it again; this port's other
     * queue, the agent's other ports and the underlay go on.
     */
    private Virtqueue brokenRing(Virtqueue q, String which) {
        ringsBroken++;
        log.warn("port {}: the guest broke its {} ring (avail index more than the ring's {} ahead); the queue is stopped"
                + " until the guest resets the device; QEMU's last messages:{}", vmId, which, q.setup.size(),
                backend.recent.describe(System.nanoTime()));
        return q;
    }

    private int execute(DeviceCommand command, Agent agent, LocalPort handle, long now) {
        return switch (command) {
            case DeviceCommand.MapMemory m -> {
                GuestMemory old = memory;
                memory = m.memory();
                rx = remap(rx);
                tx = remap(tx);
                if (old != null) old.close();
                yield 0;
            }
            case DeviceCommand.LogBase l -> {
                DirtyLog old = dirtyLog;
                dirtyLog = l.log();
                marking = logging ? dirtyLog : null;
                if (old != null) old.close();
                yield 0;
            }
            case DeviceCommand.Features f -> {
                logging = (f.acked() & VhostUserBackend.F_LOG_ALL) != 0;
                marking = logging ? dirtyLog : null;
                mergeable = offload && (f.acked() & VhostUserBackend.F_MRG_RXBUF) != 0;
                // Joined frames go only to a driver that takes both kinds and merges buffers for them.
                long joins = VhostUserBackend.F_GUEST_CSUM | VhostUserBackend.F_GUEST_TSO4 | VhostUserBackend.F_GUEST_TSO6;
                guestTso = mergeable && (f.acked() & joins) == joins;
                yield 0;
            }
            case DeviceCommand.StartQueue s -> {
                int index = s.setup().index();
                StringBuilder why = new StringBuilder();
                Virtqueue q = memory == null || index < 0 || index > 1 ? null
                        : Virtqueue.start(s.setup(), memory, marking, s.callFd(), why);
                if (q == null) {
                    log.warn("port {}: queue {} cannot start: {}", vmId, index, memory == null ? "no memory table" : why);
                    s.release();
                    yield -1;
                }
                if (q.usedLag() != 0) {
                    log.warn("port {}: queue {} starts at {} but the guest's used index is {}: its memory lacks the last returned buffers",
                            vmId, index, s.setup().base(), s.setup().base() - q.usedLag() & 0xFFFF);
                    if (agent != null) agent.onRingBehind();
                }
                letGo(index);
                if (index == 0) rx = q;
                else tx = q;
                if (index == 0 && !s.restart()) firstWriteUntold = true;
                callFds[index] = s.callFd();
                watchKicks(index, s.kickFd());
                if (agent != null && !s.restart()) agent.onRings(handle, true, now);
                // Buffers the VM's last copy filled after its last signal: tell the guest now.
                q.forceSignal();
                yield 0;
            }
            case DeviceCommand.StopQueue s -> {
                Virtqueue q = s.index() == 0 ? rx : tx;
                if (s.index() == 0) rx = null;
                else tx = null;
                letGo(s.index());
                if (agent != null && q != null && !s.restart()) agent.onRings(handle, false, now);
                yield q == null ? -1 : q.lastAvail();
            }
            case DeviceCommand.CallFd c -> {
                Virtqueue q = c.index() == 0 ? rx : tx;
                if (q == null) {
                    c.release();
                } else {
                    q.callFd(c.fd());
                    Libc.close(callFds[c.index()]);
                    callFds[c.index()] = c.fd();
                    // QEMU starts a queue with its masked notifier and unmasks it with this message, dropping what
                    // the masked one got: a guest whose ring filled meanwhile would never hear of its frames.
                    q.forceSignal();
                }
                yield 0;
            }
            case DeviceCommand.KickFd k -> {
                if ((k.index() == 0 ? rx : tx) != null) watchKicks(k.index(), k.fd());
                else k.release();
                yield 0;
            }
            case DeviceCommand.Announce a -> {
                int length = Arp.write(announcement, 0, Ethernet.TYPE_RARP, Arp.OP_RARP_REQUEST, Ethernet.BROADCAST, a.mac(), 0, a.mac(), 0);
                java.util.Arrays.fill(announcement, length, announcement.length, (byte) 0);
                agent.onPortFrame(handle, announcement, 0, announcement.length, now);
                yield 0;
            }
            case DeviceCommand.Reset r -> {
                reset();
                yield 0;
            }
        };
    }

    private Virtqueue remap(Virtqueue q) {
        if (q == null) return null;
        StringBuilder why = new StringBuilder();
        Virtqueue moved = q.remap(memory, marking, why);
        if (moved == null) log.warn("port {}: queue {} stops: {}", vmId, q.setup.index(), why);
        return moved;
    }

    /**
     * The loop wakes on the guest's kicks of queue {@code index} at {@code fd} from now on (-1: on
     * none); the old eventfd is forgotten and closed. One the set refuses leaves the queue looked at
     * on the loop's timer tick instead (logged).
     */
    private void watchKicks(int index, int fd) {
        if (kickFds[index] >= 0) {
            wakeups.remove(kickFds[index]);
            Libc.close(kickFds[index]);
        }
        kickFds[index] = fd;
        if (fd < 0) return;
        try {
            wakeups.addEdgeTriggered(fd);
        } catch (IllegalStateException e) {
            log.warn("port {}: queue {}'s kicks cannot wake the agent's loop ({}); it looks at the ring every millisecond instead",
                    vmId, index, e.getMessage());
        }
    }

    /** Queue {@code index} is gone (or about to be replaced): its eventfds are closed, after nothing signals them any more. */
    private void letGo(int index) {
        watchKicks(index, -1);
        Libc.close(callFds[index]);
        callFds[index] = -1;
    }

    private void reset() {
        rx = null;
        tx = null;
        letGo(0);
        letGo(1);
        logging = false;
        marking = null;
        mergeable = false;
        guestTso = false;
        if (memory != null) memory.close();
        if (dirtyLog != null) dirtyLog.close();
        memory = null;
        dirtyLog = null;
    }

    /**
     * Frames that wait for the VM: handed back when its source copy has stopped (its receive queue
     * stopped with it, so none of them reached the guest), for the agent to send to the VM's new place.
     */
    @Override
    public void takeBackUnread(Consumer<byte[]> frames) {
        flush();
        waiting.drainTo(frames);
    }

    // ------------------------------------------------------------------ vhost-user thread

    /**
     * Runs {@code command} on the agent's thread and returns its answer; {@code fallback} when the port
     * is not polled (not plugged yet, or closed). A port the agent polls gets its answer even if the
     * loop is slow to come round (a loaded machine): QEMU waits for it, and an answer made up instead
     * — a queue's stop index above all — would resume the VM's next copy at the wrong place in its
     * ring. Only past {@link #APPLY_LIMIT_MILLIS} does it give up.
     */
    int apply(DeviceCommand command, int fallback) {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        if (!commands.offer(new Posted(command, done))) {
            log.warn("port {}: device command queue full; {} not applied", vmId, command);
            command.release();
            return fallback;
        }
        wakeLoop();
        long started = System.nanoTime();
        try {
            for (;;) {
                try {
                    return done.get(APPLY_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.TimeoutException e) {
                    long waited = (System.nanoTime() - started) / 1_000_000;
                    if (!polled || closed || waited >= APPLY_LIMIT_MILLIS) {
                        log.warn("port {}: the agent did not apply {} within {} ms ({}); answering without it", vmId, command, waited,
                                polled ? "the agent's loop did not come round" : "the port is not plugged");
                        return fallback;
                    }
                    log.warn("port {}: the agent's loop has not applied {} for {} ms; QEMU waits for it", vmId, command, waited);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fallback;
        } catch (java.util.concurrent.ExecutionException e) {
            return fallback;
        }
    }

    /** Posts {@code command} without waiting for it. */
    void post(DeviceCommand command) {
        if (!commands.offer(new Posted(command, new CompletableFuture<>()))) {
            log.warn("port {}: device command queue full; {} not applied", vmId, command);
            command.release();
            return;
        }
        wakeLoop();
    }

    /** Ends the loop's sleep, after a command was posted where {@link #readyToSleep} looks. Rare: QEMU's messages, not frames. */
    private void wakeLoop() {
        synchronized (closing) {
            if (!closed) Epoll.signal(commandPosted);
        }
    }

    // ------------------------------------------------------------------ any thread

    @Override public String kind() { return "vhost-user"; }

    @Override
    public String describe() {
        return "vhost-user " + socket + " (" + backend.state() + (offload ? "; checksum and TSO offload offered" : "") + ")";
    }

    @Override public long framesIn() { return framesIn + toAgent.frames(); }
    @Override public long framesOut() { return framesOut; }
    /** Buffers from the guest that were malformed (chains, lengths): returned unread; and super-frames refused whole. */
    @Override public long inDropped() { return malformed + offloadRefused; }
    @Override public long superFramesIn() { return superFramesIn; }
    @Override public long superFramesOut() { return superFramesOut; }
    /** Frames for the VM dropped: its waiting queue full, or too long for any buffer it offers. */
    @Override public long outDropped() { return waitingFull + undeliverable; }

    @Override public long nudges() { return rxNudges; }
    @Override public int unread() { return waiting.size() + (coalescer == null ? 0 : coalescer.segments()); }

    /** Queues the guest broke (an avail index more than a ring ahead), each stopped until the device is reset. */
    @Override public long faults() { return ringsBroken; }

    /** Frames dropped because the waiting queue was full. */
    public long waitingFull() { return waitingFull; }

    /** Ends the vhost-user thread (QEMU sees the backend go) and unmaps the VM's memory. */
    @Override
    public void close() {
        synchronized (closing) {
            closed = true;
        }
        backend.close();
        reset();
        // Commands never applied give back what they hold (descriptors, mappings).
        for (Posted p; (p = commands.poll()) != null; ) p.command().release();
        Libc.close(commandPosted);
        wakeups.close();
    }
}
