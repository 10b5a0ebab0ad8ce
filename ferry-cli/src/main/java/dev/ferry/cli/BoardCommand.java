package dev.ferry.cli;

import dev.ferry.board.InMemoryStore;
import dev.ferry.rpc.BoardServer;
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

    @Override
    public Integer call() throws Exception {
        InetSocketAddress address;
        try {
            address = parse(listen);
        } catch (IllegalArgumentException e) {
            System.err.println("ferry board: --listen " + e.getMessage());
            return 2;
        }
        try (BoardServer server = new BoardServer(address, InMemoryStore.forBoardProcess())) {
            System.out.println("board listening on " + address.getHostString() + ":" + server.port());
            System.out.flush();
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(stopped::countDown));
            stopped.await();
        }
        return 0;
    }

    static InetSocketAddress parse(String text) {
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) throw new IllegalArgumentException("'" + text + "' is not host:port");
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' has no numeric port");
        }
        if (port < 0 || port > 65_535) throw new IllegalArgumentException("'" + text + "': port out of range");
        return new InetSocketAddress(text.substring(0, colon), port);
    }
}
