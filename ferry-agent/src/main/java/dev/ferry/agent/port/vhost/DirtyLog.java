package dev.ferry.agent.port.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * The dirty-page log QEMU shares while it migrates the VM ({@code VHOST_USER_SET_LOG_BASE}): one bit
 * per 4 KiB guest page, in 64-bit words QEMU reads and clears atomically. Every byte this backend
 * writes into the guest while logging is on must be marked here, or QEMU would not send the page
 * again and the VM's new copy would miss the frame. Agent's thread only.
 */
final class DirtyLog implements AutoCloseable {
    private static final int PAGE_SHIFT = 12;
    private static final VarHandle WORD = ValueLayout.JAVA_LONG.varHandle();

    private final Arena arena;
    private final MemorySegment log;

    private DirtyLog(Arena arena, MemorySegment log) {
        this.arena = arena;
        this.log = log;
    }

    /** Maps {@code size} bytes at {@code offset} of the file behind {@code fd} (closed after). */
    static DirtyLog map(int fd, long size, long offset) throws java.io.IOException {
        Arena arena = Arena.ofShared();
        try {
            return new DirtyLog(arena, GuestMemory.mapShared(fd, offset, size, arena));
        } catch (java.io.IOException | RuntimeException e) {
            arena.close();
            throw e;
        } finally {
            dev.ferry.agent.port.Libc.close(fd);
        }
    }

    /** A log over memory this test or caller owns. */
    static DirtyLog over(MemorySegment log) {
        return new DirtyLog(null, log);
    }

    /** Marks the pages of guest-physical {@code [address, address + length)} dirty. */
    void mark(long address, long length) {
        if (length <= 0) return;
        long last = (address + length - 1) >>> PAGE_SHIFT;
        for (long page = address >>> PAGE_SHIFT; page <= last; page++) {
            long at = (page >>> 6) << 3;
            if (at + 8 > log.byteSize()) return;
            WORD.getAndBitwiseOr(log, at, 1L << (page & 63));
        }
    }

    @Override
    public void close() {
        if (arena != null) arena.close();
    }
}
