package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The agent's admin endpoint against a web page: a browser on the host can reach 127.0.0.1, so a
 * change (plugging a port, a migration step) is taken only as JSON with Ferry's own header, which no
 * page can send across origins; reads stay open to Prometheus and curl.
 */
class AdminEndpointTest {
    private static final String PORT = "{\"id\":\"web1\",\"type\":\"qemu-socket\",\"vni\":100,\"mac\":\"52:54:00:00:00:01\","
            + "\"local\":\"127.0.0.1:0\",\"remote\":\"127.0.0.1:9\"}";
    private AgentService agent;
    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void start() throws Exception {
        agent = AgentService.start(AgentSettings.empty().override(1, "127.0.0.1:0", null, "127.0.0.1:9", "127.0.0.1:0", List.of(100),
                null, List.of()).validate());
    }

    @AfterEach
    void stop() {
        agent.close();
        http.close();
    }

    private HttpResponse<String> post(String type, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.adminAddress().getPort() + "/v1/ports"))
                .POST(HttpRequest.BodyPublishers.ofString(type.equals("application/x-www-form-urlencoded") ? "id=web1" : PORT))
                .header("Content-Type", type);
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aFormPostedFromAWebPagePlugsNothing() throws Exception {
        HttpResponse<String> r = post("application/x-www-form-urlencoded", "Origin", "http://evil.example");

        assertThat(r.statusCode()).isEqualTo(403);
        assertThat(r.body()).contains("web page");
        assertThat(agent.status().ports()).isEmpty();
    }

    @Test
    void aChangeWithoutFerrysHeaderOrNotInJsonIsRefusedSayingWhatItNeeds() throws Exception {
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
        HttpResponse<String> r = post("application/json", "X-Ferry-Request", "1");
        HttpResponse<String> status = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + agent.adminAddress().getPort()
                + "/v1/status")).build(), HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(status.statusCode()).isEqualTo(200);
        assertThat(status.body()).contains("web1");
    }
}
