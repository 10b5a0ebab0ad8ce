package dev.ferry.cli;

import dev.ferry.agent.runtime.Endpoints;
import dev.ferry.board.InMemoryStore;
import dev.ferry.board.SqliteStore;
import dev.ferry.board.Store;
import dev.ferry.rpc.BoardServer;
import dev.ferry.service.BoardService;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "board", mixinStandardHelpOptions = true,
        description = {"Runs the board: the node table, served to agents and ferry ctl over gRPC, until stopped (Ctrl-C).",
                "The table, its locks and pending updates are kept in --data (SQLite), each change on disk before it is",
                "answered: a restarted board serves them again. With --in-memory, agents attach their VMs again after a restart."})
final class BoardCommand implements Callable<Integer> {
    @Option(names = "--listen", defaultValue = "127.0.0.1:7070",
            description = "Address to serve on, host:port; port 0 picks a free one (default ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--metrics", description = "Serve Prometheus /metrics on this host:port (default: none).")
    String metrics;

    @Option(names = "--data", paramLabel = "DIR",
            description = "Where the board keeps its table (default: $XDG_STATE_HOME/ferry/board, else ~/.local/state/ferry/board).")
    Path data;

    @Option(names = "--in-memory", description = "Keep the table in memory only: nothing survives a restart.")
    boolean inMemory;

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
        if (inMemory && data != null) {
            System.err.println("ferry board: --data and --in-memory exclude each other");
            return 2;
        }
        Store store;
        try {
            store = inMemory ? InMemoryStore.forBoardProcess()
                    : SqliteStore.open(dataDir(), BoardServer::clockMillis, System.currentTimeMillis() * 1_000);
        } catch (IOException e) {
            System.err.println("ferry board: --data: " + e.getMessage());
            return 2;
        }
        try (BoardService service = new BoardService(address, metricsAddress, store)) {
            System.out.println("board listening on " + address.getHostString() + ":" + service.port()
                    + (inMemory ? " (table in memory)" : " (table in " + dataDir() + ")"));
            if (service.metricsAddress() != null) {
                System.out.println("metrics on http://" + Endpoints.format(service.metricsAddress()) + "/metrics");
            }
            System.out.flush();
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown));
            stopped.await();
        } finally {
            if (store instanceof SqliteStore s) s.close();
        }
        return 0;
    }

    private Path dataDir() {
        if (data != null) return data;
        String state = System.getenv("XDG_STATE_HOME");
        return (state != null && !state.isBlank() ? Path.of(state) : Path.of(System.getProperty("user.home"), ".local", "state"))
                .resolve("ferry").resolve("board");
    }
}
