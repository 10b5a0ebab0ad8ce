package dev.ferry.service.libvirt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.service.AdminClient;
import dev.ferry.service.HttpAddress;
import dev.ferry.service.PortSpec;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * libvirt's QEMU hook for Ferry ({@code /etc/libvirt/hooks/qemu.d/ferry}, see libvirt's "Hooks for
 * specific system management"): plugs a domain's Ferry ports into this host's agent before QEMU
 * starts, as a standby when the domain arrives by migration, and unplugs them once libvirt released
 * the domain. Everything comes from the domain XML libvirt gives the hook: a hook must not call back
 * into libvirt, which waits for it.
 *
 * <p>libvirt's sequences: a start is {@code prepare begin}, {@code start begin}, {@code started
 * begin}; an incoming migration begins with {@code migrate begin}, then the same; a stop ends with
 * {@code stopped end}, {@code release end}. A refusal at {@code prepare} or {@code migrate} (exit
 * code 1, the reason on standard error, which libvirt puts in its error and log) keeps the domain
 * from starting: its network would not work. Nothing goes to standard output, which libvirt would
 * take as a new domain XML at {@code migrate}.
 */
public final class LibvirtHook {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    /** What the hook does for one call. */
    public sealed interface Action {
        /** Plugs {@code spec} in (a standby if its {@code standby} is set). */
        record Plug(PortSpec spec) implements Action {}

        /** Unplugs port {@code id}. */
        record Unplug(String id) implements Action {}
    }

    private LibvirtHook() {}

    /**
     * The actions for libvirt's {@code operation subOperation} on {@code domain}, given the port ids
     * the agent has {@code plugged}: a port already there is left as it is, so that {@code prepare}
     * after {@code migrate} keeps the standby, and calls repeated after libvirtd restarted change
     * nothing.
     */
    public static List<Action> plan(String operation, String subOperation, DomainXml.Domain domain, Set<String> plugged) {
        List<Action> actions = new ArrayList<>();
        switch (operation + " " + subOperation) {
            case "migrate begin" -> {
                for (PortSpec p : domain.ports()) if (!plugged.contains(p.id())) actions.add(new Action.Plug(p.asStandby()));
            }
            case "prepare begin", "restore begin", "reconnect begin", "attach begin" -> {
                for (PortSpec p : domain.ports()) if (!plugged.contains(p.id())) actions.add(new Action.Plug(p));
            }
            case "release end" -> {
                for (PortSpec p : domain.ports()) if (plugged.contains(p.id())) actions.add(new Action.Unplug(p.id()));
            }
            default -> { }
        }
        return actions;
    }

    /**
     * Runs the hook: {@code args} as libvirt passes them (domain, operation, sub-operation, extra),
     * {@code xml} the domain, {@code agent} this host's agent's admin socket. Returns the exit code;
     * says what it did, or why not, on {@code log}.
     */
    public static int run(List<String> args, String xml, String agent, PrintStream log) {
        if (args.size() < 3) {
            log.println("ferry libvirt hook: wants DOMAIN OPERATION SUB-OPERATION [EXTRA], as libvirt calls it");
            return 2;
        }
        String operation = args.get(1), subOperation = args.get(2);
        boolean mayRefuse = operation.equals("prepare") || operation.equals("migrate");
        DomainXml.Domain domain;
        try {
            domain = DomainXml.parse(xml);
        } catch (IllegalArgumentException e) {
            log.println("ferry: domain " + args.get(0) + ": " + e.getMessage());
            return mayRefuse ? 1 : 0;
        }
        if (domain.ports().isEmpty()) return 0;
        try {
            AdminClient client = new AdminClient(HttpAddress.parse(agent, "agent"), null);
            List<Action> actions = plan(operation, subOperation, domain, plugged(client));
            for (Action a : actions) {
                switch (a) {
                    case Action.Plug(PortSpec spec) -> {
                        expect(client.call("POST", "/v1/ports", JSON.writeValueAsBytes(spec), TIMEOUT), "plug " + spec.id());
                        log.println("ferry: domain " + domain.name() + ": plugged " + spec.id() + " (" + spec.mac() + " in VNI "
                                + spec.vni() + (Boolean.TRUE.equals(spec.standby()) ? ", standby for the incoming migration" : "")
                                + ", socket " + spec.socket() + ")");
                    }
                    case Action.Unplug(String id) -> {
                        expect(client.call("DELETE", "/v1/ports/" + URLEncoder.encode(id, StandardCharsets.UTF_8), null, TIMEOUT),
                                "unplug " + id);
                        log.println("ferry: domain " + domain.name() + ": unplugged " + id);
                    }
                }
            }
            return 0;
        } catch (Refused | IllegalArgumentException e) {
            log.println("ferry: domain " + domain.name() + " (" + operation + " " + subOperation + "): " + e.getMessage());
            return mayRefuse ? 1 : 0;
        } catch (IOException e) {
            log.println("ferry: domain " + domain.name() + " (" + operation + " " + subOperation + "): the agent at " + agent
                    + " is unreachable (is ferry-agent running?): " + e.getMessage());
            return mayRefuse ? 1 : 0;
        }
    }

    private static Set<String> plugged(AdminClient client) throws IOException {
        JsonNode status = JSON.readTree(expect(client.call("GET", "/v1/status", null, TIMEOUT), "read its ports").body());
        Set<String> ids = new HashSet<>();
        status.path("ports").forEach(p -> ids.add(p.path("id").asText()));
        return ids;
    }

    private static AdminClient.Answer expect(AdminClient.Answer answer, String what) throws IOException {
        if (answer.status() == 200) return answer;
        String reason;
        try {
            reason = JSON.readTree(answer.body()).path("error").asText(answer.text());
        } catch (IOException e) {
            reason = answer.text();
        }
        throw new Refused("the agent refused to " + what + ": " + reason);
    }

    /** The agent answered, and said no. */
    private static final class Refused extends IOException {
        Refused(String message) {
            super(message);
        }
    }
}
