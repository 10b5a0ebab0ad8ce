package dev.ferry.service.libvirt;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.service.AdminClient;
import dev.ferry.service.ConfigException;
import dev.ferry.service.HttpAddress;
import dev.ferry.service.PortSpec;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
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
 *
 * <p>The work is the agent's ({@link #apply}, behind {@code POST /v1/libvirt/OPERATION/SUB-OPERATION}
 * on its admin socket): the packaged hook is a shell script that posts the XML there with curl, so a
 * libvirt call costs no JVM start; {@link #run} is the same client in Java, {@code ferry libvirt hook}.
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

    /** libvirt's calls that plug or unplug ({@link #plan}); the packaged hook script lets only these reach the agent. */
    public static final Set<String> CALLS = Set.of("prepare begin", "migrate begin", "restore begin", "reconnect begin", "attach begin",
            "release end");

    /** The largest domain XML the agent reads (its admin endpoint's bound on a request). */
    public static final int MAX_XML = 1024 * 1024;

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
     * The agent's ports as the hook sees and changes them: the agent implements it on its admin
     * endpoint's thread, so calls for different domains run one after the other.
     */
    public interface Ports {
        /** The ids of the ports plugged now. */
        Set<String> plugged();

        /** Plugs {@code port} in, or throws with the reason it is refused. */
        void plug(PortSpec.Port port) throws IOException;

        /** Unplugs port {@code id}. */
        void unplug(String id);
    }

    /**
     * The agent's side of a hook call ({@code POST /v1/libvirt/OPERATION/SUB-OPERATION}): plans
     * libvirt's call on the domain XML and carries it out on {@code ports}. Returns a line for each
     * thing done. A domain gets all its ports or none: when one plug is refused, the ports this call
     * plugged already are unplugged again and the refusal is thrown as a {@link ConfigException} with
     * the reason (so is a domain XML that is not valid Ferry metadata).
     */
    public static List<String> apply(String operation, String subOperation, String xml, Ports ports) {
        DomainXml.Domain domain = DomainXml.parse(xml);
        List<String> done = new ArrayList<>();
        List<String> pluggedNow = new ArrayList<>();
        for (Action a : plan(operation, subOperation, domain, ports.plugged())) {
            switch (a) {
                case Action.Plug(PortSpec spec) -> {
                    try {
                        ports.plug(spec.validate("port " + spec.id()));
                    } catch (IOException | IllegalArgumentException e) {
                        for (String id : pluggedNow.reversed()) ports.unplug(id);
                        throw new ConfigException("could not plug " + spec.id() + ": " + e.getMessage()
                                + (pluggedNow.isEmpty() ? "" : " (unplugged again: " + String.join(", ", pluggedNow) + ")"));
                    }
                    pluggedNow.add(spec.id());
                    done.add("plugged " + spec.id() + " (" + spec.mac() + " in VNI " + spec.vni()
                            + (Boolean.TRUE.equals(spec.standby()) ? ", standby for the incoming migration" : "") + ", socket "
                            + spec.socket() + ")");
                }
                case Action.Unplug(String id) -> {
                    ports.unplug(id);
                    done.add("unplugged " + id);
                }
            }
        }
        return done;
    }

    /**
     * The hook's client side, {@code ferry libvirt hook} (the packaged hook script does the same with
     * curl): {@code args} as libvirt passes them (domain, operation, sub-operation, extra), {@code xml}
     * the domain, posted to the agent at {@code agent}, whose answer goes to {@code log}. Returns the
     * exit code: 1 for a refusal at {@code prepare} or {@code migrate}, which keeps the domain from
     * starting; 0 otherwise. A domain without Ferry's namespace never reaches the agent.
     */
    public static int run(List<String> args, String xml, String agent, PrintStream log) {
        if (args.size() < 3) {
            log.println("ferry libvirt hook: wants DOMAIN OPERATION SUB-OPERATION [EXTRA], as libvirt calls it");
            return 2;
        }
        String name = args.get(0), operation = args.get(1), subOperation = args.get(2);
        boolean mayRefuse = operation.equals("prepare") || operation.equals("migrate");
        if (!xml.contains(DomainXml.NAMESPACE) || !CALLS.contains(operation + " " + subOperation)) return 0;
        byte[] body = xml.getBytes(StandardCharsets.UTF_8);
        if (body.length > MAX_XML) {
            // Said here: the agent would answer 413 and close while the rest is still being sent, which reads as no answer.
            log.println("ferry: domain " + name + " (" + operation + " " + subOperation + "): the domain XML is larger than the agent reads ("
                    + MAX_XML + " bytes)");
            return mayRefuse ? 1 : 0;
        }
        AdminClient.Answer answer;
        try {
            answer = new AdminClient(HttpAddress.parse(agent, "agent"), null).call("POST",
                    "/v1/libvirt/" + enc(operation) + "/" + enc(subOperation), "application/xml", body, TIMEOUT);
        } catch (IOException e) {
            log.println("ferry: domain " + name + " (" + operation + " " + subOperation + "): the agent at " + agent
                    + " is unreachable (is ferry-agent running?): " + e.getMessage());
            return mayRefuse ? 1 : 0;
        }
        if (answer.status() == 200) {
            answer.text().lines().forEach(l -> log.println("ferry: domain " + name + ": " + l));
            return 0;
        }
        String reason;
        try {
            reason = JSON.readTree(answer.body()).path("error").asText(answer.text());
        } catch (IOException e) {
            reason = answer.text();
        }
        log.println("ferry: domain " + name + " (" + operation + " " + subOperation + "): the agent refused: " + reason);
        return mayRefuse ? 1 : 0;
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }
}
