package dev.ferry.service;

import dev.ferry.board.Board;
import dev.ferry.board.HostRecord;
import dev.ferry.board.Store;
import dev.ferry.rpc.BoardServer;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * What {@code ferry board} runs: the board over gRPC and, when asked, Prometheus {@code /metrics}
 * (records, locks, pending updates, watches, hosts, agents' event streams).
 */
public final class BoardService implements AutoCloseable {
    private final BoardServer server;
    private final HttpEndpoint metrics;

    public BoardService(InetSocketAddress listen, InetSocketAddress metricsAddress, Store store) throws IOException {
        this(listen, metricsAddress, store, null);
    }

    /** A board speaking mutual TLS with {@code tls} (null: plaintext, to anyone). */
    public BoardService(InetSocketAddress listen, InetSocketAddress metricsAddress, Store store, dev.ferry.rpc.Tls tls) throws IOException {
        this(listen, metricsAddress, null, store, tls);
    }

    /** The same, its {@code /metrics} answering only {@code Authorization: Bearer metricsToken} when that is not null. */
    public BoardService(InetSocketAddress listen, InetSocketAddress metricsAddress, String metricsToken, Store store, dev.ferry.rpc.Tls tls)
            throws IOException {
        server = new BoardServer(listen, store, tls);
        HttpEndpoint http = null;
        if (metricsAddress != null) {
            try {
                http = new HttpEndpoint(new HttpAddress.Tcp(metricsAddress), null, metricsToken);
                http.metrics(registry(server), () -> {});
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
        }
        metrics = http;
    }

    private static PrometheusRegistry registry(BoardServer server) {
        PrometheusRegistry registry = new PrometheusRegistry();
        Board board = server.board();
        GaugeWithCallback.builder().name("ferry_board_records").help("Node records in the table")
                .callback(cb -> cb.call(board.records().size())).register(registry);
        GaugeWithCallback.builder().name("ferry_board_locks").help("Records locked by a migration now")
                .callback(cb -> cb.call(board.locks())).register(registry);
        GaugeWithCallback.builder().name("ferry_board_pending_updates").help("Updates queued behind locks now")
                .callback(cb -> cb.call(board.pendingUpdates())).register(registry);
        GaugeWithCallback.builder().name("ferry_board_watches").help("(VNI, host) watch subscriptions")
                .callback(cb -> cb.call(board.watches())).register(registry);
        GaugeWithCallback.builder().name("ferry_board_event_streams").help("Agents' event streams open now")
                .callback(cb -> cb.call(server.eventStreams())).register(registry);
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("ferry_board_refused")
                .help("Requests and event streams refused to a member (mutual TLS), by what was asked, or no_identity").labelNames("reason")
                .callback(cb -> server.refusals().forEach((reason, n) -> cb.call(n, reason))).register(registry);
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("ferry_board_records_forgotten")
                .help("Records detached from every host for longer than the grace period (10 min), forgotten")
                .callback(cb -> cb.call(server.board().recordsForgotten())).register(registry);
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("ferry_board_slow_readers_cut")
                .help("Agents' event streams cut off because too many pushes waited for them to read (they reconnect and take a snapshot)")
                .callback(cb -> cb.call(server.slowReadersCut())).register(registry);
        GaugeWithCallback.builder().name("ferry_board_hosts").help("Registered hosts, by lease state").labelNames("state")
                .callback(cb -> {
                    long alive = board.hosts().stream().filter(HostRecord::isAlive).count();
                    cb.call(alive, "alive");
                    cb.call(board.hosts().size() - alive, "lapsed");
                }).register(registry);
        return registry;
    }

    public int port() {
        return server.port();
    }

    /**
     * The board's {@code /metrics} token from {@code file} (null: none), or a {@link ConfigException}
     * naming {@code field}, as an agent's {@code metrics-token-file} is read.
     */
    public static String metricsToken(java.nio.file.Path file, InetSocketAddress metricsAddress, String field) {
        return HttpEndpoint.metricsToken(file, metricsAddress, field);
    }

    /** Where /metrics is served, or null. */
    public InetSocketAddress metricsAddress() {
        return metrics == null ? null : ((HttpAddress.Tcp) metrics.address()).address();
    }

    public Board board() {
        return server.board();
    }

    @Override
    public void close() {
        if (metrics != null) metrics.close();
        server.close();
    }

}
