package dev.ferry.agent.port.vhost;

import dev.ferry.agent.port.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The vhost-user protocol's back-end side for one VM's NIC (QEMU's docs/interop/vhost-user.rst):
 * a thread that connects to QEMU's socket (QEMU is the server, so either side may restart), answers
 * its messages and turns those that change the device into {@link DeviceCommand}s for the agent's
 * thread. One receive and one transmit queue; no offloads; the protocol features are those a
 * migration needs: a shared dirty log ({@code LOG_SHMFD}) and announcing the VM ({@code RARP}).
 */
final class VhostUserBackend implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(VhostUserBackend.class);

    // Requests (front-end to back-end).
    static final int GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, RESET_OWNER = 4, SET_MEM_TABLE = 5, SET_LOG_BASE = 6,
            SET_LOG_FD = 7, SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10, GET_VRING_BASE = 11, SET_VRING_KICK = 12,
            SET_VRING_CALL = 13, SET_VRING_ERR = 14, GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16, GET_QUEUE_NUM = 17,
            SET_VRING_ENABLE = 18, SEND_RARP = 19;

    /** The device's MTU is in its config space (QEMU's {@code host_mtu}): the guest may take jumbo frames. */
    static final long F_MTU = 1L << 3;
    // virtio-net offloads (virtio 1.x, 5.1.3): checksums and TCP segmentation both ways.
    static final long F_CSUM = 1L, F_GUEST_CSUM = 1L << 1, F_GUEST_TSO4 = 1L << 7, F_GUEST_TSO6 = 1L << 8,
            F_HOST_TSO4 = 1L << 11, F_HOST_TSO6 = 1L << 12, F_HOST_ECN = 1L << 13;
    /** The guest's receive buffers may be merged: one frame over several ({@code num_buffers}). */
    static final long F_MRG_RXBUF = 1L << 15;
    /**
     * With offloads: the guest hands over TCP super-frames and unfinished checksums (cut and
     * completed by the port), and takes joined ones into merged buffers of ordinary size.
     */
    static final long OFFLOADS = F_CSUM | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_TSO4 | F_HOST_TSO6 | F_HOST_ECN
            | F_MRG_RXBUF;
    static final long F_LOG_ALL = 1L << 26;
    static final long F_PROTOCOL_FEATURES = 1L << 30;
    static final long F_VERSION_1 = 1L << 32;
    /**
     * What this back-end offers without offloads: a modern virtio-net device, loggable for migration,
     * whose MTU QEMU may set ({@code host_mtu=9000}: the guest then offers buffers for jumbo frames).
     */
    static final long FEATURES = F_VERSION_1 | F_PROTOCOL_FEATURES | F_LOG_ALL | F_MTU;
    static final long PROTOCOL_F_LOG_SHMFD = 1L << 1;
    static final long PROTOCOL_F_RARP = 1L << 2;
    static final long PROTOCOL_FEATURES = PROTOCOL_F_LOG_SHMFD | PROTOCOL_F_RARP;

    private static final int VERSION = 0x1;
    private static final int FLAG_REPLY = 0x4;
    private static final int FLAG_NEED_REPLY = 0x8;
    private static final int HEADER = 12;
    private static final int MAX_PAYLOAD = 4096 - HEADER;
    /** Room for one message, header and payload. */
    static final int MESSAGE_BYTES = HEADER + MAX_PAYLOAD;
    private static final long NO_FD = 0x100;
    /** What {@link #stop} gets when the agent's thread did not apply the stop (a queue that did not run answers -1). */
    private static final int UNANSWERED = -2;
    private static final int QUEUES = 2;
    private static final long RETRY_MILLIS = 100;

    /** A queue as QEMU has described it so far (this thread's own). */
    private static final class Ring {
        int num;
        long desc, avail, used, usedLog;
        boolean logUsed;
        int base;
        int kickFd = -1, callFd = -1;
        boolean started, enabled, running;
    }

    private final VhostUserPort device;
    private final String vmId;
    private final Path socket;
    private final long mac;
    /** Whether {@link #OFFLOADS} are offered. */
    private final boolean offload;
    private final Thread thread;
    private final Ring[] rings = {new Ring(), new Ring()};
    private volatile boolean closed;
    private volatile UnixStream stream;
    private volatile String state = "waiting for QEMU";
    private boolean protocolFeatures;
    /** The features QEMU set last: the agent's, once applied (its reset clears them as this does). */
    private long acked;
    /** QEMU's last messages, for a port that finds its guest's ring in a state no driver leaves it in. */
    final RecentMessages recent = new RecentMessages();

    VhostUserBackend(VhostUserPort device, String vmId, Path socket, long mac, boolean offload) {
        this.device = device;
        this.offload = offload;
        this.vmId = vmId;
        this.socket = socket;
        this.mac = mac;
        this.thread = new Thread(this::run, "vhost-user-" + vmId);
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** "waiting for QEMU", "connected", "queues running", ... for {@code ferry ctl port list}. */
    String state() {
        return state;
    }

    private void run() {
        boolean told = false;
        while (!closed) {
            UnixStream s;
            try {
                s = UnixStream.connect(socket);
            } catch (IOException e) {
                if (!told) log.info("port {}: waiting for QEMU's vhost-user socket {} ({})", vmId, socket, e.getMessage());
                told = true;
                sleep();
                continue;
            }
            stream = s;
            if (closed) s.shutdown();
            state = "connected";
            log.info("port {}: vhost-user connected to QEMU at {}", vmId, socket);
            try (Arena arena = Arena.ofConfined()) {
                serve(s, arena.allocate(MESSAGE_BYTES, 8));
            } catch (IOException | RuntimeException e) {
                if (!closed) log.warn("port {}: vhost-user session ended: {}", vmId, e.toString());
            } finally {
                stream = null;
                s.close();
                disconnected();
            }
            told = false;
            if (!closed) {
                log.info("port {}: QEMU closed the vhost-user socket; waiting for it again", vmId);
                state = "waiting for QEMU";
            }
            sleep();
        }
    }

    /** Answers QEMU's messages on {@code s} until it ends; {@code msg} holds one message. The session's loop, and the fuzz target's. */
    void serve(UnixStream s, MemorySegment msg) throws IOException {
        int[] fds = new int[UnixStream.MAX_FDS];
        MemorySegment payload = msg.asSlice(HEADER);
        for (;;) {
            int nfds = s.receive(msg, HEADER, fds);
            if (nfds < 0) return;
            int request = msg.get(ValueLayout.JAVA_INT, 0);
            int flags = msg.get(ValueLayout.JAVA_INT, 4);
            int size = msg.get(ValueLayout.JAVA_INT, 8);
            int[] received = java.util.Arrays.copyOf(fds, nfds);
            if (size < 0 || size > MAX_PAYLOAD) {
                closeAll(received);
                throw new IOException("message " + request + " of " + size + " bytes");
            }
            if (size > 0) {
                int[] late = new int[UnixStream.MAX_FDS];
                int more;
                try {
                    more = s.receive(payload, size, late);
                } catch (IOException e) {
                    closeAll(received);
                    throw e;
                }
                // Descriptors come with the header; any sent with the payload belong to no request.
                closeAll(java.util.Arrays.copyOf(late, Math.max(more, 0)));
                if (more < 0) {
                    closeAll(received);
                    return;
                }
            }
            if (!takesDescriptors(request)) {
                // A message that carries none may still be sent with some: they would leak.
                closeAll(received);
                received = new int[0];
            }
            recent.add(request, size >= 8 ? payload.get(ValueLayout.JAVA_LONG_UNALIGNED, 0) : 0, received.length);
            long answer = handle(request, payload, received);
            if (answer != NO_ANSWER) {
                reply(s, msg, request, answer);
            } else if ((flags & FLAG_NEED_REPLY) != 0) {
                reply(s, msg, request, 0);
            }
        }
    }

    /** The requests whose descriptors {@link #handle} takes (or closes itself). */
    private static boolean takesDescriptors(int request) {
        return switch (request) {
            case SET_MEM_TABLE, SET_LOG_BASE, SET_LOG_FD, SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR -> true;
            default -> false;
        };
    }

    /** What {@link #handle} returns when the request has no reply. */
    private static final long NO_ANSWER = Long.MIN_VALUE;
    /** A reply whose payload {@link #handle} already wrote as a vring state (index, number). */
    private static final long STATE_ANSWER = Long.MIN_VALUE + 1;

    private long handle(int request, MemorySegment p, int[] fds) throws IOException {
        return switch (request) {
            case GET_FEATURES -> offload ? FEATURES | OFFLOADS : FEATURES;
            case GET_PROTOCOL_FEATURES -> PROTOCOL_FEATURES;
            case GET_QUEUE_NUM -> 1;
            case SET_PROTOCOL_FEATURES -> {
                protocolFeatures = true;
                yield NO_ANSWER;
            }
            case SET_OWNER -> NO_ANSWER;
            case SET_FEATURES -> {
                long features = p.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
                boolean logFrom = (features & F_LOG_ALL) != 0 && (acked & F_LOG_ALL) == 0;
                acked = features;
                // QEMU turns the dirty log on and then waits for a reply (to this, or to the GET_FEATURES it sends after
                // it) before it copies the VM's memory: that reply must mean the agent logs. A write into the guest
                // it did not log would leave a page of the VM's next copy as it was (a used ring behind, a guest that
                // takes a buffer back twice and crashes). Everything else is posted.
                if (logFrom) device.apply(new DeviceCommand.Features(features), 0);
                else device.post(new DeviceCommand.Features(features));
                yield NO_ANSWER;
            }
            case RESET_OWNER -> {
                device.apply(new DeviceCommand.Reset(), 0);
                resetRings();
                acked = 0;
                yield NO_ANSWER;
            }
            case SET_MEM_TABLE -> setMemTable(p, fds);
            case SET_LOG_BASE -> setLogBase(p, fds);
            // This back-end never signals either: it logs into shared memory and reports no ring errors.
            case SET_LOG_FD, SET_VRING_ERR -> {
                closeAll(fds);
                yield NO_ANSWER;
            }
            case SET_VRING_NUM -> {
                ring(p.get(ValueLayout.JAVA_INT_UNALIGNED, 0)).num = p.get(ValueLayout.JAVA_INT_UNALIGNED, 4);
                yield NO_ANSWER;
            }
            case SET_VRING_BASE -> {
                ring(p.get(ValueLayout.JAVA_INT_UNALIGNED, 0)).base = p.get(ValueLayout.JAVA_INT_UNALIGNED, 4);
                yield NO_ANSWER;
            }
            case SET_VRING_ADDR -> setVringAddr(p);
            case SET_VRING_KICK -> setVringKick(p.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), fds);
            case SET_VRING_CALL -> setVringCall(p.get(ValueLayout.JAVA_LONG_UNALIGNED, 0), fds);
            case SET_VRING_ENABLE -> {
                int index = p.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
                ring(index).enabled = p.get(ValueLayout.JAVA_INT_UNALIGNED, 4) != 0;
                if (ring(index).enabled) maybeStart(index);
                else stop(index);
                yield NO_ANSWER;
            }
            case GET_VRING_BASE -> getVringBase(p);
            case SEND_RARP -> sendRarp(p);
            default -> {
                closeAll(fds);
                log.warn("port {}: vhost-user request {} not supported; ignored", vmId, request);
                yield NO_ANSWER;
            }
        };
    }

    private long setMemTable(MemorySegment p, int[] fds) throws IOException {
        int n = p.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        if (n < 0 || n > UnixStream.MAX_FDS || n != fds.length) {
            closeAll(fds);
            throw new IOException("memory table of " + n + " regions with " + fds.length + " descriptors");
        }
        GuestMemory.Region[] regions = new GuestMemory.Region[n];
        for (int i = 0; i < n; i++) {
            long at = 8 + 32L * i;
            regions[i] = new GuestMemory.Region(p.get(ValueLayout.JAVA_LONG_UNALIGNED, at), p.get(ValueLayout.JAVA_LONG_UNALIGNED, at + 8),
                    p.get(ValueLayout.JAVA_LONG_UNALIGNED, at + 16), p.get(ValueLayout.JAVA_LONG_UNALIGNED, at + 24));
        }
        device.post(new DeviceCommand.MapMemory(GuestMemory.map(regions, fds)));
        log.debug("port {}: guest memory mapped, {} region(s)", vmId, n);
        return NO_ANSWER;
    }

    /** QEMU waits for this one's reply: from then on it may read the log. */
    private long setLogBase(MemorySegment p, int[] fds) throws IOException {
        if (fds.length != 1) {
            closeAll(fds);
            throw new IOException("dirty log without its descriptor");
        }
        long size = p.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        device.apply(new DeviceCommand.LogBase(DirtyLog.map(fds[0], size, p.get(ValueLayout.JAVA_LONG_UNALIGNED, 8))), 0);
        log.debug("port {}: dirty log of {} bytes", vmId, size);
        return 0;
    }

    private long setVringAddr(MemorySegment p) throws IOException {
        int index = p.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        Ring r = ring(index);
        r.logUsed = (p.get(ValueLayout.JAVA_INT_UNALIGNED, 4) & 1) != 0;
        r.desc = p.get(ValueLayout.JAVA_LONG_UNALIGNED, 8);
        r.used = p.get(ValueLayout.JAVA_LONG_UNALIGNED, 16);
        r.avail = p.get(ValueLayout.JAVA_LONG_UNALIGNED, 24);
        r.usedLog = p.get(ValueLayout.JAVA_LONG_UNALIGNED, 32);
        // QEMU turns used-ring logging on and off while the queue runs: restart it where it is.
        if (r.running) {
            stop(index, true);
            maybeStart(index, true);
        }
        return NO_ANSWER;
    }

    private long setVringKick(long u, int[] fds) throws IOException {
        int index = (int) (u & 0xFF);
        int fd = theDescriptor(u, fds);
        Ring r = ringOrClose(index, fd);
        // The agent's loop watches the kicks while it sleeps (its own duplicate), never reads them.
        if (r.running) device.post(new DeviceCommand.KickFd(index, copyForTheAgent(fd, index, "kick")));
        Libc.close(r.kickFd);
        r.kickFd = fd;
        r.started = true;
        maybeStart(index);
        return NO_ANSWER;
    }

    private long setVringCall(long u, int[] fds) throws IOException {
        int index = (int) (u & 0xFF);
        int fd = theDescriptor(u, fds);
        Ring r = ringOrClose(index, fd);
        int old = r.callFd;
        // QEMU starts a queue on its masked notifier and then unmasks it with this message (the port signals the new one at
        // once); no eventfd at all means a guest never signalled, worth seeing at the default level.
        if (fd < 0) log.warn("port {}: QEMU gives queue {} no call eventfd: its guest will not be signalled", vmId, index);
        else log.debug("port {}: queue {}'s call eventfd is {} ({}running)", vmId, index, fd, r.running ? "" : "not ");
        r.callFd = fd;
        // The queue signals its own duplicate, which it closes when it lets go of it: this one may close now.
        if (r.running) device.post(new DeviceCommand.CallFd(index, copyForTheAgent(r.callFd, index, "call")));
        Libc.close(old);
        return NO_ANSWER;
    }

    /** The stop that matters for a migration: after it, no frame enters the guest here. */
    private long getVringBase(MemorySegment p) throws IOException {
        int index = p.get(ValueLayout.JAVA_INT_UNALIGNED, 0);
        Ring r = ring(index);
        stop(index);
        r.started = false;
        Libc.close(r.kickFd);
        r.kickFd = -1;
        p.set(ValueLayout.JAVA_INT_UNALIGNED, 4, r.base);
        log.debug("port {}: queue {} stopped at {}", vmId, index, r.base);
        return STATE_ANSWER;
    }

    private long sendRarp(MemorySegment p) {
        // Six bytes of MAC in network order at the start of the field.
        long m = 0;
        for (int i = 0; i < 6; i++) m = (m << 8) | (p.get(ValueLayout.JAVA_BYTE, i) & 0xFF);
        if (m != mac) log.warn("port {}: QEMU announces {} but the port is {}", vmId, Long.toHexString(m), Long.toHexString(mac));
        log.debug("port {}: QEMU asks for the VM's announcement", vmId);
        device.post(new DeviceCommand.Announce(m));
        return NO_ANSWER;
    }

    /** Ring {@code index}; for a queue this back-end does not have, {@code fd} is closed and the message refused. */
    private Ring ringOrClose(int index, int fd) throws IOException {
        try {
            return ring(index);
        } catch (IOException e) {
            Libc.close(fd);
            throw e;
        }
    }

    private Ring ring(int index) throws IOException {
        if (index < 0 || index >= QUEUES) throw new IOException("queue " + index + " (this back-end has " + QUEUES + ")");
        return rings[index];
    }

    /** Starts queue {@code index} on the agent's thread once QEMU has given its kick and, with protocol features, enabled it. */
    private void maybeStart(int index) {
        maybeStart(index, false);
    }

    private void maybeStart(int index, boolean restart) {
        Ring r = rings[index];
        if (r.running || !r.started || (protocolFeatures && !r.enabled)) return;
        var setup = new Virtqueue.Setup(index, r.num, r.desc, r.avail, r.used, r.usedLog, r.logUsed, r.base);
        // Posted, not waited for. A queue the agent cannot start (its rings outside the memory) is logged there, and
        // its stop then answers -1, which leaves the base where QEMU set it: right, since it never ran.
        device.post(new DeviceCommand.StartQueue(setup, copyForTheAgent(r.callFd, index, "call"), copyForTheAgent(r.kickFd, index, "kick"),
                restart));
        r.running = true;
        log.debug("port {}: queue {} starts from {}", vmId, index, r.base);
        state = rings[0].running && rings[1].running ? "queues running" : "connected";
        // Where a migrated VM's first frames wait after its resume: QEMU's start of the device, message by message.
        if (!restart && rings[0].running && rings[1].running && log.isDebugEnabled()) {
            log.debug("port {}: both queues start; QEMU's last messages:{}", vmId, recent.describe(System.nanoTime()));
        }
    }

    /**
     * The agent's thread's own duplicate of a queue's eventfd, which it closes when done with it; -1
     * for none. One that cannot be made (the process is out of descriptors) is said, not passed over:
     * without its call eventfd the guest is never signalled, without its kick the loop looks at the
     * ring only on its tick.
     */
    private int copyForTheAgent(int fd, int index, String which) {
        int copy = Libc.dup(fd);
        if (fd >= 0 && copy < 0) {
            log.warn("port {}: no duplicate of queue {}'s {} eventfd for the agent's thread (out of descriptors?); the queue runs"
                    + " without it", vmId, index, which);
        }
        return copy;
    }

    /** Stops queue {@code index} on the agent's thread; its base becomes where the agent stopped. */
    private void stop(int index) throws IOException {
        stop(index, false);
    }

    private void stop(int index, boolean restart) throws IOException {
        Ring r = rings[index];
        if (!r.running) return;
        int at = device.apply(new DeviceCommand.StopQueue(index, restart), UNANSWERED);
        // The index QEMU carries to the VM's next copy: one the queue may have passed would have that copy fill
        // buffers its guest already took back (frames twice, out of order, a ring the guest sees broken).
        if (at == UNANSWERED) {
            throw new IOException("the agent did not say where queue " + index + " stopped; ending the session rather than give QEMU"
                    + " an index the queue may have passed");
        }
        if (at >= 0) r.base = at;
        r.running = false;
        state = "queues stopped";
    }

    private void resetRings() {
        for (int i = 0; i < QUEUES; i++) {
            Ring r = rings[i];
            Libc.close(r.kickFd);
            Libc.close(r.callFd);
            rings[i] = new Ring();
        }
    }

    /** QEMU went: every ring and descriptor of the session goes, and the device is reset. */
    void disconnected() {
        // The agent's thread lets go of the queues first: a call eventfd closed while a queue still signals it is a
        // descriptor number the process may give to anything next, which the signal would then write 8 bytes into.
        if (!closed) device.apply(new DeviceCommand.Reset(), 0);
        resetRings();
        protocolFeatures = false;
        acked = 0;
    }

    private static void reply(UnixStream s, MemorySegment msg, int request, long answer) throws IOException {
        msg.set(ValueLayout.JAVA_INT, 0, request);
        msg.set(ValueLayout.JAVA_INT, 4, VERSION | FLAG_REPLY);
        msg.set(ValueLayout.JAVA_INT, 8, 8);
        if (answer != STATE_ANSWER) msg.set(ValueLayout.JAVA_LONG_UNALIGNED, HEADER, answer);
        s.send(msg, HEADER + 8);
    }

    /** The one descriptor a ring's kick or call message carries, -1 with its no-descriptor flag; any others are closed. */
    private static int theDescriptor(long u, int[] fds) {
        int kept = (u & NO_FD) == 0 && fds.length > 0 ? fds[0] : -1;
        for (int fd : fds) if (fd != kept) Libc.close(fd);
        return kept;
    }

    private static void closeAll(int[] fds) {
        for (int fd : fds) Libc.close(fd);
    }

    private void sleep() {
        try {
            Thread.sleep(RETRY_MILLIS);
        } catch (InterruptedException e) {
            closed = true;
        }
    }

    /** Disconnects from QEMU and ends the thread. */
    @Override
    public void close() {
        closed = true;
        UnixStream s = stream;
        if (s != null) s.shutdown();
        thread.interrupt();
        try {
            thread.join(3_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
