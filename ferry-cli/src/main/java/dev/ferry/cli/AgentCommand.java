package dev.ferry.cli;

import dev.ferry.agent.port.TapPort;
import dev.ferry.service.AgentService;
import dev.ferry.service.AgentSettings;
import dev.ferry.service.ConfigException;
import dev.ferry.service.PortSpec;
import dev.ferry.service.SdNotify;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "agent", mixinStandardHelpOptions = true,
        description = {"Runs an agent: tunnels its VMs' frames to other agents (Geneve over UDP) and follows their migrations.",
                "Settings come from --config (YAML) and the flags below; a flag wins over the file."})
final class AgentCommand implements Callable<Integer> {
    @Option(names = "--config", description = "YAML configuration file (see README: Configuration).")
    Path config;

    @Option(names = "--host-id", description = "This agent's id, 1..65535, unique in the cluster.")
    Integer hostId;

    @Option(names = "--listen", description = "Underlay address, host:port (default 0.0.0.0:6081).")
    String listen;

    @Option(names = "--advertise", description = "Underlay address other agents send to (default: --listen).")
    String advertise;

    @Option(names = "--board", description = "The board's host:port; for board replicas, all of theirs, comma-separated (the agent fails over).")
    String board;

    @Option(names = "--admin", paramLabel = "PATH|HOST:PORT",
            description = {"Admin endpoint for ferry ctl: a Unix socket (default $FERRY_RUN_DIR or ~/.local/state/ferry/run, agent-HOSTID.sock;"
                    + " only this user may open it), or host:port, then mutual TLS that admits operators' certificates only."})
    String admin;

    @Option(names = "--metrics", paramLabel = "HOST:PORT", description = "Serve Prometheus /metrics (read only) on this host:port (default: none).")
    String metrics;

    @Option(names = "--metrics-token-file", paramLabel = "FILE",
            description = "Then /metrics answers only requests with Authorization: Bearer TOKEN, TOKEN the file's first line.")
    String metricsTokenFile;

    @Option(names = "--vni", split = ",", description = "Virtual networks served (repeat or comma-separate).")
    List<Integer> vnis;

    @Option(names = "--mode", description = "ferry (default), naive or eager: the latter two only for comparisons.")
    String mode;

    @Option(names = "--transport", description = "Underlay socket: auto (default: epoll where it loads, else nio), epoll or nio.")
    String transport;

    @Option(names = "--tls-dir", paramLabel = "DIR",
            description = {"Mutual TLS to the board: the cluster CA's ca.crt and this agent's agent-N.crt and agent-N.key (ferry pki).",
                    "Default: this machine's own CA ($FERRY_TLS_DIR or ~/.local/state/ferry/pki), which the board made; the agent issues itself a certificate."})
    java.nio.file.Path tlsDir;

    @Option(names = "--insecure", description = "Plaintext gRPC to a board run with --insecure; a TCP --admin then plaintext too.")
    boolean insecure;

    @Option(names = "--tls-name", description = "The certificate's name in --tls-dir (default agent-HOSTID).")
    String tlsName;

    @Option(names = "--plaintext-underlay",
            description = "Send and take datagrams to and from other agents unsealed (not authenticated, not encrypted): only where the underlay is"
                    + " protected otherwise. Every agent of the cluster must then run so. Default: sealed (README: Security).")
    boolean plaintextUnderlay;

    @Option(names = "--libvirt", paramLabel = "URI",
            description = "The libvirt daemon whose domain events tell ports plugged with a domain their migrations (default qemu:///system).")
    String libvirt;

    @Option(names = "--port", description = "A port: id=NAME,type=vhost-user|qemu-socket|tap,vni=N,mac=M,ips=A;B,socket=PATH,local=H:P,remote=H:P,device=D,qmp=PATH")
    List<String> ports = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        AgentSettings.Validated settings;
        AgentSettings file;
        try {
            file = config == null ? AgentSettings.empty() : AgentSettings.load(config);
            List<PortSpec> flagPorts = new ArrayList<>();
            for (int i = 0; i < ports.size(); i++) flagPorts.add(PortSpec.parseFlag(ports.get(i), "--port[" + i + "]"));
            settings = file.override(hostId, listen, advertise, board, admin, vnis, mode, flagPorts).withTransport(transport)
                    .withMetrics(metrics, metricsTokenFile).withLibvirt(libvirt).validate();
        } catch (ConfigException e) {
            System.err.println("ferry agent: bad configuration: " + e.getMessage());
            return 2;
        }
        AgentSettings.Security fromFile = file.securityOrDefault();
        boolean plaintext = plaintextUnderlay || Boolean.TRUE.equals(fromFile.plaintextUnderlay());
        boolean noTls = insecure || Boolean.TRUE.equals(fromFile.insecure());
        java.nio.file.Path dir = tlsDir != null ? tlsDir : fromFile.tlsDir() != null ? java.nio.file.Path.of(fromFile.tlsDir()) : null;
        String name = tlsName != null ? tlsName : fromFile.tlsName();
        settings = settings.withPlaintextUnderlay(plaintext);
        if (noTls) {
            System.err.println("ferry agent: WARNING: --insecure: plaintext gRPC to the board, which cannot tell this agent from anyone");
        } else {
            try {
                int host = settings.config().hostId();
                settings = settings.withTls(LocalTls.resolve(dir, name != null ? name : "agent-" + host,
                        new dev.ferry.security.Identity.Host(host), false));
            } catch (java.io.IOException e) {
                System.err.println("ferry agent: --tls-dir: " + e.getMessage());
                return 2;
            }
        }
        AgentService service;
        try {
            service = AgentService.start(settings);
        } catch (TapPort.TapException | ConfigException e) {
            System.err.println("ferry agent: " + e.getMessage());
            return 2;
        } catch (IOException e) {
            System.err.println("ferry agent: cannot open a socket: " + e.getMessage());
            return 2;
        }
        if (service.metricsAddress() != null) System.out.println("metrics on http://" + service.metricsAddress() + "/metrics");
        System.out.println("agent " + service.hostId() + " up: underlay " + service.endpoint() + " (" + service.transport()
                + "), admin " + service.adminAddress());
        System.out.flush();
        SdNotify.ready("agent " + service.hostId() + ", underlay " + service.endpoint() + ", admin " + service.adminAddress());
        CountDownLatch stopped = new CountDownLatch(1);
        // Closed by the hook itself: the JVM waits for hooks, not for this thread.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            SdNotify.stopping();
            service.close();
            stopped.countDown();
        }));
        stopped.await();
        return 0;
    }
}
