package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ferry.service.libvirt.LibvirtHook;
import dev.ferry.service.qmp.QmpClient;
import java.io.StringReader;

/**
 * Coverage-guided fuzzing (Jazzer) of what reaches an agent's service from outside the packet path:
 * lines from QEMU's monitor, the admin API's port descriptions, libvirt's domain XML as the hook posts it,
 * and the agent's YAML configuration.
 * Properties: each is read or refused with a message naming the field (a {@link ConfigException});
 * nothing else is ever thrown.
 */
class ServiceFuzzTest {

    /** A line from QEMU's QMP socket: an event, an answer, or unreadable; never an exception. */
    @FuzzTest(maxDuration = "5s")
    void qmpLine(FuzzedDataProvider data) throws Exception {
        String text = data.consumeRemainingAsString();
        String line = QmpClient.readLine(new StringReader(text));
        if (line == null) return;
        assertThat(line.length()).isLessThanOrEqualTo(QmpClient.MAX_LINE);
        assertThat(QmpClient.parse(line)).isNotNull();
    }

    /** A request body for {@code POST /v1/ports}. */
    @FuzzTest(maxDuration = "5s")
    void adminPortRequest(byte[] body) {
        refusedOnlyWithAConfigError(() -> AdminServer.portSpec(body));
    }

    /**
     * A domain XML as libvirt's hook posts it ({@code POST /v1/libvirt/OPERATION/SUB-OPERATION}),
     * for every call that plugs or unplugs: carried out on the agent's ports, or refused with a reason;
     * no other exception, and never a port plugged that the call did not keep.
     */
    @FuzzTest(maxDuration = "5s")
    void libvirtDomain(byte[] body) {
        String xml = new String(body, java.nio.charset.StandardCharsets.UTF_8);
        for (String call : LibvirtHook.CALLS) {
            String[] ops = call.split(" ");
            java.util.Set<String> plugged = new java.util.HashSet<>();
            var ports = new LibvirtHook.Ports() {
                @Override
                public java.util.Set<String> plugged() {
                    return java.util.Set.copyOf(plugged);
                }

                @Override
                public void plug(PortSpec.Port port) {
                    if (port.id().length() % 3 == 2) throw new ConfigException("id: refused to test the way back");
                    plugged.add(port.id());
                }

                @Override
                public void unplug(String id) {
                    plugged.remove(id);
                }
            };
            try {
                LibvirtHook.apply(ops[0], ops[1], xml, ports);
            } catch (ConfigException refused) {
                assertThat(refused.getMessage()).isNotBlank();
                assertThat(plugged).as("ports left plugged by a refused " + call).isEmpty();
            }
        }
    }

    /** An agent's YAML configuration file, validated as {@code ferry agent --config} does. */
    @FuzzTest(maxDuration = "5s")
    void agentYaml(FuzzedDataProvider data) {
        String yaml = data.consumeRemainingAsString();
        refusedOnlyWithAConfigError(() -> AgentSettings.parse(yaml, "agent.yaml").validate());
    }

    private static void refusedOnlyWithAConfigError(Runnable read) {
        try {
            read.run();
        } catch (ConfigException refused) {
            assertThat(refused.getMessage()).isNotBlank();
        }
    }

    @org.junit.jupiter.api.Test
    void aQmpLineLongerThanTheBoundIsSkippedAndTheNextOneRead() throws Exception {
        String text = "x".repeat(QmpClient.MAX_LINE + 10) + "\n{\"event\":\"STOP\"}\n";
        var in = new StringReader(text);
        assertThatCode(() -> assertThat(QmpClient.readLine(in)).isEqualTo("{\"event\":\"STOP\"}")).doesNotThrowAnyException();
    }

    @org.junit.jupiter.api.Test
    void anAdminRequestBodyOverTheBoundIsRefusedNamingTheLimit() {
        byte[] body = new byte[AdminServer.MAX_BODY + 1];
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> AdminServer.portSpec(body))
                .isInstanceOf(ConfigException.class).hasMessageContaining("over 65536 bytes");
    }
}
