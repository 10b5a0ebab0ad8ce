package dev.ferry.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.HostRecord;
import dev.ferry.board.NodeRecord;
import dev.ferry.board.PendingUpdate;
import dev.ferry.board.VmKey;
import dev.ferry.rpc.BoardQueries;
import dev.ferry.service.AdminClient;
import dev.ferry.service.Addresses;
import dev.ferry.service.ConfigException;
import dev.ferry.service.HttpAddress;
import dev.ferry.service.PortSpec;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code ferry ctl}: looks at and steers a running cluster. Board questions ({@code hosts},
 * {@code nodes}, {@code lookup}) go to the board over gRPC; agent questions and steps
 * ({@code stats}, {@code ports}, {@code migrations}, {@code port}, {@code migrate}) go to one
 * agent's admin endpoint. Tables by default, {@code --json} for scripts. Exit codes: 0 done, 1
 * refused (the message says why), 3 unreachable.
 */
@Command(name = "ctl", mixinStandardHelpOptions = true,
        description = "Looks at and steers a running cluster: the board's tables, an agent's ports, counters and migrations.",
        subcommands = {CtlCommand.Hosts.class, CtlCommand.Nodes.class, CtlCommand.Lookup.class, CtlCommand.Stats.class,
                CtlCommand.Ports.class, CtlCommand.Migrations.class, CtlCommand.Port.class, CtlCommand.Migrate.class, CtlCommand.Vtep.class})
final class CtlCommand {
    static final int REFUSED = 1;
    static final int UNREACHABLE = 3;
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Option(names = "--board", defaultValue = "${FERRY_BOARD:-127.0.0.1:7070}", scope = CommandLine.ScopeType.INHERIT,
            description = "The board's host:port, or its replicas' comma-separated (default ${DEFAULT-VALUE}; env FERRY_BOARD).")
    String board;

    @Option(names = "--agent", defaultValue = "${FERRY_AGENT}", scope = CommandLine.ScopeType.INHERIT, paramLabel = "PATH|HOST:PORT|N",
            description = {"An agent's admin endpoint: its Unix socket, or host:port (mutual TLS as an operator), or a host id N for"
                    + " agent-N.sock in $FERRY_RUN_DIR or ~/.local/state/ferry/run. Default: env FERRY_AGENT, else the one agent socket there."})
    String agent;

    @Option(names = "--tls-dir", scope = CommandLine.ScopeType.INHERIT, paramLabel = "DIR",
            description = "Mutual TLS to the board: ca.crt and NAME.crt, NAME.key of an operator (ferry pki). Default: this machine's own CA"
                    + " ($FERRY_TLS_DIR or ~/.local/state/ferry/pki), which the board made; ctl issues itself an operator certificate.")
    java.nio.file.Path tlsDir;

    @Option(names = "--insecure", scope = CommandLine.ScopeType.INHERIT, description = "Plaintext gRPC to a board run with --insecure.")
    boolean insecure;

    @Option(names = "--tls-name", defaultValue = "operator", scope = CommandLine.ScopeType.INHERIT,
            description = "The operator certificate's name in --tls-dir (default ${DEFAULT-VALUE}).")
    String tlsName;

    @Option(names = "--json", scope = CommandLine.ScopeType.INHERIT, description = "Print JSON instead of a table.")
    boolean json;

