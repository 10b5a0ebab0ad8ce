package dev.ferry.lab.etcd;

import dev.ferry.lab.ScratchDir;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.maintenance.StatusResponse;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real etcd cluster (Debian's etcd-server) of N members on loopback, each its own process with its
 * data in a scratch directory, clients and peers on mutual TLS from a CA of its own: for the tests and the lab that run boards on etcd. Members can be
 * killed (SIGKILL) one by one; the leader is found by asking the members.
 */
public final class EtcdCluster implements AutoCloseable {
    private static final String ETCD = "/usr/bin/etcd";

    private final Path dir;
    private final List<Member> members = new ArrayList<>();

    /** One member: its name, client and peer ports, and its process while it runs. */
    private static final class Member {
        final String name;
        final int clientPort, peerPort;
        Process process;

        Member(String name, int clientPort, int peerPort) {
            this.name = name;
            this.clientPort = clientPort;
            this.peerPort = peerPort;
        }

        URI clientUrl() {
            return URI.create("https://127.0.0.1:" + clientPort);
        }
    }

    private final Path pki;
    private final dev.ferry.security.ClusterCa ca;
    /** The board's client certificate for etcd, from etcd's own CA. */
    private final dev.ferry.rpc.Tls client;

    /**
     * Its own CA, as an operator gives etcd one: members' certificates for clients and peers
     * (mutual TLS both), and one client certificate for the boards.
     */
    private EtcdCluster(Path dir) throws IOException {
        this.dir = dir;
        this.pki = dir.resolve("pki");
        this.ca = dev.ferry.security.ClusterCa.init(pki, "etcd", java.time.Duration.ofDays(1));
        ca.issueService("board-client", List.of(), java.time.Duration.ofDays(1)).write(pki, "board-client");
        this.client = dev.ferry.rpc.Tls.inDir(pki, "board-client");
    }

    /** Starts {@code size} members and waits until each serves clients. */
    public static EtcdCluster start(int size) throws IOException, InterruptedException {
        if (!Files.isExecutable(Path.of(ETCD))) {
            throw new IOException(ETCD + " is missing: install Debian's etcd-server (scripts/install-deps.sh does)");
        }
        EtcdCluster cluster = new EtcdCluster(Files.createTempDirectory("ferry-etcd-"));
        try {
            for (int i = 0; i < size; i++) cluster.members.add(new Member("m" + i, freePort(), freePort()));
            for (int i = 0; i < size; i++) cluster.launch(i);
            for (int i = 0; i < size; i++) cluster.awaitServing(i, 30);
            return cluster;
        } catch (IOException | InterruptedException | RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    private void launch(int i) throws IOException {
        Member m = members.get(i);
        StringBuilder initial = new StringBuilder();
        for (Member o : members) {
            if (!initial.isEmpty()) initial.append(',');
            initial.append(o.name).append("=https://127.0.0.1:").append(o.peerPort);
        }
        Path data = dir.resolve(m.name);
        if (!Files.exists(pki.resolve(m.name + ".crt"))) {
            ca.issueService(m.name, List.of("127.0.0.1", "localhost"), java.time.Duration.ofDays(1)).write(pki, m.name);
        }
        String caFile = pki.resolve("ca.crt").toString(), cert = pki.resolve(m.name + ".crt").toString(),
                key = pki.resolve(m.name + ".key").toString();
        ProcessBuilder pb = new ProcessBuilder(ETCD, "--name", m.name, "--data-dir", data.toString(),
                "--listen-client-urls", m.clientUrl().toString(), "--advertise-client-urls", m.clientUrl().toString(),
                "--listen-peer-urls", "https://127.0.0.1:" + m.peerPort,
                "--initial-advertise-peer-urls", "https://127.0.0.1:" + m.peerPort,
                "--client-cert-auth", "--trusted-ca-file", caFile, "--cert-file", cert, "--key-file", key,
                "--peer-client-cert-auth", "--peer-trusted-ca-file", caFile, "--peer-cert-file", cert, "--peer-key-file", key,
                "--initial-cluster", initial.toString(), "--initial-cluster-token", dir.getFileName().toString(),
                "--initial-cluster-state", "new",
                // Loopback is fast: elect within half a second, not a second, of losing the leader.
                "--heartbeat-interval", "50", "--election-timeout", "500");
        pb.redirectErrorStream(true).redirectOutput(dir.resolve(m.name + ".log").toFile());
        m.process = pb.start();
    }

    private void awaitServing(int i, int seconds) throws IOException, InterruptedException {
        Member m = members.get(i);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            if (!m.process.isAlive()) {
                throw new IOException("etcd member " + m.name + " exited: see " + dir.resolve(m.name + ".log"));
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", m.clientPort), 200);
                return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) throw new IOException("etcd member " + m.name + " does not serve after " + seconds + " s");
                Thread.sleep(100);
            }
        }
    }

    /** The members' client URLs. */
    public List<URI> endpoints() {
        return members.stream().map(Member::clientUrl).toList();
    }

    /** The boards' client TLS context for etcd (in-process stores). */
    public io.netty.handler.ssl.SslContext sslContext() throws IOException {
        return client.etcdClient();
    }

    /** {@code ferry board}'s flags for this cluster: {@code --store} and etcd's client TLS. */
    public List<String> boardArgs() {
        return List.of("--store", storeUri(), "--etcd-cacert", client.ca().toString(), "--etcd-cert", client.cert().toString(),
                "--etcd-key", client.key().toString());
    }

    /** The cluster as {@code ferry board --store} takes it: etcd://127.0.0.1:P1,127.0.0.1:P2,... */
    public String storeUri() {
        StringBuilder out = new StringBuilder("etcd://");
        for (Member m : members) {
            if (out.length() > "etcd://".length()) out.append(',');
            out.append("127.0.0.1:").append(m.clientPort);
        }
        return out.toString();
    }

    public int size() {
        return members.size();
    }

    /** The index of the member that leads now, asked of the running members. */
    public int leader() throws IOException, InterruptedException {
        try (Client client = Client.builder().endpoints(endpoints().toArray(URI[]::new)).sslContext(sslContext()).build()) {
            for (int i = 0; i < members.size(); i++) {
                Member m = members.get(i);
                if (m.process == null || !m.process.isAlive()) continue;
                try {
                    StatusResponse status = client.getMaintenanceClient().statusMember(m.clientUrl().toString()).get(3, TimeUnit.SECONDS);
                    if (status.getLeader() == 0) continue;
                    if (status.getHeader().getMemberId() == status.getLeader()) return i;
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    // this member does not answer now: ask the next
                }
            }
        }
        throw new IOException("no etcd member says it leads");
    }

    /** Kills member {@code i} (SIGKILL) and waits until it is gone. */
    public void kill(int i) throws InterruptedException {
        Process p = members.get(i).process;
        if (p == null) return;
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
    }

    /** Starts member {@code i} again on its data directory, after {@link #kill}. */
    public void restart(int i) throws IOException, InterruptedException {
        Member m = members.get(i);
        if (m.process != null && m.process.isAlive()) return;
        // A member with data rejoins from it; the flags of a new cluster are then ignored.
        launch(i);
        awaitServing(i, 30);
    }

    @Override
    public void close() {
        for (Member m : members) {
            if (m.process != null) {
                m.process.destroyForcibly();
                try {
                    m.process.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        ScratchDir.remove(dir);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
