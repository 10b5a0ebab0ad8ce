package dev.ferry.agent.port;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * QEMU's end of a QEMU socket port, borrowed: a duplicate of QEMU's own UDP socket, found by its
 * address in {@code /proc/net/udp} and {@code /proc/PID/fd}, taken with {@code pidfd_getfd}.
 *
 * <p>Why: QEMU pauses a migrating VM before QMP says so, and a paused QEMU leaves what arrives in its
 * socket unread. Frames this agent sent in that instant would die with the source QEMU. Through the
 * borrowed socket the agent takes them back once it knows the VM stopped, and they go to the VM's new
 * place ahead of everything buffered after. Needs Linux 5.6 or later and the right to look into QEMU
 * (root, or QEMU's own user with ptrace allowed); without it the agent logs why and carries on with
 * the window open.
 */
public final class PeerSocket implements AutoCloseable {
    private static final long SYS_PIDFD_OPEN = 434;
    private static final long SYS_PIDFD_GETFD = 438;
    private static final int MSG_DONTWAIT = 0x40;
    private static final int CAPACITY = 65_536;

    private static final MethodHandle SYSCALL = Libc.downcall("syscall",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG), true, Linker.Option.firstVariadicArg(1));
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVBUF = 8;
    private static final int SO_RCVBUFFORCE = 33;
    private static final MethodHandle SETSOCKOPT = Libc.downcall("setsockopt",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true);
    private static final MethodHandle GETSOCKOPT = Libc.downcall("getsockopt",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.ADDRESS, ValueLayout.ADDRESS), true);

    private final Arena arena = Arena.ofShared();
    private final MemorySegment callState = arena.allocate(Libc.CALL_STATE);
    private final MemorySegment rx = arena.allocate(CAPACITY);
    private final long pid;
    private int fd;

    private PeerSocket(long pid, int fd) {
        this.pid = pid;
        this.fd = fd;
    }

    /** Borrows the socket bound to {@code qemuSide}; IOException saying why when it cannot. */
    public static PeerSocket borrow(InetSocketAddress qemuSide) throws IOException {
        long inode = inode(qemuSide);
        long[] owner = owner(inode);
        PeerSocket s = new PeerSocket(owner[0], -1);
        try {
            long pidfd = (long) SYSCALL.invokeExact(s.callState, SYS_PIDFD_OPEN, owner[0], 0L, 0L);
            if (pidfd < 0) throw s.failure("pidfd_open(" + owner[0] + ")");
            long dup = (long) SYSCALL.invokeExact(s.callState, SYS_PIDFD_GETFD, pidfd, owner[1], 0L);
            IOException failed = dup < 0 ? s.failure("pidfd_getfd(pid " + owner[0] + ", fd " + owner[1] + ")") : null;
            Libc.close((int) pidfd);
            if (failed != null) throw failed;
            s.fd = (int) dup;
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        } catch (Throwable t) {
            s.close();
            throw new IOException("borrowing QEMU's socket: " + t, t);
        }
    }

    /** The process that owns the socket (QEMU). */
    public long pid() {
        return pid;
    }

    /** Hands every datagram waiting in the socket to {@code frames}, oldest first; returns how many. */
    public int takeBack(Consumer<byte[]> frames) {
        int n = 0;
        while (fd >= 0) {
            long got;
            try {
                got = (long) Libc.RECV.invokeExact(callState, fd, rx, (long) CAPACITY, MSG_DONTWAIT);
            } catch (Throwable t) {
                break;
            }
            if (got <= 0) break;
            frames.accept(rx.asSlice(0, got).toArray(ValueLayout.JAVA_BYTE));
            n++;
        }
        return n;
    }

    /**
     * Raises the socket's receive buffer to at least {@code bytes} (the kernel's own accounting, so
     * about twice what it can hold in payload) and returns what it is now. After a migration the
     * agent hands the new copy everything it buffered at once, while a guest just resumed reads
     * slowly: QEMU's default buffer (rmem_default, often 208 KiB, about 270 small frames) would
     * overflow and the kernel drop the rest. SO_RCVBUFFORCE passes rmem_max (root or
     * CAP_NET_ADMIN); without that right, SO_RCVBUF goes as far as rmem_max allows.
     */
    public int ensureReceiveBuffer(int bytes) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment value = a.allocate(ValueLayout.JAVA_INT);
            MemorySegment length = a.allocate(ValueLayout.JAVA_INT);
            length.set(ValueLayout.JAVA_INT, 0, 4);
            if ((int) GETSOCKOPT.invokeExact(callState, fd, SOL_SOCKET, SO_RCVBUF, value, length) != 0) throw failure("getsockopt");
            if (value.get(ValueLayout.JAVA_INT, 0) < bytes) {
                value.set(ValueLayout.JAVA_INT, 0, bytes / 2); // the kernel doubles what it is given
                if ((int) SETSOCKOPT.invokeExact(callState, fd, SOL_SOCKET, SO_RCVBUFFORCE, value, 4) != 0
                        && (int) SETSOCKOPT.invokeExact(callState, fd, SOL_SOCKET, SO_RCVBUF, value, 4) != 0) {
                    throw failure("setsockopt(SO_RCVBUF)");
                }
                length.set(ValueLayout.JAVA_INT, 0, 4);
                if ((int) GETSOCKOPT.invokeExact(callState, fd, SOL_SOCKET, SO_RCVBUF, value, length) != 0) throw failure("getsockopt");
            }
            return value.get(ValueLayout.JAVA_INT, 0);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("sizing QEMU's socket: " + t, t);
        }
    }

    @Override
    public void close() {
        if (fd >= 0) Libc.close(fd);
        fd = -1;
        arena.close();
    }

    private IOException failure(String call) {
        int errno = Libc.errno(callState);
        String hint = errno == 1 ? " (the agent needs root, or QEMU's user with ptrace allowed)" : "";
        return new IOException(call + ": " + Libc.strerror(errno) + hint);
    }

    /** The inode of the UDP socket bound to {@code address}, from /proc/net/udp. */
    private static long inode(InetSocketAddress address) throws IOException {
        if (!(address.getAddress() instanceof Inet4Address v4)) throw new IOException("only IPv4 QEMU sockets can be borrowed: " + address);
        byte[] a = v4.getAddress();
        String want = String.format(Locale.ROOT, "%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], address.getPort());
        for (String line : Files.readAllLines(Path.of("/proc/net/udp"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 9 && f[1].equals(want)) return Long.parseLong(f[9]);
        }
        throw new IOException("no UDP socket bound to " + address.getHostString() + ":" + address.getPort() + " (is QEMU running?)");
    }

    /** {pid, fd} of the process holding socket {@code inode}. */
    private static long[] owner(long inode) throws IOException {
        String link = "socket:[" + inode + "]";
        long self = ProcessHandle.current().pid();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path proc : (Iterable<Path>) procs::iterator) {
                String name = proc.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit) || Long.parseLong(name) == self) continue;
                try (Stream<Path> fds = Files.list(proc.resolve("fd"))) {
                    for (Path fd : (Iterable<Path>) fds::iterator) {
                        try {
                            if (Files.readSymbolicLink(fd).toString().equals(link)) {
                                return new long[] {Long.parseLong(name), Long.parseLong(fd.getFileName().toString())};
                            }
                        } catch (IOException gone) {
                            // an fd closed while we looked
                        }
                    }
                } catch (IOException | SecurityException notOurs) {
                    // a process that ended, or one we may not look into
                }
            }
        }
        throw new IOException("no process holds socket " + inode);
    }
}
