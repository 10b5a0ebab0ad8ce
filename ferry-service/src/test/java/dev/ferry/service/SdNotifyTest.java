package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.agent.port.Libc;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SdNotifyTest {
    @TempDir Path dir;

    @Test
    void readyReachesASocketNamedByPath() throws Throwable {
        Path path = dir.resolve("notify");
        try (Listener systemd = new Listener(path.toString())) {
            SdNotify.send(path.toString(), "READY=1\nSTATUS=board serving");
            assertThat(systemd.receive()).isEqualTo("READY=1\nSTATUS=board serving");
        }
    }

    @Test
    void readyReachesAnAbstractSocket() throws Throwable {
        String name = "@ferry-sdnotify-test-" + ProcessHandle.current().pid();
        try (Listener systemd = new Listener(name)) {
            SdNotify.send(name, "STOPPING=1");
            assertThat(systemd.receive()).isEqualTo("STOPPING=1");
        }
    }

    @Test
    void aRelativeNotifySocketIsRefusedByName() {
        assertThatThrownBy(() -> SdNotify.send("run/notify", "READY=1")).isInstanceOf(IOException.class)
                .hasMessageContaining("run/notify");
    }

    @Test
    void aSocketNobodyListensOnFailsWithTheReason() {
        Path missing = dir.resolve("nobody");
        assertThatThrownBy(() -> SdNotify.send(missing.toString(), "READY=1")).isInstanceOf(IOException.class)
                .hasMessageContaining(missing.toString());
        assertThat(Files.exists(missing)).isFalse();
    }

    /** What systemd does: a datagram socket bound to NOTIFY_SOCKET's address. */
    private static final class Listener implements AutoCloseable {
        private static final MethodHandle SOCKET = Libc.downcall("socket",
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT), false);
        private static final MethodHandle BIND = Libc.downcall("bind",
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), false);
        private static final MethodHandle RECV = Libc.downcall("recv",
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_INT), false);
        private final Arena arena = Arena.ofConfined();
        private final int fd;

        Listener(String name) throws Throwable {
            byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
            if (bytes[0] == '@') bytes[0] = 0;
            MemorySegment address = arena.allocate(110);
            address.set(ValueLayout.JAVA_SHORT, 0, (short) 1);
            MemorySegment.copy(bytes, 0, address, ValueLayout.JAVA_BYTE, 2, bytes.length);
            fd = (int) SOCKET.invokeExact(1, 2, 0);
            assertThat(fd).isNotNegative();
            assertThat((int) BIND.invokeExact(fd, address, 2 + bytes.length)).isZero();
        }

        String receive() throws Throwable {
            MemorySegment buffer = arena.allocate(512);
            long n = (long) RECV.invokeExact(fd, buffer, 512L, 0x40 /* MSG_DONTWAIT: the datagram is there already */);
            assertThat(n).isPositive();
            return new String(buffer.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }

        @Override
        public void close() {
            Libc.close(fd);
            arena.close();
        }
    }
}
