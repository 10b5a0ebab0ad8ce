package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.port.Libc;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * systemd's end of sd_notify in tests: a datagram socket bound to what {@code $NOTIFY_SOCKET} names
 * (a path, or {@code @name} for an abstract socket).
 */
public final class NotifySocket implements AutoCloseable {
    private static final MethodHandle SOCKET = Libc.downcall("socket",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);
    private static final MethodHandle BIND = Libc.downcall("bind",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), false);
    private static final MethodHandle RECV = Libc.downcall("recv",
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_INT), false);
    private static final int MSG_DONTWAIT = 0x40;
    private final Arena arena = Arena.ofShared();
    private final int fd;

    public NotifySocket(String name) throws Throwable {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes[0] == '@') bytes[0] = 0;
        MemorySegment address = arena.allocate(110);
        address.set(ValueLayout.JAVA_SHORT, 0, (short) 1);
        MemorySegment.copy(bytes, 0, address, ValueLayout.JAVA_BYTE, 2, bytes.length);
        fd = (int) SOCKET.invokeExact(1, 2, 0);
        assertThat(fd).isNotNegative();
        assertThat((int) BIND.invokeExact(fd, address, 2 + bytes.length)).as("bind " + name).isZero();
    }

    /** The next datagram, waiting up to {@code seconds}; null when none came. */
    public String receive(int seconds) throws Throwable {
        MemorySegment buffer = arena.allocate(4096);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        do {
            long n = (long) RECV.invokeExact(fd, buffer, 4096L, MSG_DONTWAIT);
            if (n >= 0) return new String(buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
            Thread.sleep(20);
        } while (System.nanoTime() < deadline);
        return null;
    }

    @Override
    public void close() {
        Libc.close(fd);
        arena.close();
    }
}
