package dev.ferry.service;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The agent's admin endpoint, what {@code ferry ctl} talks to:
 * <ul>
 *   <li>{@code GET /metrics}: Prometheus;</li>
 *   <li>{@code GET /v1/status}: the {@link AgentStatus} snapshot as JSON;</li>
 *   <li>{@code POST /v1/ports} (a {@link PortSpec} as JSON), {@code DELETE /v1/ports/ID};</li>
 *   <li>{@code POST /v1/migrate/STEP?vm=ID[&migration=N]}: a step of the API detector.</li>
 * </ul>
 * Bind it to loopback or a management network: it steers the agent and has no authentication.
 */
final class AdminServer implements AutoCloseable {
    private final HttpEndpoint http;

    AdminServer(InetSocketAddress bind, AgentService service) throws IOException {
        AgentMetrics metrics = new AgentMetrics(service::status);
        http = new HttpEndpoint(bind, metrics.registry(), metrics::refresh);
        http.route("/v1/status", exchange -> {
            method(exchange, "GET");
            return service.status();
        });
        http.route("/v1/ports", exchange -> {
            String rest = exchange.getRequestURI().getPath().substring("/v1/ports".length());
            if (rest.isEmpty() || rest.equals("/")) {
                method(exchange, "POST");
                return service.addPort(portSpec(exchange.getRequestBody().readNBytes(MAX_BODY + 1)));
            }
            method(exchange, "DELETE");
            service.removePort(URLDecoder.decode(rest.substring(1), StandardCharsets.UTF_8));
            return null;
        });
        http.route("/v1/migrate/", exchange -> {
            method(exchange, "POST");
            MigrationStep step = MigrationStep.parse(exchange.getRequestURI().getPath().substring("/v1/migrate/".length()));
            Map<String, String> q = query(exchange);
            String vm = q.get("vm");
            if (vm == null) throw new ConfigException("vm: missing (the port id of the migrating VM)");
            Long migration = null;
            if (q.containsKey("migration")) {
                try {
                    migration = Long.parseLong(q.get("migration"));
                } catch (NumberFormatException e) {
                    throw new ConfigException("migration: '" + q.get("migration") + "' is not a number");
                }
            }
            return service.migrate(step, vm, migration);
        });
    }

    InetSocketAddress address() {
        return http.address();
    }

    private static void method(HttpExchange exchange, String expected) {
        if (!exchange.getRequestMethod().equals(expected)) {
            throw new HttpEndpoint.NotFound(exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath() + " is not served");
        }
    }

    private static Map<String, String> query(HttpExchange exchange) {
        Map<String, String> out = new HashMap<>();
        String raw = exchange.getRequestURI().getRawQuery();
        if (raw == null) return out;
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                out.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                        URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    @Override
    public void close() {
        http.close();
    }

    /** The largest request body the admin API reads: a port description is a few hundred bytes. */
    static final int MAX_BODY = 64 * 1024;

    /**
     * A port description from a request body, validated; anything else is refused with a message
     * naming the field (a {@link ConfigException}, answered 400), never another exception.
     */
    static PortSpec.Port portSpec(byte[] body) {
        if (body.length > MAX_BODY) throw new ConfigException("port: request body over " + MAX_BODY + " bytes");
        PortSpec spec;
        try {
            spec = HttpEndpoint.JSON.readValue(body, PortSpec.class);
        } catch (IOException e) {
            throw new ConfigException("port: not a port description: " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
        if (spec == null) throw new ConfigException("port: not a port description: empty");
        return spec.validate("port");
    }
}
