package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.service.NotifySocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `ferry agent` as its own process: a bad configuration is refused, naming the field, before anything starts. */
class AgentProcessTest {
    @TempDir Path dir;

    @Test
    void aBadFileIsRefusedNamingTheField() throws Exception {
        Path file = dir.resolve("agent.yaml");
        Files.writeString(file, """
                host-id: 1
                board: 127.0.0.1:7070
                vnis: [100]
                ports:
                  - { id: vm1, type: qemu-socket, vni: 100, mac: 52:54:00:00:00:01, local: 127.0.0.1:7001 }
                """);
        try (FerryProcess agent = new FerryProcess("agent", "--config", file.toString(), "--listen", "127.0.0.1:0")) {
            assertThat(agent.waitForExit(30)).isEqualTo(2);
            assertThat(agent.output()).contains("bad configuration: ports[0].remote: missing");
        }
    }

    @Test
    void theAgentTellsSystemdItIsReadyOnceItsAdminSocketServes() throws Throwable {
        Path notify = dir.resolve("notify");
        Path admin = dir.resolve("agent.sock");
        try (NotifySocket systemd = new NotifySocket(notify.toString());
             FerryProcess agent = new FerryProcess(List.of(), Map.of("NOTIFY_SOCKET", notify.toString()), "agent", "--host-id", "1",
                     "--board", "127.0.0.1:9", "--vni", "100", "--listen", "127.0.0.1:0", "--admin", admin.toString(), "--insecure")) {
            String ready = systemd.receive(30);
            assertThat(ready).startsWith("READY=1\nSTATUS=agent 1, underlay 127.0.0.1:").contains("admin " + admin);
            assertThat(Files.exists(admin)).as("admin socket there when systemd hears READY").isTrue();
        }
    }

    @Test
    void aBadFlagIsRefusedNamingIt() throws Exception {
        try (FerryProcess agent = new FerryProcess("agent", "--host-id", "1", "--board", "127.0.0.1:7070", "--vni", "100",
                "--listen", "127.0.0.1:0", "--port", "id=vm1,type=tap,vni=100,mac=zz")) {
            assertThat(agent.waitForExit(30)).isEqualTo(2);
            assertThat(agent.output()).contains("ports[0].mac").contains("'zz' is not a MAC address");
        }
    }
}
