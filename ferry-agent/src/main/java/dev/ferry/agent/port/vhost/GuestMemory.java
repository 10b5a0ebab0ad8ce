package dev.ferry.agent.port.vhost;

import dev.ferry.agent.port.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The VM's RAM as QEMU shares it ({@code VHOST_USER_SET_MEM_TABLE}): up to eight regions, each a
 * file descriptor (a memfd) this process maps, known by its guest-physical address (what the
 * guest's descriptors hold) and by QEMU's own virtual address (what ring addresses are given in).
 * Mapped on the vhost-user thread, then used by the agent's thread alone until it is replaced.
 */
final class GuestMemory implements AutoCloseable {
    /** One region as QEMU describes it. */
    record Region(long guestPhysical, long size, long qemuVirtual, long mmapOffset) {}

    private final Arena arena;
    private final long[] gpa;
    private final long[] uva;
    private final long[] size;
    private final MemorySegment[] memory;

    private GuestMemory(int n, Arena arena) {
        this.arena = arena;
        gpa = new long[n];
        uva = new long[n];
        size = new long[n];
        memory = new MemorySegment[n];
    }

    /** Maps {@code regions[i]} from {@code fds[i]}; the descriptors are closed, mapped or not. */
    static GuestMemory map(Region[] regions, int[] fds) throws IOException {
        GuestMemory m = new GuestMemory(regions.length, Arena.ofShared());
        try {
            for (int i = 0; i < regions.length; i++) {
                Region r = regions[i];
                m.gpa[i] = r.guestPhysical();
                m.uva[i] = r.qemuVirtual();
                m.size[i] = r.size();
                m.memory[i] = mapShared(fds[i], r.mmapOffset(), r.size(), m.arena);
            }
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        } finally {
            for (int fd : fds) Libc.close(fd);
        }
    }

    /** One region over memory the caller owns (and frees): a guest laid out by a test. */
    static GuestMemory over(MemorySegment memory, long guestPhysical, long qemuVirtual) {
        GuestMemory m = new GuestMemory(1, null);
        m.gpa[0] = guestPhysical;
        m.uva[0] = qemuVirtual;
        m.size[0] = memory.byteSize();
        m.memory[0] = memory;
        return m;
    }

    /**
     * A shared read-write mapping of {@code length} bytes of the file behind {@code fd}. A region that
     * is not within the file is refused: mapping it would grow the file (the guest's memory) or, for
     * a file that cannot grow, fault on the first access past its end.
     */
    static MemorySegment mapShared(int fd, long offset, long length, Arena arena) throws IOException {
        try (FileChannel file = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long size = file.size();
            if (offset < 0 || length <= 0 || offset > size || length > size - offset) {
                throw new IOException("region of " + length + " bytes at offset " + offset + " is not within its file of " + size + " bytes");
            }
            return file.map(FileChannel.MapMode.READ_WRITE, offset, length, arena);
        }
    }

    /** {@code length} bytes at QEMU's virtual address {@code address} (a ring), or null if outside every region. */
    MemorySegment atQemuAddress(long address, long length) {
        for (int i = 0; i < uva.length; i++) {
            long off = address - uva[i];
            if (off >= 0 && length >= 0 && off <= size[i] - length) return memory[i].asSlice(off, length);
        }
        return null;
    }

    /** The guest-physical address of QEMU's virtual {@code address}, or -1. */
    long guestPhysicalOf(long address) {
        for (int i = 0; i < uva.length; i++) {
            long off = address - uva[i];
            if (off >= 0 && off < size[i]) return gpa[i] + off;
        }
        return -1;
    }

    /** Copies {@code length} bytes of {@code src} into the guest at {@code address}; false if they are not all in one region. */
    boolean write(byte[] src, int offset, long address, int length) {
        for (int i = 0; i < gpa.length; i++) {
            long off = address - gpa[i];
            if (off >= 0 && length >= 0 && off <= size[i] - length) {
                MemorySegment.copy(src, offset, memory[i], ValueLayout.JAVA_BYTE, off, length);
                return true;
            }
        }
        return false;
    }

    /** Copies {@code length} bytes of the guest at {@code address} into {@code dst}; false if they are not all in one region. */
    boolean read(long address, byte[] dst, int offset, int length) {
        for (int i = 0; i < gpa.length; i++) {
            long off = address - gpa[i];
            if (off >= 0 && length >= 0 && off <= size[i] - length) {
                MemorySegment.copy(memory[i], ValueLayout.JAVA_BYTE, off, dst, offset, length);
                return true;
            }
        }
        return false;
    }

    /** Unmaps every region. */
    @Override
    public void close() {
        if (arena != null) arena.close();
    }
}
