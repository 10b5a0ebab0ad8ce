package dev.ferry.agent.port.vhost;

import dev.ferry.agent.port.Libc;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * One running split virtqueue (virtio 1.x, section 2.7) of the VM's NIC, served by this backend:
 * the guest offers buffers in the available ring, the backend fills (receive queue) or reads
 * (transmit queue) them and returns them in the used ring, then signals the guest's call eventfd.
 * The backend polls the available ring on every turn of the agent's loop, so it asks the guest not
 * to kick it ({@code VRING_USED_F_NO_NOTIFY}), except while the loop sleeps ({@link #wantKicks}).
 * Agent's thread only; no allocation per frame.
 */
final class Virtqueue {
    /** virtio_net_hdr_v1: the 12 bytes ahead of every frame in both directions. */
    static final int NET_HEADER = 12;
    /** What {@link #receive} says. */
    static final int DELIVERED = 0, NO_BUFFER = 1, TOO_SMALL = 2, BROKEN = 3;

    private static final int DESC_F_NEXT = 1, DESC_F_WRITE = 2, DESC_F_INDIRECT = 4;
    private static final short USED_F_NO_NOTIFY = 1;
    private static final int AVAIL_F_NO_INTERRUPT = 1;
    private static final VarHandle U16 = ValueLayout.JAVA_SHORT.varHandle();

    /** Where QEMU says the rings are (its own virtual addresses) and where the backend starts. */
    record Setup(int index, int size, long desc, long avail, long used, long usedLog, boolean logUsed, int base) {}

    final Setup setup;
    private final int size;
    private final MemorySegment desc, avail, used;
    private final long usedGuestAddress;
    /**
     * One receive chain as {@link #receive} read it, descriptor by descriptor: the guest may rewrite
     * its descriptors at any time, so they are read once and what was read is used.
     */
    private final long[] chainAddress;
    private final int[] chainLength;
    /** {@link #receiveMerged}'s buffers: each one's head and where its descriptors end in {@link #chainAddress}. */
    private final int[] mergedHead, mergedEnd;
    /** What {@link #gather} found the chains it read hold, in bytes. */
    private long gatheredBytes;
    private int callFd;
    private int lastAvail;
    private boolean broken;
    private int usedIdx;
    private boolean unsignalled;
    private long signalsLost;
    /** The guest was asked to kick ({@link #wantKicks}) and not yet told it need not. */
    private boolean kicksWanted;

    private Virtqueue(Setup setup, MemorySegment desc, MemorySegment avail, MemorySegment used, long usedGuestAddress, int callFd) {
        this.setup = setup;
        this.size = setup.size();
        this.chainAddress = new long[size];
        this.chainLength = new int[size];
        this.mergedHead = new int[size];
        this.mergedEnd = new int[size];
        this.desc = desc;
        this.avail = avail;
        this.used = used;
        this.usedGuestAddress = usedGuestAddress;
        this.callFd = callFd;
        this.lastAvail = setup.base() & 0xFFFF;
        // After a migration the used index is wherever the last copy's backend left it, in guest memory.
        this.usedIdx = Short.toUnsignedInt((short) U16.getAcquire(used, 2L));
    }

    /** The queue over {@code memory}; null, with {@code why} filled, when QEMU's addresses are not in it. */
    static Virtqueue start(Setup s, GuestMemory memory, DirtyLog log, int callFd, StringBuilder why) {
        if (s.size() <= 0 || s.size() > 32_768 || Integer.bitCount(s.size()) != 1) {
            why.append("queue size ").append(s.size()).append(" is not a power of two up to 32768");
            return null;
        }
        MemorySegment d = memory.atQemuAddress(s.desc(), 16L * s.size());
        MemorySegment a = memory.atQemuAddress(s.avail(), 6L + 2L * s.size());
        MemorySegment u = memory.atQemuAddress(s.used(), 6L + 8L * s.size());
        if (d == null || a == null || u == null) {
            why.append("a ring address is outside the VM's memory");
            return null;
        }
        long usedGuest = s.logUsed() ? s.usedLog() : memory.guestPhysicalOf(s.used());
        Virtqueue q = new Virtqueue(s, d, a, u, usedGuest, callFd);
        q.usedFlags(USED_F_NO_NOTIFY, log);
        return q;
    }

    /** The same queue over remapped memory (a new memory table while it runs). */
    Virtqueue remap(GuestMemory memory, DirtyLog log, StringBuilder why) {
        Virtqueue q = start(new Setup(setup.index(), size, setup.desc(), setup.avail(), setup.used(), setup.usedLog(), setup.logUsed(),
                lastAvail), memory, log, callFd, why);
        if (q != null) q.unsignalled = unsignalled;
        return q;
    }

    /**
     * How many entries the used index in guest memory lags where this queue takes the next buffer.
     * This back-end returns every buffer it takes at once, so a ring it (or its last copy's) left
     * shows none; a lag at a start means the VM's memory came without the back-end's last writes.
     */
    int usedLag() {
        return (lastAvail - usedIdx) & 0xFFFF;
    }

    /** Where the backend is: what {@code VHOST_USER_GET_VRING_BASE} answers. */
    int lastAvail() {
        return lastAvail;
    }

    void callFd(int fd) {
        callFd = fd;
    }

    /**
     * Whether the guest offered a buffer the backend has not taken. An avail index more than a ring
     * ahead of the backend is no driver's: the queue is broken from then on and offers nothing (QEMU
     * marks such a device broken until the guest resets it; its next start is a new queue).
     */
    boolean hasAvailable() {
        if (broken) return false;
        int pending = (Short.toUnsignedInt((short) U16.getAcquire(avail, 2L)) - lastAvail) & 0xFFFF;
        if (pending > size) {
            broken = true;
            return false;
        }
        return pending != 0;
    }

    /**
     * Asks the guest to kick this queue's eventfd for the next buffer it offers, before the agent's
     * loop sleeps, and says whether it already offered one (then the loop must not sleep). The guest
     * publishes its avail index, then reads this flag; the fence keeps the read of its index below
     * after the flag is cleared, so either the guest sees the request and kicks, or this sees its buffer.
     */
    boolean wantKicks(DirtyLog log) {
        if (!kicksWanted) {
            kicksWanted = true;
            usedFlags((short) 0, log);
        }
        VarHandle.fullFence();
        return hasAvailable();
    }

    /** Polling again: the guest's kicks would only cost it an exit to QEMU each. */
    void noKicks(DirtyLog log) {
        if (!kicksWanted) return;
        kicksWanted = false;
        usedFlags(USED_F_NO_NOTIFY, log);
    }

    private void usedFlags(short flags, DirtyLog log) {
        U16.setRelease(used, 0L, flags);
        if (log != null && usedGuestAddress >= 0) log.mark(usedGuestAddress, 2);
    }

    /** The guest broke the ring itself (not one buffer): nothing more is taken from or put into it. */
    boolean isBroken() {
        return broken;
    }

    /**
     * Puts {@code length} bytes of {@code staged} (a net header and a frame) into the next buffer the
     * guest offered. {@link #NO_BUFFER} leaves the ring as it was; {@link #TOO_SMALL} too (the frame
     * cannot be delivered in any buffer of this guest); {@link #BROKEN} returns the buffer unused.
     */
    int receive(GuestMemory memory, DirtyLog log, byte[] staged, int length) {
        if (!hasAvailable()) return NO_BUFFER;
        int head = Short.toUnsignedInt(avail.get(ValueLayout.JAVA_SHORT, 4L + 2L * (lastAvail & (size - 1))));
        gatheredBytes = 0;
        int count = gather(head, 0);
        if (count < 0) return broken(head, log);
        if (gatheredBytes < length) return TOO_SMALL;
        int done = 0;
        for (int k = 0; k < count && done < length; k++) {
            int chunk = Math.min(chainLength[k], length - done);
            if (!memory.write(staged, done, chainAddress[k], chunk)) return broken(head, log);
            if (log != null) log.mark(chainAddress[k], chunk);
            done += chunk;
        }
        putUsed(head, length, log);
        return DELIVERED;
    }

    /**
     * As {@link #receive}, for a guest that negotiated mergeable receive buffers
     * ({@code VIRTIO_NET_F_MRG_RXBUF}): the header and frame fill as many of its next buffers as they
     * need, the header's {@code num_buffers} says how many, and they are returned to the guest
     * together (one used-index update), since its driver drops a frame whose buffers it cannot all
     * see. {@link #NO_BUFFER} while the buffers offered so far hold less than the frame (more come as
     * the guest refills), {@link #TOO_SMALL} when a full ring of them could not hold it.
     */
    int receiveMerged(GuestMemory memory, DirtyLog log, byte[] staged, int length) {
        if (!hasAvailable()) return NO_BUFFER;
        int pending = (Short.toUnsignedInt((short) U16.getAcquire(avail, 2L)) - lastAvail) & 0xFFFF;
        gatheredBytes = 0;
        int buffers = 0, count = 0;
        while (gatheredBytes < length) {
            if (buffers == pending) return pending == size ? TOO_SMALL : NO_BUFFER;
            int head = Short.toUnsignedInt(avail.get(ValueLayout.JAVA_SHORT, 4L + 2L * ((lastAvail + buffers) & (size - 1))));
            mergedHead[buffers] = head;
            count = gather(head, count);
            if (count < 0) return brokenMerged(buffers + 1, log);
            mergedEnd[buffers++] = count;
        }
        // num_buffers, little-endian, in the header the first buffer carries.
        staged[10] = (byte) buffers;
        staged[11] = (byte) (buffers >>> 8);
        int done = 0, k = 0;
        for (int b = 0; b < buffers; b++) {
            int start = done;
            for (; k < mergedEnd[b]; k++) {
                int chunk = Math.min(chainLength[k], length - done);
                if (chunk <= 0) continue;
                if (!memory.write(staged, done, chainAddress[k], chunk)) return brokenMerged(buffers, log);
                if (log != null) log.mark(chainAddress[k], chunk);
                done += chunk;
            }
            setUsed(b, mergedHead[b], done - start);
        }
        publishUsed(buffers, log);
        return DELIVERED;
    }

    /**
     * Appends the descriptors of the chain at {@code head} to {@link #chainAddress} from index
     * {@code count} (each read once: the guest may rewrite them at any time) and adds their bytes to
     * {@link #gatheredBytes}. Returns the new count, or -1 for a chain no driver offers to receive
     * into: read-only or indirect, outside the ring, or using more descriptors than the ring has
     * (over all the chains gathered, so chains that loop or share are caught).
     */
    private int gather(int head, int count) {
        for (int i = head; ; ) {
            if (i >= size || count >= size) return -1;
            long at = 16L * i;
            int flags = desc.get(ValueLayout.JAVA_SHORT, at + 12);
            if ((flags & (DESC_F_WRITE | DESC_F_INDIRECT)) != DESC_F_WRITE) return -1;
            long chunk = Integer.toUnsignedLong(desc.get(ValueLayout.JAVA_INT, at + 8));
            chainAddress[count] = desc.get(ValueLayout.JAVA_LONG, at);
            chainLength[count] = (int) Math.min(chunk, Integer.MAX_VALUE);
            count++;
            gatheredBytes += chunk;
            if ((flags & DESC_F_NEXT) == 0) return count;
            i = Short.toUnsignedInt(desc.get(ValueLayout.JAVA_SHORT, at + 14));
        }
    }

    /** The first {@code buffers} offered go back unused: one of them is malformed. */
    private int brokenMerged(int buffers, DirtyLog log) {
        for (int b = 0; b < buffers; b++) setUsed(b, mergedHead[b], 0);
        publishUsed(buffers, log);
        return BROKEN;
    }

    /** The {@code n}th used entry from the current used index, not yet visible to the guest. */
    private void setUsed(int n, int head, int length) {
        long at = 4L + 8L * ((usedIdx + n) & (size - 1));
        used.set(ValueLayout.JAVA_INT, at, head);
        used.set(ValueLayout.JAVA_INT, at + 4, length);
    }

    /** Makes the {@code n} entries {@link #setUsed} wrote visible at once. */
    private void publishUsed(int n, DirtyLog log) {
        int first = usedIdx;
        usedIdx = (usedIdx + n) & 0xFFFF;
        lastAvail = (lastAvail + n) & 0xFFFF;
        U16.setRelease(used, 2L, (short) usedIdx);
        // Marked after the index is written, as after every write: QEMU clears a page's bit and then copies the page,
        // so a bit set before the write could be cleared, and the page copied, before the new index is in it.
        if (log != null && usedGuestAddress >= 0) {
            for (int b = 0; b < n; b++) log.mark(usedGuestAddress + 4L + 8L * ((first + b) & (size - 1)), 8);
            log.mark(usedGuestAddress + 2, 2);
        }
        unsignalled = true;
    }

    /**
     * Reads the next buffer the guest offered (a net header and a frame) into {@code into}; returns its
     * length, -1 when there is none, or -2 when it was malformed or longer than {@code into} (it is
     * returned to the guest unread).
     */
    int transmit(GuestMemory memory, DirtyLog log, byte[] into) {
        if (!hasAvailable()) return -1;
        int head = Short.toUnsignedInt(avail.get(ValueLayout.JAVA_SHORT, 4L + 2L * (lastAvail & (size - 1))));
        int length = 0;
        int i = head;
        for (int n = 0; ; n++) {
            long at = 16L * i;
            int flags = i < size && n < size ? desc.get(ValueLayout.JAVA_SHORT, at + 12) : DESC_F_INDIRECT;
            long address = i < size ? desc.get(ValueLayout.JAVA_LONG, at) : 0;
            long chunk = i < size ? Integer.toUnsignedLong(desc.get(ValueLayout.JAVA_INT, at + 8)) : 0;
            if ((flags & (DESC_F_WRITE | DESC_F_INDIRECT)) != 0 || length + chunk > into.length
                    || !memory.read(address, into, length, (int) chunk)) {
                broken(head, log);
                return -2;
            }
            length += (int) chunk;
            if ((flags & DESC_F_NEXT) == 0) break;
            i = Short.toUnsignedInt(desc.get(ValueLayout.JAVA_SHORT, at + 14));
        }
        putUsed(head, 0, log);
        return length;
    }

    /** Signals the guest once for everything returned since the last signal, unless it asked for none. */
    void signal() {
        if (!unsignalled) return;
        unsignalled = false;
        // The guest sets NO_INTERRUPT and then looks at the used index again: the fence keeps this
        // read of its flag after the index this backend published, so no buffer goes unnoticed.
        VarHandle.fullFence();
        if ((avail.get(ValueLayout.JAVA_SHORT, 0L) & AVAIL_F_NO_INTERRUPT) != 0) return;
        forceSignal();
    }

    /** Signals the guest whatever it asked: after a start, for buffers a previous copy's backend returned. */
    void forceSignal() {
        if (callFd < 0) {
            signalsLost++;
            return;
        }
        try {
            if ((long) Libc.WRITE.invokeExact(callFd, Libc.ONE, 8L) != 8L) signalsLost++;
        } catch (Throwable ignored) {
            signalsLost++; // the eventfd is gone with QEMU
        }
    }

    /** Signals that reached no eventfd: QEMU gave none (polling mode), or the write failed. */
    long signalsLost() {
        return signalsLost;
    }

    /** The eventfd this queue signals, -1 for none. */
    int callFd() {
        return callFd;
    }

    private int broken(int head, DirtyLog log) {
        putUsed(head, 0, log);
        return BROKEN;
    }

    private void putUsed(int head, int length, DirtyLog log) {
        setUsed(0, head, length);
        publishUsed(1, log);
    }
}
