package dev.ferry.agent.port.vhost;

import dev.ferry.agent.port.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A connected Unix stream socket that also carries file descriptors ({@code SCM_RIGHTS}): what the
 * vhost-user protocol runs over. The JDK's Unix-domain channels cannot pass descriptors, so this is
 * the C library's socket calls through the foreign function API. One thread reads; {@link #close}
 * from another thread wakes it (shutdown), then frees the socket.
 */
final class UnixStream implements AutoCloseable {
    private static final int AF_UNIX = 1;
    private static final int SOCK_STREAM_CLOEXEC = 1 | 0x80000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    private static final int MSG_NOSIGNAL = 0x4000;
    private static final int MSG_WAITALL = 0x100;
    private static final int SHUT_RDWR = 2;
    /** QEMU passes at most 8 descriptors in one message (a memory table's regions). */
    static final int MAX_FDS = 8;
    /** CMSG_SPACE(MAX_FDS * 4) on 64-bit Linux: a 16-byte header and the descriptors, 8-aligned. */
    private static final int CONTROL_BYTES = 16 + MAX_FDS * 4;

    private static final MethodHandle SOCKET = Libc.downcall("socket",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), true);
    private static final MethodHandle CONNECT = Libc.downcall("connect",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true);
    private static final MethodHandle RECVMSG = Libc.downcall("recvmsg",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true);
    private static final MethodHandle SEND = Libc.downcall("send",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT), true);
    private static final MethodHandle SHUTDOWN = Libc.downcall("shutdown",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);

    private final Arena arena = Arena.ofShared();
    private final MemorySegment callState = arena.allocate(Libc.CALL_STATE);
    private final MemorySegment msghdr = arena.allocate(56, 8);
    private final MemorySegment iov = arena.allocate(16, 8);
    private final MemorySegment control = arena.allocate(CONTROL_BYTES, 8);
    private final MemorySegment io = arena.allocate(4096, 8);
    private volatile int fd;

    /** Over a connected stream socket the caller opened; this closes it. */
    UnixStream(int fd) {
        this.fd = fd;
    }

    /** Connects to the socket at {@code path}; IOException with the system's reason when it cannot. */
    static UnixStream connect(Path path) throws IOException {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length > 107) throw new IOException("socket path longer than 107 bytes: " + path);
        int fd;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment state = a.allocate(Libc.CALL_STATE);
            fd = (int) SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM_CLOEXEC, 0);
            if (fd < 0) throw new IOException("socket(AF_UNIX): " + Libc.strerror(Libc.errno(state)));
            MemorySegment address = a.allocate(110, 8);
            address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(name, 0, address, ValueLayout.JAVA_BYTE, 2, name.length);
            if ((int) CONNECT.invokeExact(state, fd, address, 110) != 0) {
                int errno = Libc.errno(state);
                Libc.close(fd);
                throw new IOException("connect(" + path + "): " + Libc.strerror(errno));
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("connect(" + path + "): " + t, t);
        }
        return new UnixStream(fd);
    }

    /**
     * Reads exactly {@code length} bytes into {@code into} (at most 4,096), and the descriptors that
     * came with the first of them into {@code fds}; returns how many descriptors, or -1 at the end of
     * the stream.
     */
    int receive(MemorySegment into, int length, int[] fds) throws IOException {
        iov.set(ValueLayout.ADDRESS, 0, io);
        iov.set(ValueLayout.JAVA_LONG, 8, length);
        msghdr.fill((byte) 0);
        msghdr.set(ValueLayout.ADDRESS, 16, iov);
        msghdr.set(ValueLayout.JAVA_LONG, 24, 1);
        msghdr.set(ValueLayout.ADDRESS, 32, control);
        msghdr.set(ValueLayout.JAVA_LONG, 40, CONTROL_BYTES);
        control.fill((byte) 0);
        long got;
        try {
            got = (long) RECVMSG.invokeExact(callState, fd, msghdr, MSG_WAITALL);
        } catch (Throwable t) {
            throw new IOException("recvmsg: " + t, t);
        }
        if (got == 0) return -1;
        if (got < 0) throw new IOException("recvmsg: " + Libc.strerror(Libc.errno(callState)));
        int n = 0;
        long cmsgLength = control.get(ValueLayout.JAVA_LONG, 0);
        if (cmsgLength > 16 && control.get(ValueLayout.JAVA_INT, 8) == SOL_SOCKET && control.get(ValueLayout.JAVA_INT, 12) == SCM_RIGHTS) {
            int sent = (int) ((cmsgLength - 16) / 4);
            n = Math.min(sent, fds.length);
            for (int i = 0; i < n; i++) fds[i] = control.get(ValueLayout.JAVA_INT, 16 + 4L * i);
            // The kernel installed every one of them in this process: those beyond what is kept are closed.
            for (int i = n; i < sent; i++) Libc.close(control.get(ValueLayout.JAVA_INT, 16 + 4L * i));
        }
        int have = (int) got;
        while (have < length) {
            long more;
            try {
                more = (long) Libc.RECV.invokeExact(callState, fd, io.asSlice(have), (long) (length - have), MSG_WAITALL);
            } catch (Throwable t) {
                throw new IOException("recv: " + t, t);
            }
            if (more <= 0) {
                for (int i = 0; i < n; i++) Libc.close(fds[i]);
                if (more == 0) return -1;
                throw new IOException("recv: " + Libc.strerror(Libc.errno(callState)));
            }
            have += (int) more;
        }
        MemorySegment.copy(io, 0, into, 0, length);
        return n;
    }

    /** Writes {@code length} bytes of {@code from}. */
    void send(MemorySegment from, int length) throws IOException {
        long done = 0;
        while (done < length) {
            long sent;
            try {
                sent = (long) SEND.invokeExact(callState, fd, from.asSlice(done), length - done, MSG_NOSIGNAL);
            } catch (Throwable t) {
                throw new IOException("send: " + t, t);
            }
            if (sent < 0) throw new IOException("send: " + Libc.strerror(Libc.errno(callState)));
            done += sent;
        }
    }

    /** Wakes a reader blocked in {@link #receive} (it sees the end of the stream); any thread. */
    void shutdown() {
        int f = fd;
        if (f < 0) return;
        try {
            int ignored = (int) SHUTDOWN.invokeExact(f, SHUT_RDWR);
        } catch (Throwable ignored) {
            // already closed
        }
    }

    /** Closes the socket; by the reading thread, once it is done reading. */
    @Override
    public void close() {
        int f = fd;
        fd = -1;
        Libc.close(f);
        arena.close();
    }
}
