package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ferry.service.qmp.QmpClient;
import java.io.StringReader;

/**
 * Coverage-guided fuzzing (Jazzer) of what reaches an agent's service from outside the packet path:
 * lines from QEMU's monitor, the admin API's port descriptions, and the agent's YAML configuration.
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
