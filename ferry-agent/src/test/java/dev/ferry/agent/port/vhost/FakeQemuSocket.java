package dev.ferry.agent.port.vhost;

import dev.ferry.agent.port.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * QEMU's end of a vhost-user connection, as a test writes it: a connected socket pair whose other
 * end is the back-end's {@link UnixStream}, messages sent with descriptors (SCM_RIGHTS), and the
 * eventfds and memfds QEMU would pass. Linux x86-64 layouts.
 */
final class FakeQemuSocket implements AutoCloseable {
    private static final int AF_UNIX = 1, SOCK_STREAM_CLOEXEC = 1 | 0x80000, SOL_SOCKET = 1, SCM_RIGHTS = 1;
    private static final int MSG_NOSIGNAL = 0x4000, SHUT_WR = 1, EFD_CLOEXEC = 0x80000, MFD_CLOEXEC = 1;
    private static final MethodHandle SOCKETPAIR = Libc.downcall("socketpair", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS), false);
    private static final MethodHandle SENDMSG = Libc.downcall("sendmsg", FunctionDescriptor.of(ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), false);
    private static final MethodHandle SHUTDOWN = Libc.downcall("shutdown", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);
    private static final MethodHandle EVENTFD = Libc.downcall("eventfd", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);
    private static final MethodHandle MEMFD_CREATE = Libc.downcall("memfd_create", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_INT), false);
    private static final MethodHandle FTRUNCATE = Libc.downcall("ftruncate", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG), false);

    private final Arena arena = Arena.ofConfined();
    private final MemorySegment msghdr = arena.allocate(56, 8), iov = arena.allocate(16, 8);
    private final MemorySegment control = arena.allocate(16 + 4 * 16, 8), buffer = arena.allocate(1 << 16, 8);
    private int fd;
    /** The back-end's end. */
    final UnixStream backend;

    FakeQemuSocket() throws IOException {
        MemorySegment pair = arena.allocate(8, 4);
        try {
            if ((int) SOCKETPAIR.invokeExact(AF_UNIX, SOCK_STREAM_CLOEXEC, 0, pair) != 0) throw new IOException("socketpair failed");
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
        fd = pair.get(ValueLayout.JAVA_INT, 0);
        backend = new UnixStream(pair.get(ValueLayout.JAVA_INT, 4));
    }

    /** Sends {@code bytes} in one message with {@code fds} attached (each stays open here: close it yourself). */
    void send(byte[] bytes, int[] fds) throws IOException {
        MemorySegment.copy(bytes, 0, buffer, ValueLayout.JAVA_BYTE, 0, bytes.length);
        iov.set(ValueLayout.ADDRESS, 0, buffer);
        iov.set(ValueLayout.JAVA_LONG, 8, bytes.length);
        msghdr.fill((byte) 0);
        msghdr.set(ValueLayout.ADDRESS, 16, iov);
        msghdr.set(ValueLayout.JAVA_LONG, 24, 1);
        if (fds.length > 0) {
            control.fill((byte) 0);
            control.set(ValueLayout.JAVA_LONG, 0, 16 + 4L * fds.length);
            control.set(ValueLayout.JAVA_INT, 8, SOL_SOCKET);
            control.set(ValueLayout.JAVA_INT, 12, SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) control.set(ValueLayout.JAVA_INT, 16 + 4L * i, fds[i]);
            msghdr.set(ValueLayout.ADDRESS, 32, control);
            msghdr.set(ValueLayout.JAVA_LONG, 40, 16 + ((4L * fds.length + 7) & ~7L));
        }
        try {
            long sent = (long) SENDMSG.invokeExact(fd, msghdr, MSG_NOSIGNAL);
            if (sent != bytes.length) throw new IOException("sendmsg sent " + sent + " of " + bytes.length);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    /**
     * The back-end's next reply (header and payload, as one read takes them), or null when none came
     * within {@code timeoutMillis}.
     */
    byte[] reply(int timeoutMillis) throws IOException {
        try (dev.ferry.agent.port.Epoll readable = new dev.ferry.agent.port.Epoll(1)) {
            readable.add(fd);
            if (readable.await(timeoutMillis) == 0) return null;
            MemorySegment state = arena.allocate(Libc.CALL_STATE);
            long n = (long) Libc.READ.invokeExact(state, fd, buffer, buffer.byteSize());
            if (n <= 0) throw new IOException("the back-end closed the session (read " + n + ")");
            return buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }

    /** No more messages: the back-end reads the end of the stream after what was sent. */
    void finish() {
        try {
            int ignored = (int) SHUTDOWN.invokeExact(fd, SHUT_WR);
        } catch (Throwable ignored) {
            // closed already
        }
    }

    static int eventfd() {
        try {
            return (int) EVENTFD.invokeExact(0, EFD_CLOEXEC);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** A memfd of {@code size} bytes, as QEMU's guest RAM with {@code memory-backend-memfd}. */
    static int memfd(long size) {
        try (Arena a = Arena.ofConfined()) {
            int f = (int) MEMFD_CREATE.invokeExact(a.allocateFrom("guest-ram"), MFD_CLOEXEC);
            int ignored = (int) FTRUNCATE.invokeExact(f, size);
            return f;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @Override
    public void close() {
        if (fd >= 0) Libc.close(fd);
        fd = -1;
        arena.close();
    }
}