    @Spec
    CommandLine.Model.CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    void print(Object asJson, String asTable) {
        try {
            out().print(json ? JSON.writeValueAsString(asJson) + "\n" : asTable);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        out().flush();
    }

    /** Asks the board; a refusal or an unreachable board prints why and gives the exit code. */
    BoardResponse askBoard(java.util.function.LongFunction<BoardRequest> request) {
        dev.ferry.rpc.Tls tls;
        try {
            tls = insecure ? null : LocalTls.resolve(tlsDir, tlsName, new dev.ferry.security.Identity.Operator(), false);
        } catch (java.io.IOException e) {
            throw new AgentError(2, "--tls-dir: " + e.getMessage());
        }
        try (BoardQueries q = new BoardQueries(board, tls)) {
            return q.call(request);
        }
    }

    /** A change on the board; prints {@code done}, or fails with the board's reason for refusing. */
    void changeBoard(java.util.function.LongFunction<BoardRequest> request, String done) {
        if (askBoard(request) instanceof BoardResponse.Refused no) throw new AgentError(REFUSED, "board refused: " + no.reason());
        out().println(done);
        out().flush();
    }

    /** An agent's admin API: the JSON answer, or an {@link AgentError} with the agent's own message. */
    JsonNode askAgent(String method, String path, Object body) {
        String target = agentTarget();
        try {
            HttpAddress where = HttpAddress.parse(target, "agent");
            dev.ferry.rpc.Tls tls = insecure || where instanceof HttpAddress.Unix ? null
                    : LocalTls.resolve(tlsDir, tlsName, new dev.ferry.security.Identity.Operator(), false);
            AdminClient.Answer r = new AdminClient(where, tls).call(method, path, body == null ? null : JSON.writeValueAsBytes(body),
                    Duration.ofSeconds(10));
            JsonNode node = JSON.readTree(r.body());
            if (r.status() != 200) {
                throw new AgentError(REFUSED, "agent at " + target + " refused: " + node.path("error").asText(r.text()));
            }
            return node;
        } catch (ConfigException e) {
            throw new AgentError(CommandLine.ExitCode.USAGE, "--" + e.getMessage());
        } catch (IOException e) {
            throw new AgentError(UNREACHABLE, "agent at " + target + " unreachable: " + e.getMessage());
        }
    }

    /**
     * Which agent to ask: {@code --agent}, else the only agent socket of this machine's run directory;
     * with none or several there, says what to give.
     */
    String agentTarget() {
        if (agent != null && agent.matches("\\d{1,5}")) return HttpAddress.defaultAdmin(Integer.parseInt(agent)).toString();
        if (agent != null && !agent.isBlank()) return agent;
        java.nio.file.Path dir = HttpAddress.runDir();
        List<String> sockets;
        try (var list = java.nio.file.Files.list(dir)) {
            sockets = list.map(java.nio.file.Path::toString).filter(p -> p.endsWith(".sock") && p.contains("agent-")).sorted().toList();
        } catch (IOException e) {
            sockets = List.of();
        }
        if (sockets.size() == 1) return sockets.getFirst();
        throw new AgentError(CommandLine.ExitCode.USAGE, sockets.isEmpty()
                ? "no agent socket in " + dir + ": give --agent PATH|HOST:PORT (the agent prints its admin endpoint when it starts)"
                : "several agents on this machine (" + String.join(", ", sockets) + "): give --agent with one of them");
    }

    /** A failed call; {@code code} is the exit code. */
    static final class AgentError extends RuntimeException {
        final int code;

        AgentError(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    /** Runs {@code body}, turning what the board or an agent refused into a message and an exit code. */
    int run(Callable<Integer> body) {
        try {
            return body.call();
        } catch (AgentError e) {
            err().println("ferry ctl: " + e.getMessage());
            return e.code;
        } catch (IllegalStateException e) {
            err().println("ferry ctl: " + e.getMessage());
            return UNREACHABLE;
        } catch (IllegalArgumentException e) {
            err().println("ferry ctl: " + e.getMessage());
            return CommandLine.ExitCode.USAGE;
        } catch (Exception e) {
            err().println("ferry ctl: " + e);
            return REFUSED;
        }
    }

    static Map<String, Object> recordJson(NodeRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("vni", r.key().vni());
        m.put("mac", Addresses.formatMac(r.key().mac()));
        m.put("vm", r.vmId());
        m.put("ips", r.ips().stream().map(Addresses::formatIp).toList());
        m.put("host", r.hostId());
        m.put("standbys", r.standbys());
        m.put("version", r.version());
        if (r.lock() != null) {
            m.put("lock", Map.of("migration", r.lock().migrationId(), "owner", r.lock().owner(), "leaseMs", r.lock().leaseMs()));
        }
        m.put("pending", r.pending().stream().map(p -> Map.of("migration", p.migrationId(), "host", p.hostId(),
                "kind", p instanceof PendingUpdate.Attach ? "attach" : "detach")).toList());
        return m;
    }

    static Table recordTable(List<NodeRecord> records) {
        Table t = new Table("VNI", "MAC", "VM", "IPS", "HOST", "STANDBYS", "VERSION", "LOCK", "PENDING");
        for (NodeRecord r : records) {
            t.row(r.key().vni(), Addresses.formatMac(r.key().mac()), r.vmId(), String.join(",", r.ips().stream().map(Addresses::formatIp).toList()),
                    r.hostId() == NodeRecord.NOWHERE ? "-" : r.hostId(), r.standbys().isEmpty() ? "-" : r.standbys(),
                    r.version(), r.lock() == null ? "-" : "migration " + r.lock().migrationId() + " by " + r.lock().owner(),
                    r.pending().size());
        }
        return t;
    }

    @Command(name = "hosts", description = "Registered agents: id, underlay endpoint, VNIs, lease state.")
    static final class Hosts implements Callable<Integer> {
        @ParentCommand CtlCommand ctl;

        @Override
        public Integer call() {
            return ctl.run(() -> {
                List<HostRecord> hosts = ((BoardResponse.Hosts) ctl.askBoard(BoardRequest.ListHosts::new)).hosts();
                Table t = new Table("HOST", "ENDPOINT", "VNIS", "STATE");
                List<Map<String, Object>> j = new ArrayList<>();
                for (HostRecord h : hosts) {
                    boolean alive = h.isAlive();
                    t.row(h.hostId(), h.endpoint(), h.vnis().stream().sorted().toList(), h.isStatic() ? "static VTEP" : alive ? "alive" : "lapsed");
                    j.add(Map.of("host", h.hostId(), "endpoint", h.endpoint(), "vnis", h.vnis().stream().sorted().toList(),
                            "alive", alive, "static", h.isStatic()));
                }
                ctl.print(j, t.toString());
                return 0;
            });
        }
    }

    @Command(name = "vtep", description = {"Static VTEPs: Geneve endpoints that run no Ferry agent (a Linux geneve device, a",
            "switch), and the VMs behind them. Agents send those VMs' frames there, and take frames without Ferry's option."},
            subcommands = {Vtep.Add.class, Vtep.Vm.class})
    static final class Vtep {
        @ParentCommand CtlCommand ctl;

        @Command(name = "add", description = "Registers a static VTEP as host ID at ENDPOINT, serving the given VNIs; it never lapses.")
        static final class Add implements Callable<Integer> {
            @ParentCommand Vtep vtep;
            @Option(names = "--id", required = true, description = "Its host id: one no agent uses.") int id;
            @Option(names = "--endpoint", required = true, description = "host:port its Geneve listens on.") String endpoint;
            @Option(names = "--vni", required = true, split = ",", description = "VNIs it serves.") List<Integer> vnis;

            @Override
            public Integer call() {
                CtlCommand ctl = vtep.ctl;
                return ctl.run(() -> {
                    if (id <= 0) throw new IllegalArgumentException("--id: a positive host id, not " + id);
                    try {
                        dev.ferry.board.Endpoints.parse(endpoint);
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("--endpoint: " + e.getMessage());
                    }
                    ctl.changeBoard(rid -> new BoardRequest.RegisterHost(rid, id, endpoint, Set.copyOf(vnis), 0),
                            "static VTEP " + id + " at " + endpoint + " for VNI " + vnis);
                    return 0;
                });
            }
        }

        @Command(name = "vm", description = "Places a VM behind static VTEP ID: its MAC and addresses, for the agents to find it.")
        static final class Vm implements Callable<Integer> {
            @ParentCommand Vtep vtep;
            @Option(names = "--id", required = true, description = "The static VTEP's host id.") int id;
            @Option(names = "--vni", required = true) int vni;
            @Option(names = "--mac", required = true) String mac;
            @Option(names = "--ip", split = ",", description = "Its IPv4 addresses (for ARP answers).") List<String> ips = List.of();
            @Option(names = "--name", description = "A name for it (default: the MAC).") String name;

            @Override
            public Integer call() {
                CtlCommand ctl = vtep.ctl;
                return ctl.run(() -> {
                    VmKey key = new VmKey(vni, Addresses.mac(mac, "--mac"));
                    List<Integer> addresses = ips.stream().map(ip -> Addresses.ipv4(ip, "--ip")).toList();
                    ctl.changeBoard(rid -> new BoardRequest.Attach(rid, key, name == null ? mac : name, addresses, id, true),
                            "VM " + mac + " in VNI " + vni + " is behind static VTEP " + id);
                    return 0;
                });
            }
        }
    }

    @Command(name = "nodes", description = "The board's node table (every VNI, or one).")
    static final class Nodes implements Callable<Integer> {
        @ParentCommand CtlCommand ctl;

        @Option(names = "--vni", description = "Only this VNI.")
        Integer vni;

        @Override
        public Integer call() {
            return ctl.run(() -> {
                int which = vni == null ? BoardRequest.ALL_VNIS : vni;
                List<NodeRecord> records = new ArrayList<>();
                dev.ferry.board.VmKey after = null;
                do {
                    dev.ferry.board.VmKey from = after;
                    BoardResponse.Snapshot page = (BoardResponse.Snapshot) ctl.askBoard(id -> new BoardRequest.ListNodes(id, which, from));
                    records.addAll(page.records());
                    after = page.next();
                } while (after != null);
                records.sort(java.util.Comparator.comparingInt((NodeRecord r) -> r.key().vni()).thenComparingLong(r -> r.key().mac()));
                ctl.print(records.stream().map(CtlCommand::recordJson).toList(), recordTable(records).toString());
                return 0;
            });
        }
    }

    @Command(name = "lookup", description = "Where a VM is, by MAC or IPv4 address, as the board knows it.")
    static final class Lookup implements Callable<Integer> {
        @ParentCommand CtlCommand ctl;

        @Option(names = "--vni", required = true) int vni;
        @Option(names = "--mac") String mac;
        @Option(names = "--ip") String ip;

        @Override
        public Integer call() {
            return ctl.run(() -> {
                if ((mac == null) == (ip == null)) throw new IllegalArgumentException("lookup: give exactly one of --mac and --ip");
                BoardResponse r = mac != null
                        ? ctl.askBoard(id -> new BoardRequest.Lookup(id, new VmKey(vni, Addresses.mac(mac, "--mac"))))
                        : ctl.askBoard(id -> new BoardRequest.LookupIp(id, vni, Addresses.ipv4(ip, "--ip")));
                NodeRecord record = r instanceof BoardResponse.Ok ok ? ok.record() : null;
                if (record == null) {
                    ctl.err().println("ferry ctl: no VM with " + (mac != null ? "MAC " + mac : "IP " + ip) + " in VNI " + vni);
                    return REFUSED;
                }
                ctl.print(recordJson(record), recordTable(List.of(record)).toString());
                return 0;
            });
        }
    }

    @Command(name = "stats", description = "An agent's counters: frames, relays, buffers, every drop reason.")
    static final class Stats implements Callable<Integer> {
        @ParentCommand CtlCommand ctl;

        @Option(names = "--all", description = "Also counters that are zero.")
        boolean all;

        @Override
        public Integer call() {
            return ctl.run(() -> {
                JsonNode s = ctl.askAgent("GET", "/v1/status", null);
                Table t = new Table("COUNTER", "VALUE");
                for (String part : List.of("counters", "malformed", "underlay")) {
                    s.path(part).fields().forEachRemaining(e -> {
                        if (all || e.getValue().asLong() != 0) {
                            t.row(part.equals("counters") ? e.getKey() : part + "." + e.getKey(), e.getValue().asLong());
                        }
                    });
                }
                String head = "agent " + s.path("hostId").asInt() + " at " + s.path("endpoint").asText() + ", board "
                        + s.path("board").asText() + ", mode " + s.path("mode").asText() + ", underlay "
                        + s.path("transport").asText() + ", held frames "
                        + s.path("heldFrames").asInt() + ", board calls outstanding " + s.path("outstandingBoardCalls").asInt() + "\n";
                ctl.print(s, head + t);
                return 0;
            });
        }
    }

    @Command(name = "ports", description = "An agent's ports and their frame counts.")
    static final class Ports implements Callable<Integer> {
        @ParentCommand CtlCommand ctl;

        @Override
        public Integer call() {
            return ctl.run(() -> {
                JsonNode ports = ctl.askAgent("GET", "/v1/status", null).path("ports");
                Table t = new Table("ID", "TYPE", "VNI", "MAC", "IPS", "STANDBY", "IN", "OUT", "IN_DROPPED", "OUT_DROPPED", "SUPER_IN",
                        "SUPER_OUT", "SPOOFED", "WHERE");
                for (JsonNode p : ports) {
                    List<String> ips = new ArrayList<>();
                    p.path("ips").forEach(i -> ips.add(i.asText()));
                    long spoofed = 0;
                    for (JsonNode n : p.path("spoofed")) spoofed += n.asLong();
                    t.row(p.path("id").asText(), p.path("type").asText(), p.path("vni").asInt(), p.path("mac").asText(),
                            String.join(",", ips), p.path("standby").asBoolean() ? "yes" : "no", p.path("framesIn").asLong(),
                            p.path("framesOut").asLong(), p.path("inDropped").asLong(), p.path("outDropped").asLong(),
                            p.path("superFramesIn").asLong(), p.path("superFramesOut").asLong(),
                            p.path("security").asBoolean() ? spoofed : "off", p.path("where").asText());
                }
                ctl.print(ports, t.toString());
                return 0;
            });
        }
    }

    @Command(name = "migrations", description = "An agent's migration table: VMs migrating out of or into it; with --history, its newest migrations step by step.")
    static final class Migrations implements Callable<Integer> {
        @ParentCommand CtlCommand ctl;

        @Option(names = "--history", description = "The newest migrations this agent took part in (up to 64), each step's time in ms after the first, on this host's clock.")
        boolean history;

        @Option(names = "--last", defaultValue = "10", description = "With --history: how many, newest last (default ${DEFAULT-VALUE}).")
        int last;

        @Override
        public Integer call() {
            return ctl.run(() -> {
                JsonNode status = ctl.askAgent("GET", "/v1/status", null);
                if (history) {
                    List<JsonNode> rows = new ArrayList<>();
                    status.path("history").forEach(rows::add);
                    List<JsonNode> shown = rows.subList(Math.max(0, rows.size() - Math.max(0, last)), rows.size());
                    ctl.print(shown, historyTable(shown));
                } else {
                    JsonNode list = status.path("migrations");
                    ctl.print(list, migrationTable(list).toString());
                }
                return 0;
            });
        }
    }

    /** A row per migration, its steps in the order they happened. */
    static String historyTable(List<JsonNode> rows) {
        Table t = new Table("MIGRATION", "VM", "MAC", "ROLE", "OUTCOME", "RELAYED", "STEPS (ms after the first)");
        for (JsonNode m : rows) {
            StringBuilder steps = new StringBuilder();
            m.path("stepsMs").properties().forEach(e -> steps.append(steps.isEmpty() ? "" : ", ").append(e.getKey()).append(' ')
                    .append(String.format(java.util.Locale.ROOT, "%.1f", e.getValue().asDouble())));
            t.row(m.path("migrationId").asLong(), m.path("vm").asText(), m.path("mac").asText(), m.path("role").asText(),
                    m.path("outcome").asText(), m.path("relayed").asLong(), steps);
        }
        return t.toString();
    }

    static Table migrationTable(JsonNode list) {
        Table t = new Table("MIGRATION", "VM", "VNI", "MAC", "ROLE", "PHASE", "PEER", "BUFFERED", "RELAYED");
        List<JsonNode> rows = new ArrayList<>();
        if (list.isArray()) list.forEach(rows::add);
        else if (!list.isEmpty()) rows.add(list);
        for (JsonNode m : rows) {
            t.row(m.path("migrationId").asLong(), m.path("vm").asText(), m.path("vni").asInt(), m.path("mac").asText(),
                    m.path("role").asText(), m.path("phase").asText(), m.path("peer").asInt(),
                    m.path("bufferedFrames").asInt() + " (" + m.path("bufferedBytes").asLong() + " B)", m.path("relayedTotal").asLong());
        }
        return t;
    }

    @Command(name = "port", description = "Plugs a VM's port into an agent or unplugs it (what a hypervisor hook calls).",
            subcommands = {Port.Add.class, Port.Remove.class})
    static final class Port {
        @ParentCommand CtlCommand ctl;

        @Command(name = "add", description = "Plugs a port in: a running VM, or with --standby a migration's paused incoming copy.")
        static final class Add implements Callable<Integer> {
            @ParentCommand Port port;

            @Option(names = "--id", required = true, description = "The VM's name (the port's id).") String id;
            @Option(names = "--type", required = true, description = "qemu-socket, tap or vhost-user.") String type;
            @Option(names = "--vni", required = true) int vni;
            @Option(names = "--mac", required = true) String mac;
            @Option(names = "--ip", description = "An IPv4 address of the VM (repeat for more).") List<String> ips;
            @Option(names = "--local", description = "qemu-socket: the agent's side, host:port (QEMU's remote).") String local;
            @Option(names = "--remote", description = "qemu-socket: QEMU's side, host:port (QEMU's local).") String remote;
            @Option(names = "--device", description = "tap: the device's name.") String device;
            @Option(names = "--socket", description = "vhost-user: QEMU's vhost-user socket (QEMU is the server).") String socket;
            @Option(names = "--standby", description = "A paused incoming copy: the destination of migration --migration.")
            boolean standby;
            @Option(names = "--migration", description = "With --standby: the migration's id.") Long migration;
            @Option(names = "--qmp", description = "A QMP socket of the VM's QEMU: the agent follows the VM's migrations itself.") String qmp;
            @Option(names = "--mtu", description = "The VM's MTU, 68..9000 (default 9000; never above its VNI's).") Integer mtu;
            @Option(names = "--security", arity = "1", paramLabel = "on|off",
                    description = "Port security: the VM sends only from its own MAC and IPs (default: on when --ip is given).")
            String security;
            @Option(names = "--offload", arity = "1", paramLabel = "on|off",
                    description = "TAP and vhost-user: checksum and TCP segmentation offload between the VM and the agent (default: on).")
            String offload;
            @Option(names = "--domain", paramLabel = "UUID",
                    description = "The VM's libvirt domain: the agent follows its migrations through libvirt's events (libvirt's hook gives it).")
            String domain;

            @Override
            public Integer call() {
                CtlCommand ctl = port.ctl;
                return ctl.run(() -> {
                    PortSpec spec = new PortSpec(id, type, vni, mac, ips, local, remote, device, standby ? Boolean.TRUE : null, migration, qmp, socket, mtu,
                            security == null ? null : PortSpec.onOff(security, "--security"),
                            offload == null ? null : PortSpec.onOff(offload, "--offload"), domain);
                    JsonNode p = ctl.askAgent("POST", "/v1/ports", spec);
                    ctl.print(p, "plugged " + p.path("id").asText() + " (" + p.path("type").asText() + ", " + p.path("mac").asText()
                            + " in VNI " + p.path("vni").asInt() + (p.path("standby").asBoolean() ? ", standby" : "") + "): "
                            + p.path("where").asText() + "\n");
                    return 0;
                });
            }
        }

        @Command(name = "remove", description = "Unplugs a port: the VM left this host (or its incoming copy was given up).")
        static final class Remove implements Callable<Integer> {
            @ParentCommand Port port;

            @Option(names = "--vm", required = true, description = "The port's id.") String vm;

            @Override
            public Integer call() {
                CtlCommand ctl = port.ctl;
                return ctl.run(() -> {
                    ctl.askAgent("DELETE", "/v1/ports/" + URLEncoder.encode(vm, StandardCharsets.UTF_8), null);
                    ctl.print(Map.of("removed", vm), "unplugged " + vm + "\n");
                    return 0;
                });
            }
        }
    }

    @Command(name = "migrate", description = {"Reports a migration step of a VM (the API detector):",
            "  begin    on the source's agent, with --migration ID (pre-copy starts)",
            "  stopped  on the source's agent (the source copy paused for the last copy)",
            "  resumed  on the destination's agent (the incoming copy runs)",
            "  abort    on either (the migration failed or was cancelled)"})
    static final class Migrate implements Callable<Integer> {
        @ParentCommand CtlCommand ctl;

        @Parameters(index = "0", description = "begin, stopped, resumed or abort.") String step;
        @Option(names = "--vm", required = true, description = "The VM's port id on this agent.") String vm;
        @Option(names = "--migration", description = "The migration's id (begin; the same as the destination's).") Long migration;

        @Override
        public Integer call() {
            return ctl.run(() -> {
                String path = "/v1/migrate/" + URLEncoder.encode(step, StandardCharsets.UTF_8) + "?vm="
                        + URLEncoder.encode(vm, StandardCharsets.UTF_8) + (migration == null ? "" : "&migration=" + migration);
                JsonNode m = ctl.askAgent("POST", path, null);
                ctl.print(m, m.isEmpty() ? step + ": " + vm + " has no migration entry left here\n" : migrationTable(m).toString());
                return 0;
            });
        }
    }
}
