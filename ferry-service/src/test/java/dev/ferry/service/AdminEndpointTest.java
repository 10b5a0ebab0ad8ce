package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.rpc.Tls;
import dev.ferry.security.ClusterCa;
import dev.ferry.security.Identity;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Who reaches the agent's admin endpoint: by default only its user, on a Unix socket; on TCP only an
 * operator's certificate. Where a browser could reach it (plaintext TCP on loopback, an agent run
 * insecure), a change is still taken only as JSON with Ferry's own header, which no page can send
 * across origins. {@code /metrics} for Prometheus is separate, read only, optionally behind a token.
 */
class AdminEndpointTest {
    private static final String PORT = "{\"id\":\"web1\",\"type\":\"qemu-socket\",\"vni\":100,\"mac\":\"52:54:00:00:00:01\","
            + "\"local\":\"127.0.0.1:0\",\"remote\":\"127.0.0.1:9\"}";
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    @TempDir Path dir;
    private AgentService agent;
    private final HttpClient http = HttpClient.newHttpClient();

    private AgentService start(String admin, Tls tls) throws IOException {
        agent = AgentService.start(AgentSettings.empty().override(1, "127.0.0.1:0", null, "127.0.0.1:9", admin, List.of(100),
                null, List.of()).validate().withTls(tls));
        return agent;
    }

    @AfterEach
    void stop() {
        if (agent != null) agent.close();
        http.close();
    }

