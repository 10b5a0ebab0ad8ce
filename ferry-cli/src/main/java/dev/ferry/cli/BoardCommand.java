package dev.ferry.cli;

import dev.ferry.agent.runtime.Endpoints;
import dev.ferry.board.InMemoryStore;
import dev.ferry.service.BoardService;
import java.net.InetSocketAddress;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "board", mixinStandardHelpOptions = true,
        description = {"Runs the board: the node table, served to agents and ferry ctl over gRPC, until stopped (Ctrl-C).",
                "The table is in memory: after a restart the agents attach their VMs again."})
final class BoardCommand implements Callable<Integer> {
    @Option(names = "--listen", defaultValue = "127.0.0.1:7070",
            description = "Address to serve on, host:port; port 0 picks a free one (default ${DEFAULT-VALUE}).")
    String listen;

    @Option(names = "--metrics", description = "Serve Prometheus /metrics on this host:port (default: none).")
    String metrics;

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
        try (BoardService service = new BoardService(address, metricsAddress, InMemoryStore.forBoardProcess())) {
            System.out.println("board listening on " + address.getHostString() + ":" + service.port());
            if (service.metricsAddress() != null) {
                System.out.println("metrics on http://" + Endpoints.format(service.metricsAddress()) + "/metrics");
            }
            System.out.flush();
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown));
            stopped.await();
        }
        return 0;
    }
}
