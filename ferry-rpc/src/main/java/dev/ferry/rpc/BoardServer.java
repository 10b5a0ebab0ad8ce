package dev.ferry.rpc;

import dev.ferry.board.Board;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardListener;
import dev.ferry.board.HostRecord;
import dev.ferry.board.Store;
import dev.ferry.rpc.v1.BoardGrpc;
import dev.ferry.rpc.v1.Event;
import dev.ferry.rpc.v1.EventsRequest;
import dev.ferry.rpc.v1.Request;
import dev.ferry.rpc.v1.Response;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Board} served over gRPC: {@code Call} answers requests, {@code Events} streams each
 * agent its pushes. Leases are expired every 100 ms on the board's clock (milliseconds of
 * {@link System#nanoTime}).
 */
public final class BoardServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BoardServer.class);

    private final Map<Integer, Set<StreamObserver<Event>>> streams = new ConcurrentHashMap<>();
    private final Board board;
    private final Server server;
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "board-leases");
        t.setDaemon(true);
        return t;
    });

    public BoardServer(InetSocketAddress listen, Store store) throws IOException {
        this.board = new Board(store, new BoardListener() {
            @Override public void push(int hostId, BoardEvent event) { BoardServer.this.push(hostId, event); }
            @Override public void pushToAll(Collection<Integer> registered, BoardEvent event) { BoardServer.this.pushToAll(registered, event); }
        });
        // Handlers run on the transport threads: the board is one lock and quick, a pool only adds hand-offs.
        this.server = NettyServerBuilder.forAddress(listen).directExecutor().addService(new Service()).build().start();
        ticker.scheduleAtFixedRate(() -> board.tick(nowMillis()), 100, 100, TimeUnit.MILLISECONDS);
        log.info("board serving on {}", listen);
    }

    public int port() {
        return server.getPort();
    }

    public Board board() {
        return board;
    }

    /** Agents' event streams open now. */
    public int eventStreams() {
        return streams.values().stream().mapToInt(Set::size).sum();
    }

    /** Called by the board under its own lock, so one stream never sees two pushes at once. */
    private void push(int hostId, BoardEvent event) {
        Set<StreamObserver<Event>> observers = streams.get(hostId);
        if (observers == null || observers.isEmpty()) return;
        Event e = Convert.event(event);
        for (StreamObserver<Event> o : observers) {
            try {
                o.onNext(e);
            } catch (RuntimeException closed) {
                observers.remove(o);
            }
        }
    }

    /** Every open stream, also one whose host's registration has not landed yet. */
    private void pushToAll(Collection<Integer> registered, BoardEvent event) {
        for (int host : streams.keySet()) push(host, event);
    }

    private static long nowMillis() {
        return clockMillis();
    }

    /** The board's clock, which leases are kept in: milliseconds of {@link System#nanoTime}. */
    public static long clockMillis() {
        return System.nanoTime() / 1_000_000;
    }

    private final class Service extends BoardGrpc.BoardImplBase {
        @Override
        public void call(Request request, StreamObserver<Response> out) {
            try {
                out.onNext(Convert.response(board.handle(Convert.request(request), nowMillis())));
                out.onCompleted();
            } catch (IllegalArgumentException e) {
                out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
            } catch (Store.Unavailable e) {
                // Not answered: the agent retries, here or at another board.
                out.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
            }
        }

        @Override
        public void events(EventsRequest request, StreamObserver<Event> out) {
            int host = request.getHostId();
            Set<StreamObserver<Event>> set = streams.computeIfAbsent(host, h -> ConcurrentHashMap.newKeySet());
            ((ServerCallStreamObserver<Event>) out).setOnCancelHandler(() -> set.remove(out));
            // Pushes made before this stream opened reached nobody: a host that registered while
            // this agent was (re)connecting would stay unknown to it. So the stream starts with
            // every host, then carries changes. Under the board's lock, as pushes are, so the
            // two never interleave on one stream and none falls between them.
            synchronized (board) {
                set.add(out);
                for (HostRecord h : board.hosts()) out.onNext(Convert.event(new BoardEvent.HostChanged(h)));
            }
        }
    }

    @Override
    public void close() {
        ticker.shutdownNow();
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
