package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
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
    void aBadFlagIsRefusedNamingIt() throws Exception {
        try (FerryProcess agent = new FerryProcess("agent", "--host-id", "1", "--board", "127.0.0.1:7070", "--vni", "100",
                "--listen", "127.0.0.1:0", "--port", "id=vm1,type=tap,vni=100,mac=zz")) {
            assertThat(agent.waitForExit(30)).isEqualTo(2);
            assertThat(agent.output()).contains("ports[0].mac").contains("'zz' is not a MAC address");
        }
    }
}
