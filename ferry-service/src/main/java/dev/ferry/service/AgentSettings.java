package dev.ferry.service;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.ferry.agent.AgentConfig;
import dev.ferry.agent.PortPolicy;
import dev.ferry.agent.Mode;
import dev.ferry.board.Endpoints;
import dev.ferry.agent.runtime.LoopPriority;
import dev.ferry.agent.runtime.UnderlaySocket.Transport;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A {@code ferry agent}'s configuration as written in its YAML file (every key optional there; flags
 * fill or override them). {@link #validate} refuses a bad one naming the field.
 *
 * <pre>
 * host-id: 1
 * listen: 127.0.0.1:6081       # underlay: where Geneve from other agents arrives
 * advertise: 127.0.0.1:6081    # what other agents send to (default: listen)
 * board: 127.0.0.1:7070       # replicas: 10.0.0.1:7070,10.0.0.2:7070 (the agent fails over)
 * admin: /run/ferry/agent-1.sock  # ferry ctl: a Unix socket (default ~/.local/state/ferry/run/agent-ID.sock),
 *                               # or host:port, then mutual TLS with operators' certificates only
 * metrics: 127.0.0.1:9100      # Prometheus /metrics over plain HTTP, read only (default: none)
 * metrics-token-file: /etc/ferry/metrics.token  # then /metrics wants Authorization: Bearer TOKEN
 * security: { tls-dir: /etc/ferry/pki, tls-name: agent-1, insecure: false, plaintext-underlay: false }
 * vnis: [100]
 * vni-mtu: { 100: 1500 }       # a VNI's MTU, 68..9000 (default 9000: jumbo frames); every agent of it the same
 * mode: ferry
 * transport: auto              # underlay socket: epoll (Linux, batched receive), nio, or auto
 * libvirt: qemu:///system      # the libvirt daemon whose domain events tell ports with a domain their
 *                               # migrations (default qemu:///system, connected once such a port is plugged)
 * tuning: { buffer-millis: 2000, retry-millis: 100 }   # and loop-nice: -20..19, the loop thread's (unset: the process's)
 * ports: [ ... ]               # see PortSpec
 * </pre>
 */
public record AgentSettings(@JsonProperty("host-id") Integer hostId, String listen, String advertise, String board,
                            String admin, List<Integer> vnis, String mode, String transport, Tuning tuning,
                            List<PortSpec> ports, @JsonProperty("vni-mtu") Map<Integer, Integer> vniMtu, String metrics,
                            @JsonProperty("metrics-token-file") String metricsTokenFile, Security security, String libvirt) {

    /**
     * How the agent proves who it is and protects what it sends (README: Security); flags of the same
     * names win over these. Unset: this machine's own CA, mutual TLS, a sealed underlay.
     */
    public record Security(@JsonProperty("tls-dir") String tlsDir, @JsonProperty("tls-name") String tlsName, Boolean insecure,
                           @JsonProperty("plaintext-underlay") Boolean plaintextUnderlay) {
        static final Security NONE = new Security(null, null, null, null);
    }

    /** What the file says of security, never null. */
    public Security securityOrDefault() {
        return security == null ? Security.NONE : security;
    }

    /**
     * Optional overrides of the agent's limits and timers (milliseconds, bytes), and the nice value
     * its loop thread runs at ({@code loop-nice}, -20..19; unset, the process's: {@code LoopPriority}).
     */
    public record Tuning(@JsonProperty("buffer-bytes") Long bufferBytes, @JsonProperty("buffer-millis") Long bufferMillis,
                         @JsonProperty("hold-bytes") Long holdBytes, @JsonProperty("hold-millis") Long holdMillis,
                         @JsonProperty("grace-millis") Long graceMillis, @JsonProperty("retry-millis") Long retryMillis,
                         @JsonProperty("lease-millis") Long leaseMillis, @JsonProperty("resync-millis") Long resyncMillis,
                         @JsonProperty("loop-nice") Integer loopNice) {}

    /** What a validated configuration yields. */
    public record Validated(AgentConfig config, InetSocketAddress listen, Transport transport, String board,
                            HttpAddress admin, HttpAddress.Tcp metrics, String metricsToken, List<PortSpec.Port> ports,
                            dev.ferry.rpc.Tls tls, String libvirt, int loopNice) {
        /**
         * These settings speaking mutual TLS with {@code tls} (null: plaintext, {@code --insecure}):
         * to the board, and on a TCP admin endpoint.
         */
        public Validated withTls(dev.ferry.rpc.Tls tls) {
            return new Validated(config, listen, transport, board, admin, metrics, metricsToken, ports, tls, libvirt, loopNice);
        }

        /** These settings with the underlay's datagrams unsealed (design §7b): only where the underlay is protected otherwise. */
        public Validated withPlaintextUnderlay(boolean plaintext) {
            return new Validated(config.withPlaintextUnderlay(plaintext), listen, transport, board, admin, metrics, metricsToken, ports, tls,
                    libvirt, loopNice);
        }
    }

    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);

    /** Reads a YAML file; a {@link ConfigException} names the file and the field it cannot read. */
    public static AgentSettings load(Path file) {
        if (!Files.isRegularFile(file)) throw new ConfigException("config: " + file + " is not a readable file");
        try {
            return parse(Files.readString(file), file.toString());
        } catch (IOException e) {
            throw new ConfigException(file + ": " + e.getMessage());
        }
    }

    /** Reads YAML text; a {@link ConfigException} names {@code where} or the field it cannot read. */
    public static AgentSettings parse(String yaml, String where) {
        try {
            AgentSettings s = YAML.readValue(yaml, AgentSettings.class);
            return s == null ? empty() : s;
        } catch (JsonMappingException e) {
            String field = e.getPath().stream()
                    .map(r -> r.getFieldName() != null ? "." + r.getFieldName() : "[" + r.getIndex() + "]")
                    .reduce("", String::concat);
            String what = e.getOriginalMessage();
            if (what.startsWith("Unrecognized field")) what = "unknown field";
            throw new ConfigException((field.isEmpty() ? where : field.substring(field.startsWith(".") ? 1 : 0))
                    + ": " + what.lines().findFirst().orElse(what));
        } catch (IOException e) {
            throw new ConfigException(where + ": not valid YAML: " + String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
    }

    public static AgentSettings empty() {
        return new AgentSettings(null, null, null, null, null, null, null, null, null, null, null, null, null, null, null);
    }

    /** This file's settings with every non-null argument in place of the file's (ports are added). */
    public AgentSettings override(Integer hostId, String listen, String advertise, String board, String admin,
                                  List<Integer> vnis, String mode, List<PortSpec> morePorts) {
        List<PortSpec> allPorts = new ArrayList<>(ports == null ? List.of() : ports);
        if (morePorts != null) allPorts.addAll(morePorts);
        return new AgentSettings(hostId != null ? hostId : this.hostId, listen != null ? listen : this.listen,
                advertise != null ? advertise : this.advertise, board != null ? board : this.board,
                admin != null ? admin : this.admin, vnis != null && !vnis.isEmpty() ? vnis : this.vnis,
                mode != null ? mode : this.mode, transport, tuning, allPorts, vniMtu, metrics, metricsTokenFile, security, libvirt);
    }

    /** These settings with Prometheus' endpoint and its token file in place of the file's, where not null. */
    public AgentSettings withMetrics(String metrics, String metricsTokenFile) {
        return new AgentSettings(hostId, listen, advertise, board, admin, vnis, mode, transport, tuning, ports, vniMtu,
                metrics != null ? metrics : this.metrics, metricsTokenFile != null ? metricsTokenFile : this.metricsTokenFile, security,
                libvirt);
    }

    /** These settings with {@code transport} in place of the file's, unless it is null. */
    public AgentSettings withTransport(String transport) {
        return transport == null ? this
                : new AgentSettings(hostId, listen, advertise, board, admin, vnis, mode, transport, tuning, ports, vniMtu, metrics,
                        metricsTokenFile, security, libvirt);
    }

    /** These settings with libvirt's URI in place of the file's, unless it is null. */
    public AgentSettings withLibvirt(String libvirt) {
        return libvirt == null ? this
                : new AgentSettings(hostId, listen, advertise, board, admin, vnis, mode, transport, tuning, ports, vniMtu, metrics,
                        metricsTokenFile, security, libvirt);
    }

    /** The configuration, or a {@link ConfigException} naming the first field at fault. */
    public Validated validate() {
        if (hostId == null) throw new ConfigException("host-id: missing (a number 1..65535, unique per agent)");
        if (hostId < 1 || hostId > 65_535) throw new ConfigException("host-id: " + hostId + " is not in 1..65535");
        InetSocketAddress l = Addresses.socket(listen == null ? "0.0.0.0:6081" : listen, "listen");
        String adv = advertise;
        if (adv == null) {
            if (l.getAddress().isAnyLocalAddress()) {
                throw new ConfigException("advertise: missing, and listen " + listen
                        + " is a wildcard address other agents cannot send to");
            }
            adv = listen;
        }
        InetSocketAddress a = Addresses.socket(adv, "advertise");
        if (a.getPort() == 0 && l.getPort() != 0) a = new InetSocketAddress(a.getAddress(), l.getPort());
        if (board == null) throw new ConfigException("board: missing (the board's host:port, or its replicas' comma-separated)");
        try {
            Endpoints.parseList(board);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("board: " + e.getMessage());
        }
        HttpAddress adminAddress = admin == null ? HttpAddress.defaultAdmin(hostId) : HttpAddress.parse(admin, "admin");
        HttpAddress.Tcp metricsAddress = null;
        if (metrics != null) {
            if (!(HttpAddress.parse(metrics, "metrics") instanceof HttpAddress.Tcp t)) {
                throw new ConfigException("metrics: " + metrics + " is not host:port (Prometheus scrapes over TCP)");
            }
            metricsAddress = t;
        }
        String metricsToken = HttpEndpoint.metricsToken(metricsTokenFile == null ? null : Path.of(metricsTokenFile), metricsAddress,
                "metrics-token-file");
        if (vnis == null || vnis.isEmpty()) throw new ConfigException("vnis: missing (the virtual networks this agent serves)");
        for (int i = 0; i < vnis.size(); i++) {
            Integer v = vnis.get(i);
            if (v == null || v < 0 || v > 0xFFFFFF) throw new ConfigException("vnis[" + i + "]: " + v + " is not in 0..16777215");
        }
        Map<Integer, Integer> mtus = vniMtu == null ? Map.of() : vniMtu;
        for (Map.Entry<Integer, Integer> e : mtus.entrySet()) {
            String where = "vni-mtu." + e.getKey();
            if (!vnis.contains(e.getKey())) throw new ConfigException(where + ": VNI " + e.getKey() + " is not one of this agent's vnis " + vnis);
            Integer mtu = e.getValue();
            String problem = PortPolicy.mtuProblem(mtu);
            if (problem != null) throw new ConfigException(where + ": " + problem);
        }
        Mode m;
        try {
            m = Mode.valueOf((mode == null ? "ferry" : mode).toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ConfigException("mode: '" + mode + "' is not ferry, naive or eager");
        }
        Transport tr;
        try {
            tr = Transport.valueOf((transport == null ? "auto" : transport).toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new ConfigException("transport: '" + transport + "' is not auto, epoll or nio");
        }
        AgentConfig defaults = AgentConfig.defaults(hostId, new HashSet<>(vnis), m);
        Tuning t = tuning == null ? new Tuning(null, null, null, null, null, null, null, null, null) : tuning;
        int loopNice = t.loopNice() == null ? LoopPriority.INHERIT : t.loopNice();
        if (t.loopNice() != null && (loopNice < LoopPriority.MIN_NICE || loopNice > LoopPriority.MAX_NICE)) {
            throw new ConfigException("tuning.loop-nice: " + loopNice + " is not in " + LoopPriority.MIN_NICE + ".." + LoopPriority.MAX_NICE);
        }
        AgentConfig config = new AgentConfig(hostId, adv, new HashSet<>(vnis), m,
                or(t.bufferBytes(), defaults.bufferBytes()), or(t.bufferMillis(), defaults.bufferMillis()),
                or(t.holdBytes(), defaults.holdBytes()), or(t.holdMillis(), defaults.holdMillis()),
                or(t.graceMillis(), defaults.graceMillis()), or(t.retryMillis(), 100L),
                or(t.leaseMillis(), defaults.leaseMillis()), or(t.resyncMillis(), defaults.resyncMillis()), mtus, false);
        try {
            config.validate();
        } catch (IllegalArgumentException e) {
            // AgentConfig names its fields in camel case; the file spells them in kebab case under tuning.
            String msg = e.getMessage().replaceFirst("^agent config: ", "");
            String field = msg.substring(0, msg.indexOf(' '));
            throw new ConfigException("tuning." + kebab(field) + ":" + msg.substring(field.length()));
        }
        List<PortSpec.Port> validPorts = new ArrayList<>();
        Set<String> ids = new LinkedHashSet<>();
        List<PortSpec> list = ports == null ? List.of() : ports;
        for (int i = 0; i < list.size(); i++) {
            String where = "ports[" + i + "]";
            if (list.get(i) == null) throw new ConfigException(where + ": empty");
            PortSpec.Port p = list.get(i).validate(where);
            if (!ids.add(p.id())) throw new ConfigException(where + ".id: '" + p.id() + "' is used by another port");
            if (!config.vnis().contains(p.key().vni())) {
                throw new ConfigException(where + ".vni: " + p.key().vni() + " is not one of this agent's vnis " + vnis);
            }
            validPorts.add(p);
        }
        if (libvirt != null && !libvirt.matches("[a-z][a-z0-9+]*:/.*")) {
            throw new ConfigException("libvirt: '" + libvirt + "' is not a libvirt URI like qemu:///system");
        }
        return new Validated(config, l, tr, board, adminAddress, metricsAddress, metricsToken, List.copyOf(validPorts), null,
                libvirt == null ? "qemu:///system" : libvirt, loopNice);
    }

    private static long or(Long value, long otherwise) {
        return value == null ? otherwise : value;
    }

    private static String kebab(String camel) {
        return camel.replaceAll("([a-z])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }
}
