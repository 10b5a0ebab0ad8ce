package dev.ferry.cli;

import dev.ferry.board.Endpoints;
import dev.ferry.board.EtcdStore;
import dev.ferry.board.InMemoryStore;
import dev.ferry.board.SqliteStore;
import dev.ferry.board.Store;
import dev.ferry.rpc.BoardServer;
import dev.ferry.service.BoardService;
import dev.ferry.service.SdNotify;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "board", mixinStandardHelpOptions = true,
        description = {"Runs the board: the node table, served to agents and ferry ctl over gRPC, until stopped (Ctrl-C).",
                "The table, its locks and pending updates are kept in --data (SQLite), each change on disk before it is",
                "answered: a restarted board serves them again. With --in-memory, agents attach their VMs again after a restart.",
                "With --store etcd://..., the table is in an etcd cluster that several boards (replicas) share."})
final class BoardCommand implements Callable<Integer> {
    @Option(names = "--listen", defaultValue = "127.0.0.1:7070",
            description = "Address to serve on, host:port; port 0 picks a free one (default ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--metrics", description = "Serve Prometheus /metrics on this host:port (default: none).")
    String metrics;

    @Option(names = "--metrics-token-file", paramLabel = "FILE",
            description = "Then /metrics answers only requests with Authorization: Bearer TOKEN, TOKEN the file's first line.")
    Path metricsTokenFile;

    @Option(names = "--data", paramLabel = "DIR",
            description = "Where the board keeps its table (default: $XDG_STATE_HOME/ferry/board, else ~/.local/state/ferry/board).")
    Path data;

    @Option(names = "--tls-dir", paramLabel = "DIR",
            description = {"Mutual TLS: the cluster CA's ca.crt and this board's NAME.crt and NAME.key (ferry pki); only members are answered,"
                    + " each as its certificate allows.",
                    "Default: this machine's own CA in $FERRY_TLS_DIR or ~/.local/state/ferry/pki, made on first start (a cluster on one machine)."})
    Path tlsDir;

    @Option(names = "--insecure", description = "Plaintext gRPC: every client is answered, none authenticated. Only for a board no untrusted host can reach.")
    boolean insecure;

    @Option(names = "--tls-name", defaultValue = "board", description = "The certificate's name in --tls-dir (default ${DEFAULT-VALUE}).")
    String tlsName;

    @Option(names = "--in-memory", description = "Keep the table in memory only: nothing survives a restart.")
    boolean inMemory;

    @Option(names = "--store", paramLabel = "etcd://HOST:PORT[,HOST:PORT...]",
            description = {"Keep the table in this etcd cluster instead, shared with every other board given the same cluster:",
                    "run several boards as replicas and give agents all of their addresses."})
    String storeUri;

    @Option(names = "--etcd-cacert", paramLabel = "FILE", description = "With --store etcd://: the CA that issued the etcd members' certificates.")
    Path etcdCa;

    @Option(names = "--etcd-cert", paramLabel = "FILE",
            description = {"With --store etcd://: the board's client certificate for etcd (with --etcd-key; ferry pki issue --service makes one).",
                    "Without the --etcd-* flags the board shows etcd its own certificate and trusts the cluster's CA;"
                            + " only --insecure reaches etcd over plain http."})
    Path etcdCert;

    @Option(names = "--etcd-key", paramLabel = "FILE", description = "With --store etcd://: the key of --etcd-cert.")
    Path etcdKey;

    @Option(names = "--etcd-prefix", defaultValue = "/ferry/",
            description = "With --store etcd://: the keys' prefix, one per Ferry cluster (default ${DEFAULT-VALUE}).")
    String etcdPrefix;

