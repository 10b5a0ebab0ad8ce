package dev.ferry.service;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A process's HTTP endpoint: Prometheus {@code /metrics} from a registry, plus JSON routes a service
 * adds (the agent's admin API). Served by the JDK's own HTTP server on one thread; nothing on it is
 * on the packet path.
 */
final class HttpEndpoint implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpEndpoint.class);
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** A JSON route: returns what to serialise, or throws {@link ConfigException} for a 400 answer. */
    @FunctionalInterface
    interface Route {
        Object handle(HttpExchange exchange) throws IOException;
    }

    private final HttpServer server;

    HttpEndpoint(InetSocketAddress bind, PrometheusRegistry registry, Runnable beforeScrape) throws IOException {
        server = HttpServer.create(bind, 16);
        server.setExecutor(Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "http-" + bind.getPort());
            t.setDaemon(true);
            return t;
        }));
        PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
        server.createContext("/metrics", exchange -> {
            try (exchange) {
                beforeScrape.run();
                ByteArrayOutputStream body = new ByteArrayOutputStream();
                writer.write(body, registry.scrape());
                send(exchange, 200, writer.getContentType(), body.toByteArray());
            } catch (RuntimeException e) {
                log.warn("metrics scrape failed: {}", e.toString());
                send(exchange, 503, "text/plain", (e.getMessage() + "\n").getBytes(StandardCharsets.UTF_8));
            }
        });
        server.start();
    }

    /**
     * The header every request that changes something must carry ({@code ferry ctl} sends it). A
     * browser sends no custom header across origins without a CORS preflight, which this endpoint
     * never grants: a web page cannot make an agent plug a port or step a migration (CSRF).
     */
    static final String CHANGE_HEADER = "X-Ferry-Request";

    /** Adds a JSON route under {@code path} (prefix match, as the JDK server does). */
    void route(String path, Route route) {
        server.createContext(path, exchange -> {
            try (exchange) {
                String refused = refusedChange(exchange);
                if (refused != null) {
                    log.warn("{} {} refused: {}", exchange.getRequestMethod(), exchange.getRequestURI().getPath(), refused);
                    sendJson(exchange, 403, Map.of("error", refused));
                    return;
                }
                Object result;
                try {
                    result = route.handle(exchange);
                } catch (ConfigException e) {
                    sendJson(exchange, 400, Map.of("error", e.getMessage()));
                    return;
                } catch (NotFound e) {
                    sendJson(exchange, 404, Map.of("error", e.getMessage()));
                    return;
                } catch (RuntimeException | IOException e) {
                    log.warn("{} {} failed", exchange.getRequestMethod(), exchange.getRequestURI(), e);
                    sendJson(exchange, 500, Map.of("error", String.valueOf(e.getMessage())));
                    return;
                }
                sendJson(exchange, 200, result == null ? Map.of() : result);
            }
        });
    }

    InetSocketAddress address() {
        return server.getAddress();
    }

    /** Why a request that changes state is refused, or null: reads (GET) are anyone's who reaches the endpoint. */
    static String refusedChange(HttpExchange exchange) {
        String method = exchange.getRequestMethod();
        if (method.equals("GET") || method.equals("HEAD")) return null;
        String origin = exchange.getRequestHeaders().getFirst("Origin");
        if (origin != null) return "a request from a web page (Origin: " + origin + ") changes nothing";
        if (!"1".equals(exchange.getRequestHeaders().getFirst(CHANGE_HEADER))) {
            return "a change needs the header " + CHANGE_HEADER + ": 1 (ferry ctl sends it)";
        }
        String type = exchange.getRequestHeaders().getFirst("Content-Type");
        if (type != null && !type.toLowerCase(java.util.Locale.ROOT).startsWith("application/json")) {
            return "a change is sent as application/json, not " + type;
        }
        return null;
    }

    private static void sendJson(HttpExchange exchange, int status, Object body) throws IOException {
        send(exchange, status, "application/json", JSON.writeValueAsBytes(body));
    }

    private static void send(HttpExchange exchange, int status, String type, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", type);
        exchange.sendResponseHeaders(status, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    /** An unknown route or method: answered 404. */
    static final class NotFound extends RuntimeException {
        NotFound(String message) {
            super(message);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