    private HttpResponse<String> post(String type, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://" + agent.adminAddress() + "/v1/ports"))
                .POST(HttpRequest.BodyPublishers.ofString(type.equals("application/x-www-form-urlencoded") ? "id=web1" : PORT))
                .header("Content-Type", type);
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aFormPostedFromAWebPagePlugsNothing() throws Exception {
        start("127.0.0.1:0", null);
        HttpResponse<String> r = post("application/x-www-form-urlencoded", "Origin", "http://evil.example");

        assertThat(r.statusCode()).isEqualTo(403);
        assertThat(r.body()).contains("web page");
        assertThat(agent.status().ports()).isEmpty();
    }

    @Test
    void aChangeWithoutFerrysHeaderOrNotInJsonIsRefusedSayingWhatItNeeds() throws Exception {
        start("127.0.0.1:0", null);
        HttpResponse<String> noHeader = post("application/json");
        HttpResponse<String> text = post("text/plain", "X-Ferry-Request", "1");

        assertThat(noHeader.statusCode()).isEqualTo(403);
        assertThat(noHeader.body()).contains("X-Ferry-Request");
        assertThat(text.statusCode()).isEqualTo(403);
        assertThat(text.body()).contains("application/json");
        assertThat(agent.status().ports()).isEmpty();
    }

    @Test
    void jsonWithFerrysHeaderPlugsThePortAndReadsNeedNoHeader() throws Exception {
        start("127.0.0.1:0", null);
        HttpResponse<String> r = post("application/json", "X-Ferry-Request", "1");
        HttpResponse<String> status = http.send(HttpRequest.newBuilder(URI.create("http://" + agent.adminAddress() + "/v1/status")).build(),
                HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(status.statusCode()).isEqualTo(200);
        assertThat(status.body()).contains("web1");
    }

    @Test
    void byDefaultTheEndpointIsAUnixSocketOnlyItsOwnerMayOpen() throws Exception {
        Path socket = dir.resolve("run").resolve("agent-1.sock");
        start(socket.toString(), null);

        assertThat(agent.adminAddress()).isEqualTo(new HttpAddress.Unix(socket));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent()))).isEqualTo("rwx------");
        AdminClient ctl = new AdminClient(new HttpAddress.Unix(socket), null);
        assertThat(ctl.call("POST", "/v1/ports", PORT.getBytes(StandardCharsets.UTF_8), TIMEOUT).status()).isEqualTo(200);
        assertThat(ctl.call("GET", "/v1/status", null, TIMEOUT).text()).contains("web1");
        assertThat(ctl.call("GET", "/metrics", null, TIMEOUT).text()).contains("ferry_");
        agent.close();
        agent = null;
        assertThat(socket).as("removed when the agent stops").doesNotExist();
    }

    @Test
    void aSocketLeftByAnEndedAgentIsTakenOverButALiveOnesIsNot() throws Exception {
        Path socket = dir.resolve("agent-1.sock");
        try (var stale = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            stale.bind(java.net.UnixDomainSocketAddress.of(socket));
        } // closed: the file stays, nobody answers
        assertThat(socket).exists();
        start(socket.toString(), null);

        assertThatThrownBy(() -> AgentService.start(AgentSettings.empty().override(1, "127.0.0.1:0", null, "127.0.0.1:9",
                socket.toString(), List.of(100), null, List.of()).validate()))
                .isInstanceOf(IOException.class).hasMessageContaining("another process serves this socket");
        assertThat(new AdminClient(new HttpAddress.Unix(socket), null).call("GET", "/v1/status", null, TIMEOUT).status())
                .as("the first agent still answers").isEqualTo(200);
    }

    @Test
    void onTcpOnlyAnOperatorsCertificateFromTheClustersCaIsAnswered() throws Exception {
        ClusterCa ca = ClusterCa.init(dir, "test", ClusterCa.CA_VALIDITY);
        for (Identity who : List.of(new Identity.Host(1), new Identity.Host(2), new Identity.Operator())) {
            String name = who instanceof Identity.Host h ? "agent-" + h.hostId() : "operator";
            ca.issue(who, name, List.of(), Duration.ofDays(1)).write(dir, name);
        }
        Path other = dir.resolve("other");
        ClusterCa.init(other, "other", ClusterCa.CA_VALIDITY).issue(new Identity.Operator(), "operator", List.of(), Duration.ofDays(1))
                .write(other, "operator");
        start("127.0.0.1:0", Tls.inDir(dir, "agent-1"));
        HttpAddress target = agent.adminAddress();

        assertThat(new AdminClient(target, Tls.inDir(dir, "operator")).call("POST", "/v1/ports", PORT.getBytes(StandardCharsets.UTF_8),
                TIMEOUT).status()).as("an operator").isEqualTo(200);
        for (Tls refused : List.of(Tls.inDir(dir, "agent-2"), Tls.inDir(other, "operator"))) {
            assertThatThrownBy(() -> new AdminClient(target, refused).call("DELETE", "/v1/ports/web1", null, TIMEOUT))
                    .as(refused.cert().toString()).isInstanceOf(IOException.class);
        }
        assertThatThrownBy(() -> http.send(HttpRequest.newBuilder(URI.create("http://" + target + "/v1/status")).build(),
                HttpResponse.BodyHandlers.ofString())).as("plain HTTP").isInstanceOf(IOException.class);
        assertThat(agent.status().ports()).as("nothing unplugged").hasSize(1);
    }

    @Test
    void prometheusScrapesItsOwnEndpointWithTheTokenWhenOneIsSet() throws Exception {
        Path token = dir.resolve("metrics.token");
        Files.writeString(token, "s3cret-token\n");
        agent = AgentService.start(AgentSettings.empty().override(1, "127.0.0.1:0", null, "127.0.0.1:9", dir.resolve("a.sock").toString(),
                List.of(100), null, List.of()).withMetrics("127.0.0.1:0", token.toString()).validate());
        URI metrics = URI.create("http://" + agent.metricsAddress() + "/metrics");

        HttpResponse<String> without = http.send(HttpRequest.newBuilder(metrics).build(), HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> wrong = http.send(HttpRequest.newBuilder(metrics).header("Authorization", "Bearer nope").build(),
                HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> with = http.send(HttpRequest.newBuilder(metrics).header("Authorization", "Bearer s3cret-token").build(),
                HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> change = http.send(HttpRequest.newBuilder(URI.create("http://" + agent.metricsAddress() + "/v1/ports"))
                .header("Authorization", "Bearer s3cret-token").header("X-Ferry-Request", "1").POST(HttpRequest.BodyPublishers.ofString(PORT))
                .build(), HttpResponse.BodyHandlers.ofString());

        assertThat(without.statusCode()).isEqualTo(401);
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(with.statusCode()).isEqualTo(200);
        assertThat(with.body()).contains("ferry_agent_frames");
        assertThat(change.statusCode()).as("the metrics endpoint serves /metrics only").isEqualTo(404);
    }
}
