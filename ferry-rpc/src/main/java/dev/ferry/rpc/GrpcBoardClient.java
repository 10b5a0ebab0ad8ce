package dev.ferry.rpc;

import dev.ferry.board.BoardClient;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.rpc.v1.BoardGrpc;
import dev.ferry.rpc.v1.Event;
import dev.ferry.rpc.v1.EventsRequest;
import dev.ferry.rpc.v1.Response;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An agent's way to a board over gRPC. Requests are sent and forgotten: the agent resends what is
 * not answered, so a failed call needs nothing here. The event stream is reopened after any
 * disconnect with backoff (100 ms doubling to 2 s), and {@code onReconnect} lets the agent
 * resynchronise (snapshot, then the stream) with a board that may have lost its state.
 */
public final class GrpcBoardClient implements BoardClient, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GrpcBoardClient.class);
    private static final long MIN_BACKOFF_MS = 100, MAX_BACKOFF_MS = 2_000;

    private final ManagedChannel channel;
    private final BoardGrpc.BoardStub stub;
    private final int hostId;
    private final Consumer<BoardResponse> onResponse;
    private final Consumer<BoardEvent> onEvent;
    private final Runnable onReconnect;
    private final ScheduledExecutorService retry = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "board-client");
        t.setDaemon(true);
        return t;
    });
    /** Requests with an RPC under way: the agent's retries of those are not sent again until it ends. */
    private final java.util.Set<Long> inFlight = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private long backoffMs = MIN_BACKOFF_MS;
    private boolean everConnected;

    /**
     * {@code boards}: "host:port" of the board, or of every board replica, comma-separated: the client
     * keeps to one replica while it answers and goes to the next when it does not. Callbacks run on
     * gRPC's threads: post them to the agent's loop.
     */
    public GrpcBoardClient(String boards, int hostId, Consumer<BoardResponse> onResponse, Consumer<BoardEvent> onEvent,
                           Runnable onReconnect) {
        this(boards, hostId, onResponse, onEvent, onReconnect, null);
    }

    /** The same, with {@code tls} mutual TLS to the board (null: plaintext). */
    public GrpcBoardClient(String boards, int hostId, Consumer<BoardResponse> onResponse, Consumer<BoardEvent> onEvent,
                           Runnable onReconnect, Tls tls) {
        // Callbacks only hand answers and events to the agent's queue: no need for a pool between.
        this.channel = channel(boards, tls).directExecutor().build();
        this.stub = BoardGrpc.newStub(channel);
        this.hostId = hostId;
        this.onResponse = onResponse;
        this.onEvent = onEvent;
        this.onReconnect = onReconnect;
        openEvents();
    }

    /** A channel to the board or its replicas: mutual TLS with {@code tls}, else plaintext. */
    static NettyChannelBuilder channel(String boards, Tls tls) {
        NettyChannelBuilder b = NettyChannelBuilder.forTarget(BoardReplicas.target(boards));
        if (tls == null) return b.usePlaintext();
        try {
            return b.sslContext(tls.client());
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    @Override
    public void send(BoardRequest request) {
        if (closed || !inFlight.add(request.requestId())) return;
        stub.withWaitForReady().withDeadlineAfter(2, TimeUnit.SECONDS).call(Convert.request(request), new StreamObserver<>() {
            @Override
            public void onNext(Response r) {
                onResponse.accept(Convert.response(r));
            }

            @Override
            public void onError(Throwable t) {
                inFlight.remove(request.requestId());
                log.debug("board call failed ({}); the agent will retry", t.toString());
            }

            @Override
            public void onCompleted() {
                inFlight.remove(request.requestId());
            }
        });
    }

    private void openEvents() {
        if (closed) return;
        // gRPC's own reconnect backoff grows to minutes (1 s, 1.6 s, 2.6 s, ...): a board that was down
        // for two seconds would wait for its agents' next attempt. This client's backoff (at most 2 s)
        // decides when to try, so the channel tries now.
        channel.resetConnectBackoff();
        stub.events(EventsRequest.newBuilder().setHostId(hostId).build(), new StreamObserver<>() {
            private boolean first = true;

            @Override
            public void onNext(Event e) {
                if (first) connected();
                first = false;
                BoardEvent event = Convert.event(e);
                if (event != null) onEvent.accept(event);
            }

            @Override
            public void onError(Throwable t) {
                reopenLater(t.toString());
            }

            @Override
            public void onCompleted() {
                reopenLater("stream ended");
            }
        });
        // The stream is open once the board accepts it; a call tells, since events may be rare.
        retry.schedule(this::probe, 50, TimeUnit.MILLISECONDS);
    }

    private void probe() {
        // A read-only request with an id of its own (negative: agents' ids are positive).
        long id = java.util.concurrent.ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE;
        stub.withDeadlineAfter(2, TimeUnit.SECONDS).call(Convert.request(new BoardRequest.Lookup(id, new dev.ferry.board.VmKey(0, 0))),
                new StreamObserver<>() {
                    @Override public void onNext(Response r) { connected(); }
                    @Override public void onError(Throwable t) { }
                    @Override public void onCompleted() { }
                });
    }

    private synchronized void connected() {
        if (backoffMs == 0) return;
        backoffMs = 0;
        if (everConnected) {
            log.info("host {}: board connection back, resynchronising", hostId);
            onReconnect.run();
        }
        everConnected = true;
    }

    private synchronized void reopenLater(String why) {
        if (closed) return;
        long delay = backoffMs == 0 ? MIN_BACKOFF_MS : Math.min(MAX_BACKOFF_MS, backoffMs * 2);
        backoffMs = delay;
        log.debug("host {}: board events stream lost ({}), reopening in {} ms", hostId, why, delay);
        retry.schedule(this::openEvents, delay, TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        closed = true;
        retry.shutdownNow();
        channel.shutdownNow();
    }
}
