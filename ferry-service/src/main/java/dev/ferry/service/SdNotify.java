package dev.ferry.service;

import dev.ferry.agent.port.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

/**
 * Tells systemd how the service stands (sd_notify(3)): {@code READY=1} once the board or agent
 * serves, {@code STOPPING=1} when it shuts down, so a unit of {@code Type=notify} is started only
 * when it can be used and units ordered after it wait for that. Without {@code $NOTIFY_SOCKET} (not
 * run by systemd) every call does nothing. The protocol is one datagram on a Unix socket, which the
 * JDK's channels do not offer, hence the foreign function API.
 */
public final class SdNotify {
    private static final int AF_UNIX = 1, SOCK_DGRAM_CLOEXEC = 2 | 0x80000, MSG_NOSIGNAL = 0x4000;
    private static final int SUN_PATH = 108;
    private static final MethodHandle SOCKET = Libc.downcall("socket",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), true);
    private static final MethodHandle SENDTO = Libc.downcall("sendto",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), true);

    private SdNotify() {}

    /** The service is up and serving. */
    public static void ready(String status) {
        notifyQuietly("READY=1\nSTATUS=" + status);
    }

    /** The service is shutting down. */
    public static void stopping() {
        notifyQuietly("STOPPING=1");
    }

    /**
     * Sends {@code state} to {@code $NOTIFY_SOCKET} if there is one; a failure is printed, never
     * thrown: the service itself works without systemd's knowing.
     */
    static void notifyQuietly(String state) {
        String socket = System.getenv("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) return;
        try {
            send(socket, state);
        } catch (IOException e) {
            System.err.println("ferry: cannot tell systemd " + state.lines().findFirst().orElse("") + ": " + e.getMessage());
        }
    }

    /**
     * One datagram {@code state} to the Unix socket {@code path}; a leading {@code @} names an
     * abstract socket, as in {@code $NOTIFY_SOCKET}.
     */
    static void send(String path, String state) throws IOException {
        byte[] name = path.getBytes(StandardCharsets.UTF_8);
        if (name.length == 0 || name.length >= SUN_PATH) throw new IOException("NOTIFY_SOCKET '" + path + "' is not a Unix socket path");
        if (name[0] == '@') name[0] = 0;
        else if (name[0] != '/') throw new IOException("NOTIFY_SOCKET '" + path + "' is neither a path nor @abstract");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment callState = arena.allocate(Libc.CALL_STATE);
            MemorySegment address = arena.allocate(2 + SUN_PATH);
            address.set(ValueLayout.JAVA_SHORT, 0, (short) AF_UNIX);
            MemorySegment.copy(name, 0, address, ValueLayout.JAVA_BYTE, 2, name.length);
            byte[] text = state.getBytes(StandardCharsets.UTF_8);
            MemorySegment message = arena.allocateFrom(ValueLayout.JAVA_BYTE, text);
            int fd = (int) SOCKET.invokeExact(callState, AF_UNIX, SOCK_DGRAM_CLOEXEC, 0);
            if (fd < 0) throw new IOException("socket(AF_UNIX): " + Libc.strerror(Libc.errno(callState)));
            try {
                long sent = (long) SENDTO.invokeExact(callState, fd, message, (long) text.length, MSG_NOSIGNAL, address, 2 + name.length);
                if (sent < 0) throw new IOException(path + ": " + Libc.strerror(Libc.errno(callState)));
            } finally {
                Libc.close(fd);
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException(t);
        }
    }
}
