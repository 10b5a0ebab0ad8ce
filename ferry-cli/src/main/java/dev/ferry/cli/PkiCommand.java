package dev.ferry.cli;

import dev.ferry.security.ClusterCa;
import dev.ferry.security.Identity;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ferry pki}: the cluster's certificate authority, and a certificate for each board, agent and operator. */
@Command(name = "pki", description = "Makes the cluster's certificate authority and issues its members' certificates.",
        subcommands = {PkiCommand.Init.class, PkiCommand.Issue.class})
final class PkiCommand {

    @Command(name = "init", description = "Makes a cluster CA in --dir (ca.crt, and ca.key readable by you alone).")
    static final class Init implements Callable<Integer> {
        @Option(names = "--dir", required = true, description = "Where the CA is kept.") Path dir;
        @Option(names = "--cluster", defaultValue = "ferry", description = "The cluster's name, in the CA's subject (default ferry).")
        String cluster;
        @Option(names = "--days", defaultValue = "3650", description = "How long the CA is valid (default 3650 days).") int days;

        @Override
        public Integer call() {
            return run(() -> {
                ClusterCa.init(dir, cluster, Duration.ofDays(days));
                System.out.println("cluster CA made in " + dir + ": " + ClusterCa.CA_CERT + " (give it to every member), "
                        + ClusterCa.CA_KEY + " (keep it here)");
            });
        }
    }

    @Command(name = "issue", description = "Issues a certificate (NAME.crt, NAME.key) from the CA in --dir.")
    static final class Issue implements Callable<Integer> {
        @Option(names = "--dir", required = true, description = "Where the CA is kept.") Path dir;
        @ArgGroup(exclusive = true, multiplicity = "1") Role role;
        @Option(names = "--name", description = "The files' name (default: agent-N, board, operator).") String name;
        @Option(names = "--san", split = ",", description = "DNS names or IP addresses it is reached at (a board's, an agent's admin).")
        List<String> hostNames = List.of();
        @Option(names = "--out", description = "Where the certificate and key go (default: --dir).") Path out;
        @Option(names = "--days", defaultValue = "365", description = "How long it is valid (default 365 days).") int days;

        static final class Role {
            @Option(names = "--host-id", description = "An agent: the host id it speaks for (1..65535).") Integer hostId;
            @Option(names = "--board", description = "A board replica.") boolean board;
            @Option(names = "--operator", description = "An operator (ferry ctl).") boolean operator;
            @Option(names = "--service", description = "No Ferry identity, only --san names: an etcd member the board reaches,"
                    + " or the board's client certificate for etcd (no member of Ferry accepts it).") boolean service;

            /** The identity it speaks for; null for a service. */
            Identity identity() {
                if (hostId != null) return new Identity.Host(hostId);
                if (service) return null;
                return board ? new Identity.Board() : new Identity.Operator();
            }
        }

        @Override
        public Integer call() {
            return run(() -> {
                Identity identity = role.identity();
                Path to = out != null ? out : dir;
                if (identity == null) {
                    if (name == null) throw new IllegalArgumentException("--service needs --name (etcd-1, board-etcd-client, ...)");
                    ClusterCa.load(dir).issueService(name, hostNames, Duration.ofDays(days)).write(to, name);
                    System.out.println("issued " + name + " " + hostNames + ": " + to.resolve(name + ".crt") + ", " + to.resolve(name + ".key"));
                    return;
                }
                String file = name != null ? name : switch (identity) {
                    case Identity.Host h -> "agent-" + h.hostId();
                    case Identity.Board b -> "board";
                    case Identity.Operator o -> "operator";
                };
                ClusterCa.load(dir).issue(identity, file, hostNames, Duration.ofDays(days)).write(to, file);
                System.out.println("issued " + identity.uri() + ": " + to.resolve(file + ".crt") + ", " + to.resolve(file + ".key"));
            });
        }
    }

    private interface Step {
        void run() throws Exception;
    }

    /** 0, or 2 with the reason on standard error: a refusal names what is wrong, never a stack trace. */
    private static int run(Step step) {
        try {
            step.run();
            return 0;
        } catch (Exception e) {
            System.err.println("ferry pki: " + e.getMessage());
            return 2;
        }
    }
}
