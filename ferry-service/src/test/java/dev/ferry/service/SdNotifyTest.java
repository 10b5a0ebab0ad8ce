package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SdNotifyTest {
    @TempDir Path dir;

    @Test
    void readyReachesASocketNamedByPath() throws Throwable {
        Path path = dir.resolve("notify");
        try (NotifySocket systemd = new NotifySocket(path.toString())) {
            SdNotify.send(path.toString(), "READY=1\nSTATUS=board serving");
            assertThat(systemd.receive(0)).isEqualTo("READY=1\nSTATUS=board serving");
        }
    }

    @Test
    void readyReachesAnAbstractSocket() throws Throwable {
        String name = "@ferry-sdnotify-test-" + ProcessHandle.current().pid();
        try (NotifySocket systemd = new NotifySocket(name)) {
            SdNotify.send(name, "STOPPING=1");
            assertThat(systemd.receive(0)).isEqualTo("STOPPING=1");
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
}
