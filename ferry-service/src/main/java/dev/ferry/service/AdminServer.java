package dev.ferry.service;

import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The agent's admin endpoint, what {@code ferry ctl} talks to:
 * <ul>
 *   <li>{@code GET /metrics}: Prometheus;</li>
 *   <li>{@code GET /v1/status}: the {@link AgentStatus} snapshot as JSON;</li>
 *   <li>{@code POST /v1/ports} (a {@link PortSpec} as JSON), {@code DELETE /v1/ports/ID};</li>
 *   <li>{@code POST /v1/migrate/STEP?vm=ID[&migration=N]}: a step of the API detector;</li>
 *   <li>{@code POST /v1/libvirt/OPERATION/SUB-OPERATION} (the domain's XML as
 *       application/xml): libvirt's hook, answered with a line per port plugged or unplugged.</li>
 * </ul>
 * It steers the agent, so it is reached only by those allowed: on a Unix socket (the default) by
 * its file's owner; on TCP only with mutual TLS, by an operator's certificate of the cluster's CA
 * (plaintext TCP only for an agent run {@code --insecure}).
 */
final class AdminServer implements AutoCloseable {
    private final HttpEndpoint http;

    AdminServer(HttpAddress bind, io.netty.handler.ssl.SslContext tls, AgentService service) throws IOException {
        AgentMetrics metrics = new AgentMetrics(service::status);
        http = new HttpEndpoint(bind, tls, null);
        http.metrics(metrics.registry(), metrics::refresh);
        http.route("/v1/status", request -> {
            method(request, "GET");
            return service.status();
        });
        http.route("/v1/ports", request -> {
            String rest = request.path().substring("/v1/ports".length());
            if (rest.isEmpty() || rest.equals("/")) {
                method(request, "POST");
                return service.addPort(portSpec(request.body()));
            }
            method(request, "DELETE");
            service.removePort(URLDecoder.decode(rest.substring(1), StandardCharsets.UTF_8));
            return null;
        });
        http.route("/v1/libvirt/", request -> {
            method(request, "POST");
            String[] call = request.path().substring("/v1/libvirt/".length()).split("/", -1);
            if (call.length != 2) throw new HttpEndpoint.NotFound("POST " + request.path() + " is not served (/v1/libvirt/OPERATION/SUB-OPERATION)");
            String xml = new String(request.body(), StandardCharsets.UTF_8);
            List<String> done = service.libvirtHook(call[0], call[1], xml);
            return new HttpEndpoint.Raw("text/plain; charset=utf-8", (done.stream().map(l -> l + "\n").collect(Collectors.joining()))
                    .getBytes(StandardCharsets.UTF_8));
        });
        http.route("/v1/migrate/", request -> {
            method(request, "POST");
            MigrationStep step = MigrationStep.parse(request.path().substring("/v1/migrate/".length()));
            Map<String, String> q = request.query();
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

    HttpAddress address() {
        return http.address();
    }

    private static void method(HttpEndpoint.Request request, String expected) {
        if (!request.method().equals(expected)) {
            throw new HttpEndpoint.NotFound(request.method() + " " + request.path() + " is not served");
        }
    }

    @Override
    public void close() {
        http.close();
    }

    /** The largest request body the admin API reads. */
    static final int MAX_BODY = HttpEndpoint.MAX_BODY;

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
