package dev.ferry.agent.runtime;

import dev.ferry.agent.port.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteOrder;

/**
 * The underlay's receive: one {@code recvmmsg} takes up to {@link #SLOTS} datagrams into native
 * slots prepared once (msghdr, iovec, source address, control buffer each), with UDP GRO asked of
 * the kernel ({@code UDP_GRO}): datagrams of one sender and one size that arrive back to back come
 * joined in one slot, with the size they were sent at ({@code gso_size}), so a burst of a TCP
 * stream's segments costs one copy out of the kernel instead of one each. The reader cuts them
 * apart again ({@link #segmentSize}): every datagram Ferry handles is one a sender sent.
 *
 * <p>Nothing is allocated per datagram: the source address is read from the slot as numbers
 * ({@link #ipv4}, {@link #port}). Where the kernel refuses GRO (older kernels), each slot holds
 * one datagram as before. Agent loop's thread only.
 */
final class UdpReceiveBatch implements AutoCloseable {
    /** Slots per system call. */
    static final int SLOTS = 32;
    /** A slot holds the longest joined datagram the kernel makes (64 KiB of UDP payload). */
    static final int SLOT_BYTES = 65_536;
    private static final int MSGHDR = 64, NAME = 32, CONTROL = 32;
    private static final int SOL_UDP = 17, UDP_GRO = 104;
    private static final int MSG_DONTWAIT = 0x40, MSG_TRUNC = 0x20;
    private static final int AF_INET = 2, AF_INET6 = 10;
    private static final ValueLayout.OfShort BE16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfInt BE32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private static final MethodHandle RECVMMSG = Libc.downcall("recvmmsg", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS), true);
    private static final MethodHandle SETSOCKOPT = Libc.downcall("setsockopt", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), false);

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment headers = arena.allocate((long) MSGHDR * SLOTS, 8);
    private final MemorySegment iovecs = arena.allocate(16L * SLOTS, 8);
    private final MemorySegment names = arena.allocate((long) NAME * SLOTS, 8);
    private final MemorySegment controls = arena.allocate((long) CONTROL * SLOTS, 8);
    private final MemorySegment data = arena.allocate((long) SLOT_BYTES * SLOTS, 64);
    private final MemorySegment callState = arena.allocate(Libc.CALL_STATE);
    private final boolean gro;

    /** For socket {@code fd}, asking the kernel for GRO. */
    UdpReceiveBatch(int fd) {
        this.fd = fd;
        for (int i = 0; i < SLOTS; i++) {
            MemorySegment iov = iovecs.asSlice(16L * i, 16);
            iov.set(ValueLayout.ADDRESS, 0, data.asSlice((long) SLOT_BYTES * i, SLOT_BYTES));
            iov.set(ValueLayout.JAVA_LONG, 8, SLOT_BYTES);
            long h = (long) MSGHDR * i;
            headers.set(ValueLayout.ADDRESS, h, names.asSlice((long) NAME * i, NAME));
            headers.set(ValueLayout.ADDRESS, h + 16, iov);
            headers.set(ValueLayout.JAVA_LONG, h + 24, 1);
            headers.set(ValueLayout.ADDRESS, h + 32, controls.asSlice((long) CONTROL * i, CONTROL));
        }
        boolean on;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment one = a.allocate(ValueLayout.JAVA_INT);
            one.set(ValueLayout.JAVA_INT, 0, 1);
            on = (int) SETSOCKOPT.invokeExact(fd, SOL_UDP, UDP_GRO, one, 4) == 0;
        } catch (Throwable t) {
            on = false;
        }
        this.gro = on;
    }

    /** Whether the kernel joins datagrams for this socket. */
    boolean gro() {
        return gro;
    }

    /**
     * Takes what waits, up to {@link #SLOTS} slots, without blocking; returns how many slots were
     * filled, 0 when nothing waited, or -errno on a failure.
     */
    int read() {
        for (int i = 0; i < SLOTS; i++) {
            long h = (long) MSGHDR * i;
            // The kernel writes back how much of each it used: room is given again on every call.
            headers.set(ValueLayout.JAVA_INT, h + 8, NAME);
            headers.set(ValueLayout.JAVA_LONG, h + 40, CONTROL);
            headers.set(ValueLayout.JAVA_INT, h + 48, 0);
        }
        int n;
        try {
            n = (int) RECVMMSG.invokeExact(callState, fd, headers, SLOTS, MSG_DONTWAIT, MemorySegment.NULL);
        } catch (Throwable t) {
            return -Integer.MAX_VALUE;
        }
        if (n >= 0) return n;
        int errno = Libc.errno(callState);
        return errno == Libc.EAGAIN ? 0 : -errno;
    }

    /** Bytes in slot {@code i}: one datagram, or several of {@link #segmentSize} joined. */
    int length(int i) {
        return headers.get(ValueLayout.JAVA_INT, (long) MSGHDR * i + 56);
    }

    /** Whether slot {@code i}'s datagram was longer than the slot and arrived cut. */
    boolean truncated(int i) {
        return (headers.get(ValueLayout.JAVA_INT, (long) MSGHDR * i + 48) & MSG_TRUNC) != 0;
    }

    /** The size the joined datagrams of slot {@code i} were sent at; its whole length when not joined. */
    int segmentSize(int i) {
        long controlLength = headers.get(ValueLayout.JAVA_LONG, (long) MSGHDR * i + 40);
        long c = (long) CONTROL * i;
        // One control message at most (GRO's is the only one asked for): cmsg_len, level, type, an int.
        if (controlLength >= 20 && controls.get(ValueLayout.JAVA_INT, c + 8) == SOL_UDP && controls.get(ValueLayout.JAVA_INT, c + 12) == UDP_GRO) {
            int size = controls.get(ValueLayout.JAVA_INT, c + 16);
            if (size > 0) return size;
        }
        return length(i);
    }

    /** Whether slot {@code i} came from an IPv4 source (an IPv4-mapped one on an IPv6 socket included). */
    boolean fromIpv4(int i) {
        long n = (long) NAME * i;
        int family = Short.toUnsignedInt(names.get(ValueLayout.JAVA_SHORT, n));
        if (family == AF_INET) return true;
        return family == AF_INET6 && names.get(ValueLayout.JAVA_LONG_UNALIGNED, n + 8) == 0
                && names.get(BE32, n + 16) == 0xFFFF;
    }

    /** Slot {@code i}'s IPv4 source address as a number (valid when {@link #fromIpv4}). */
    int ipv4(int i) {
        long n = (long) NAME * i;
        return Short.toUnsignedInt(names.get(ValueLayout.JAVA_SHORT, n)) == AF_INET ? names.get(BE32, n + 4) : names.get(BE32, n + 20);
    }

    /** Slot {@code i}'s source port. */
    int port(int i) {
        return Short.toUnsignedInt(names.get(BE16, (long) NAME * i + 2));
    }

    /** Slot {@code i}'s source as an address object: allocates, for the IPv6 path only. */
    java.net.InetSocketAddress source(int i) {
        long n = (long) NAME * i;
        byte[] address = names.asSlice(n + 8, 16).toArray(ValueLayout.JAVA_BYTE);
        try {
            return new java.net.InetSocketAddress(java.net.InetAddress.getByAddress(address), port(i));
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Copies {@code length} bytes of slot {@code i} from {@code offset} into {@code into} at 0. */
    void copy(int i, int offset, byte[] into, int length) {
        MemorySegment.copy(data, ValueLayout.JAVA_BYTE, (long) SLOT_BYTES * i + offset, into, 0, length);
    }

    @Override
    public void close() {
        arena.close();
    }
}
