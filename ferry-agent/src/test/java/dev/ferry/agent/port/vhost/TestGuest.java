package dev.ferry.agent.port.vhost;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A guest's side of one split virtqueue, laid out the way a virtio driver lays it out (virtio 1.x,
 * 2.7): descriptors, available and used ring in one region of guest memory whose guest-physical and
 * QEMU-virtual addresses differ, as they do in a real VM. The tests' driver.
 */
final class TestGuest implements AutoCloseable {
    static final int SIZE = 8;
    static final long GPA = 0x10_0000L;
    static final long UVA = 0x7f00_0000_0000L;
    static final long DESC = 0x0, AVAIL = 0x100, USED = 0x200, BUFFERS = 0x4000;
    static final int F_NEXT = 1, F_WRITE = 2;

    // Shared: a hostile guest writes its rings from another thread while the backend reads them.
    final Arena arena = Arena.ofShared();
    final MemorySegment ram = arena.allocate(64 * 1024, 4096);
    final GuestMemory memory = GuestMemory.over(ram, GPA, UVA);
    private int availIdx;

    Virtqueue.Setup setup(int index, int base, boolean logUsed) {
        return new Virtqueue.Setup(index, SIZE, UVA + DESC, UVA + AVAIL, UVA + USED, GPA + USED, logUsed, base);
    }

    /** Offers descriptor {@code id} alone: {@code length} bytes at {@code buffer} (an offset in guest RAM). */
    void offer(int id, long buffer, int length, int flags) {
        writeDesc(id, buffer, length, flags, 0);
        publish(id);
    }

    void writeDesc(int id, long buffer, int length, int flags, int next) {
        long at = DESC + 16L * id;
        ram.set(ValueLayout.JAVA_LONG, at, GPA + buffer);
        ram.set(ValueLayout.JAVA_INT, at + 8, length);
        ram.set(ValueLayout.JAVA_SHORT, at + 12, (short) flags);
        ram.set(ValueLayout.JAVA_SHORT, at + 14, (short) next);
    }

    void publish(int head) {
        ram.set(ValueLayout.JAVA_SHORT, AVAIL + 4 + 2L * (availIdx % SIZE), (short) head);
        availIdx++;
        ram.set(ValueLayout.JAVA_SHORT, AVAIL + 2, (short) availIdx);
    }

    /** An eventfd as QEMU's guest notifier: what the back-end writes to signal this guest. */
    static int eventfd() throws Throwable {
        return (int) EVENTFD.invokeExact(0, EFD_NONBLOCK);
    }

    /** The eventfd's count (0 when nothing was written), reset by the read: the signals the guest got since. */
    long signals(int eventfd) throws Throwable {
        MemorySegment value = arena.allocate(ValueLayout.JAVA_LONG);
        long got = (long) READ.invokeExact(eventfd, value, 8L);
        return got == 8 ? value.get(ValueLayout.JAVA_LONG, 0) : 0;
    }

    private static final java.lang.invoke.MethodHandle EVENTFD = dev.ferry.agent.port.Libc.downcall("eventfd",
            java.lang.foreign.FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);
    private static final java.lang.invoke.MethodHandle READ = dev.ferry.agent.port.Libc.downcall("read",
            java.lang.foreign.FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG), false);
    private static final int EFD_NONBLOCK = 0x800;

    /** The used ring's flags: 1 (VRING_USED_F_NO_NOTIFY) while the back-end asks not to be kicked. */
    int usedFlags() {
        return ram.get(ValueLayout.JAVA_SHORT, USED);
    }

    int usedIdx() {
        return Short.toUnsignedInt(ram.get(ValueLayout.JAVA_SHORT, USED + 2));
    }

    /** Used element {@code n}: {id, length}. */
    int[] used(int n) {
        long at = USED + 4 + 8L * (n % SIZE);
        return new int[] {ram.get(ValueLayout.JAVA_INT, at), ram.get(ValueLayout.JAVA_INT, at + 4)};
    }

    /** {@code length} bytes of guest RAM at offset {@code at}. */
    byte[] bytes(long at, int length) {
        return ram.asSlice(at, length).toArray(ValueLayout.JAVA_BYTE);
    }

    static byte[] frame(int length, int seed) {
        byte[] f = new byte[length];
        for (int i = 0; i < length; i++) f[i] = (byte) (seed * 31 + i);
        return f;
    }

    @Override
    public void close() {
        arena.close();
    }
}