    @Override
    public Integer call() throws Exception {
        InetSocketAddress address;
        InetSocketAddress metricsAddress = null;
        try {
            address = Endpoints.parse(listen);
        } catch (IllegalArgumentException e) {
            System.err.println("ferry board: --listen " + e.getMessage());
            return 2;
        }
        try {
            if (metrics != null) metricsAddress = Endpoints.parse(metrics);
        } catch (IllegalArgumentException e) {
            System.err.println("ferry board: --metrics " + e.getMessage());
            return 2;
        }
        if ((inMemory ? 1 : 0) + (data != null ? 1 : 0) + (storeUri != null ? 1 : 0) > 1) {
            System.err.println("ferry board: --data, --in-memory and --store exclude each other");
            return 2;
        }
        dev.ferry.rpc.Tls tls = null;
        if (insecure) {
            System.err.println("ferry board: WARNING: --insecure: plaintext gRPC, no member authenticated; anyone who reaches "
                    + address.getHostString() + " can move any VM");
        } else {
            try {
                tls = LocalTls.resolve(tlsDir, tlsName, new dev.ferry.security.Identity.Board(), true);
            } catch (IOException e) {
                System.err.println("ferry board: --tls-dir: " + e.getMessage());
                return 2;
            }
        }
        dev.ferry.rpc.Tls etcdTls;
        try {
            etcdTls = etcdTls(tls);
        } catch (IllegalArgumentException | IOException e) {
            System.err.println("ferry board: " + e.getMessage());
            return 2;
        }
        List<URI> etcd;
        try {
            etcd = storeUri == null ? null : etcdEndpoints(storeUri, etcdTls != null);
        } catch (IllegalArgumentException e) {
            System.err.println("ferry board: --store " + e.getMessage());
            return 2;
        }
        Path dataDir = dataDir();
        Store store;
        String where;
        try {
            long firstRevision = System.currentTimeMillis() * 1_000;
            if (inMemory) {
                store = InMemoryStore.forBoardProcess();
                where = "table in memory";
            } else if (etcd != null) {
                store = EtcdStore.open(etcd, etcdPrefix, firstRevision, etcdTls == null ? null : etcdTls.etcdClient());
                where = "table in etcd " + storeUri.substring("etcd://".length()) + " under " + etcdPrefix
                        + (etcdTls == null ? ", plaintext" : ", client TLS");
            } else {
                store = SqliteStore.open(dataDir, BoardServer::clockMillis, firstRevision);
                where = "table in " + dataDir;
            }
        } catch (IOException e) {
            System.err.println("ferry board: " + (etcd != null ? "--store" : "--data") + ": " + e.getMessage());
            return 2;
        }
        String metricsToken;
        try {
            metricsToken = BoardService.metricsToken(metricsTokenFile, metricsAddress, "--metrics-token-file");
        } catch (dev.ferry.service.ConfigException e) {
            System.err.println("ferry board: " + e.getMessage());
            if (store instanceof AutoCloseable c) c.close();
            return 2;
        }
        try (BoardService service = new BoardService(address, metricsAddress, metricsToken, store, tls)) {
            System.out.println("board listening on " + address.getHostString() + ":" + service.port() + " (" + where + ")"
                    + (tls != null ? ", mutual TLS with certificates in " + tls.ca().getParent() : ", plaintext"));
            if (service.metricsAddress() != null) {
                System.out.println("metrics on http://" + Endpoints.format(service.metricsAddress()) + "/metrics");
            }
            System.out.flush();
            SdNotify.ready("serving on " + address.getHostString() + ":" + service.port() + " (" + where + ")");
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                SdNotify.stopping();
                stopped.countDown();
            }));
            stopped.await();
        } finally {
            if (store instanceof AutoCloseable c) c.close();
        }
        return 0;
    }

    /** "etcd://host:port,host:port" to the members' client URLs, https with {@code tls}. */
    static List<URI> etcdEndpoints(String uri, boolean tls) {
        if (!uri.startsWith("etcd://")) throw new IllegalArgumentException("must start with etcd:// (got \"" + uri + "\")");
        return Endpoints.parseList(uri.substring("etcd://".length())).stream()
                .map(member -> URI.create((tls ? "https://" : "http://") + Endpoints.format(member))).toList();
    }

    /**
     * The files of etcd's client TLS: the three --etcd-* flags, else the board's own certificate (an
     * etcd that trusts the cluster's CA); none for a board run --insecure without them.
     */
    private dev.ferry.rpc.Tls etcdTls(dev.ferry.rpc.Tls board) throws IOException {
        int given = (etcdCa != null ? 1 : 0) + (etcdCert != null ? 1 : 0) + (etcdKey != null ? 1 : 0);
        if (given != 0 && given != 3) throw new IllegalArgumentException("--etcd-cacert, --etcd-cert and --etcd-key go together");
        if (given == 3) {
            for (Path p : List.of(etcdCa, etcdCert, etcdKey)) {
                if (!java.nio.file.Files.isReadable(p)) throw new IOException("--etcd-*: cannot read " + p);
            }
            return new dev.ferry.rpc.Tls(etcdCa, etcdCert, etcdKey);
        }
        if (storeUri != null && board == null) {
            System.err.println("ferry board: WARNING: --insecure: etcd reached over plain http; anyone on the path reads and changes the table");
        }
        return board;
    }

    private Path dataDir() {
        if (data != null) return data;
        String state = System.getenv("XDG_STATE_HOME");
        return (state != null && !state.isBlank() ? Path.of(state) : Path.of(System.getProperty("user.home"), ".local", "state"))
                .resolve("ferry").resolve("board");
    }
}
