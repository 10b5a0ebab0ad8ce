package dev.ferry.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The HTTP endpoint (metrics, the admin API) against clients that hold connections: one that sends
 * nothing is closed after the idle time, and connections beyond the bound are closed at once while
 * the endpoint goes on serving the others.
 */
class HttpEndpointLimitsTest {
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : open.reversed()) c.close();
    }

    private HttpEndpoint endpoint(Duration idle, int maxConnections) throws Exception {
        HttpEndpoint e = new HttpEndpoint(new HttpAddress.Tcp(new InetSocketAddress("127.0.0.1", 0)), null, null, idle, maxConnections);
        e.route("/v1/ping", request -> Map.of("pong", true));
        open.add(e);
        return e;
    }

    private Socket connect(HttpEndpoint e) throws Exception {
        Socket s = new Socket();
        s.connect(((HttpAddress.Tcp) e.address()).address(), 2_000);
        s.setSoTimeout(5_000);
        open.add(s);
        return s;
    }

    /** Whether the endpoint closed {@code s} (end of stream) before the socket's read timeout. */
    private static boolean closedByEndpoint(Socket s) throws Exception {
        return s.getInputStream().read() == -1;
    }

    private static String get(Socket s) throws Exception {
        s.getOutputStream().write("GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        InputStream in = s.getInputStream();
        return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }

    @Test
    void aConnectionThatSendsNothingIsClosedAfterTheIdleTime() throws Exception {
        HttpEndpoint e = endpoint(Duration.ofMillis(300), 16);
        Socket idle = connect(e);
        long started = System.nanoTime();

        assertThat(closedByEndpoint(idle)).isTrue();
        assertThat((System.nanoTime() - started) / 1_000_000).as("ms until closed").isBetween(200L, 4_000L);
    }

    @Test
    void connectionsBeyondTheBoundAreClosedAtOnceAndTheOthersAreServed() throws Exception {
        HttpEndpoint e = endpoint(Duration.ofSeconds(30), 2);
        Socket first = connect(e);
        connect(e);
        Socket third = connect(e);

        assertThat(closedByEndpoint(third)).as("the third of two allowed").isTrue();
        assertThat(get(first)).startsWith("HTTP/1.1 200").contains("pong");
        // The first closed after its answer: room for one more.
        Thread.sleep(200);
        assertThat(get(connect(e))).startsWith("HTTP/1.1 200");
    }
}
