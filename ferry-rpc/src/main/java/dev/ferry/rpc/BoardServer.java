package dev.ferry.rpc;

import dev.ferry.board.Board;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardListener;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.HostRecord;
import dev.ferry.board.Store;
import dev.ferry.rpc.v1.BoardGrpc;
import dev.ferry.rpc.v1.Event;
import dev.ferry.rpc.v1.EventsRequest;
import dev.ferry.rpc.v1.Request;
import dev.ferry.rpc.v1.Response;
import dev.ferry.security.Identity;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link Board} served over gRPC: {@code Call} queues requests for one thread, which answers those
 * that arrived together at once (their changes committed together); {@code Events} streams each
 * agent its pushes. Leases are expired every 100 ms on the board's clock (milliseconds of
 * {@link System#nanoTime}).
 */
public final class BoardServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BoardServer.class);

    /**
     * Pushes one agent's stream may have waiting while its transport is not ready: past either, the
     * reader is cut off (etcd cancels a slow watcher the same way); its agent reconnects and takes a
     * snapshot. A reader that stops reading would otherwise grow the board without bound.
     */
    static final int STREAM_QUEUE_EVENTS = 8_192;
    static final long STREAM_QUEUE_BYTES = 16L << 20;

    private final Map<Integer, Set<Subscriber>> streams = new ConcurrentHashMap<>();
    private final Map<String, java.util.concurrent.atomic.AtomicLong> refused = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong slowReadersCut = new java.util.concurrent.atomic.AtomicLong();
    private final Board board;
    private final Server server;
    private final ScheduledExecutorService ticker = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "board-leases");
        t.setDaemon(true);
        return t;
    });

    /** A request waiting for the board's thread, and where its answer goes. */
    private record Call(BoardRequest request, StreamObserver<Response> out) {}

    private static final int QUEUE = 65_536, BATCH = 512;
    private final BlockingQueue<Call> calls = new ArrayBlockingQueue<>(QUEUE);
    private final Thread answering;
    private volatile boolean closed;

    public BoardServer(InetSocketAddress listen, Store store) throws IOException {
        this(listen, store, null);
    }

    /**
     * A board that, with {@code tls}, speaks mutual TLS only and answers each member as its
     * certificate allows ({@link Authority}); with null, plaintext to anyone.
     */
    public BoardServer(InetSocketAddress listen, Store store, Tls tls) throws IOException {
        this.board = new Board(store, new BoardListener() {
            @Override public void push(int hostId, BoardEvent event) { BoardServer.this.push(hostId, event); }
            @Override public void pushToAll(Collection<Integer> registered, BoardEvent event) { BoardServer.this.pushToAll(registered, event); }
        });
        // Handlers only queue the request: one thread answers what has arrived, committed together.
        NettyServerBuilder builder = NettyServerBuilder.forAddress(listen).directExecutor();
        if (tls != null) {
            builder.sslContext(tls.server()).addService(ServerInterceptors.intercept(new Service(), new IdentityInterceptor()));
        } else {
            builder.addService(new Service());
        }
        this.server = builder.build().start();
        answering = Thread.ofPlatform().name("board").daemon().start(this::answer);
        ticker.scheduleAtFixedRate(() -> board.tick(nowMillis()), 100, 100, TimeUnit.MILLISECONDS);
        log.info("board serving on {}", listen);
    }

    public int port() {
        return server.getPort();
    }

    public Board board() {
        return board;
    }

    /** Event streams cut off because their reader let {@link #STREAM_QUEUE_EVENTS} or {@link #STREAM_QUEUE_BYTES} wait. */
    public long slowReadersCut() {
        return slowReadersCut.get();
    }

    /** Requests and streams refused to a member, by what was asked (or {@code no_identity}): {@code ferry_board_refused_total{reason}}. */
    public Map<String, Long> refusals() {
        Map<String, Long> out = new java.util.TreeMap<>();
        refused.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    private void refuse(String reason) {
        refused.computeIfAbsent(reason, k -> new java.util.concurrent.atomic.AtomicLong()).incrementAndGet();
    }

    /** The identity of the caller's certificate, for {@link Authority}; a call without one is refused before it is read. */
    private static final Context.Key<Identity> IDENTITY = Context.key("ferry-identity");

    private final class IdentityInterceptor implements ServerInterceptor {
        @Override
        public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
            Identity who = null;
            SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
            try {
                if (session != null && session.getPeerCertificates()[0] instanceof X509Certificate c) who = Identity.of(c).orElse(null);
            } catch (SSLPeerUnverifiedException e) {
                who = null;
            }
            if (who == null) {
                refuse("no_identity");
                call.close(Status.UNAUTHENTICATED.withDescription("the client's certificate names no Ferry identity"), new Metadata());
                return new ServerCall.Listener<>() {};
            }
            return Contexts.interceptCall(Context.current().withValue(IDENTITY, who), call, headers, next);
        }
    }

    /** Agents' event streams open now. */
    public int eventStreams() {
        return streams.values().stream().mapToInt(Set::size).sum();
    }

    /**
     * The board's thread: takes every request that has arrived (up to {@link #BATCH}) and answers
     * them together, so that their changes reach the store in one commit (group commit).
     */
    private void answer() {
        List<Call> batch = new ArrayList<>(BATCH);
        List<BoardRequest> requests = new ArrayList<>(BATCH);
        while (!closed) {
            try {
                batch.add(calls.take());
            } catch (InterruptedException e) {
                return;
            }
            calls.drainTo(batch, BATCH - 1);
            for (Call c : batch) requests.add(c.request());
            try {
                List<BoardResponse> answers = board.handleAll(requests, nowMillis());
                for (int i = 0; i < batch.size(); i++) respond(batch.get(i).out(), answers.get(i));
            } catch (RuntimeException e) {
                log.error("board: {} requests not answered", batch.size(), e);
                for (Call c : batch) respond(c.out(), null);
            }
            batch.clear();
            requests.clear();
        }
    }

    private static void respond(StreamObserver<Response> out, BoardResponse answer) {
        try {
            if (answer == null) {
                // Not answered: the agent retries, here or at another board.
                out.onError(Status.UNAVAILABLE.withDescription("the board's store is unavailable").asRuntimeException());
            } else {
                out.onNext(Convert.response(answer));
                out.onCompleted();
            }
        } catch (RuntimeException gone) {
            // the caller cancelled or its deadline passed: it asks again
        }
    }

    /** Called by the board under its own lock, so one stream never sees two pushes at once. */
    private void push(int hostId, BoardEvent event) {
        Set<Subscriber> subscribers = streams.get(hostId);
        if (subscribers == null || subscribers.isEmpty()) return;
        Event e = Convert.event(event);
        for (Subscriber s : subscribers) s.push(e);
    }

    /**
     * One agent's event stream. gRPC buffers whatever {@code onNext} is given; this sends only while
     * the transport is ready and keeps the rest in a bounded queue, sent from gRPC's on-ready callback.
     */
    private final class Subscriber {
        private final ServerCallStreamObserver<Event> out;
        private final Set<Subscriber> set;
        private final int host;
        private final java.util.ArrayDeque<Event> queue = new java.util.ArrayDeque<>();
        private long queuedBytes;
        private boolean gone;

        Subscriber(ServerCallStreamObserver<Event> out, Set<Subscriber> set, int host) {
            this.out = out;
            this.set = set;
            this.host = host;
        }

        synchronized void push(Event e) {
            if (gone) return;
            queue.add(e);
            queuedBytes += e.getSerializedSize();
            if (queue.size() > STREAM_QUEUE_EVENTS || queuedBytes > STREAM_QUEUE_BYTES) {
                cut();
                return;
            }
            drain();
        }

        synchronized void drain() {
            try {
                while (!gone && !queue.isEmpty() && out.isReady()) {
                    Event e = queue.poll();
                    queuedBytes -= e.getSerializedSize();
                    out.onNext(e);
                }
            } catch (RuntimeException closed) {
                end();
            }
        }

        private void cut() {
            slowReadersCut.incrementAndGet();
            log.warn("board: host {}'s event stream cut off: {} events ({} bytes) waited for it to read (bounds {} and {});"
                    + " it reconnects and takes a snapshot", host, queue.size(), queuedBytes, STREAM_QUEUE_EVENTS, STREAM_QUEUE_BYTES);
            end();
            try {
                out.onError(Status.RESOURCE_EXHAUSTED.withDescription("slow reader: " + STREAM_QUEUE_EVENTS
                        + " events waited; reconnect and resynchronise").asRuntimeException());
            } catch (RuntimeException closed) {
                // already gone
            }
        }

        synchronized void end() {
            gone = true;
            queue.clear();
            queuedBytes = 0;
            set.remove(this);
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
            BoardRequest r;
            try {
                r = Convert.request(request);
            } catch (IllegalArgumentException e) {
                out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
                return;
            }
            Identity who = IDENTITY.get();
            String no = who == null ? null : Authority.refusal(who, r, board);
            if (no != null) {
                refuse(Authority.kind(r));
                log.warn("board: refused {} from {}: {}", Authority.kind(r), who.uri(), no);
                respond(out, new BoardResponse.Refused(r.requestId(), "not allowed: " + no, null));
                return;
            }
            if (!calls.offer(new Call(r, out))) {
                out.onError(Status.RESOURCE_EXHAUSTED.withDescription("the board has " + QUEUE + " requests waiting").asRuntimeException());
            }
        }

        @Override
        public void events(EventsRequest request, StreamObserver<Event> out) {
            int host = request.getHostId();
            Identity who = IDENTITY.get();
            if (who != null && !(who instanceof Identity.Host h && h.hostId() == host)) {
                refuse("events");
                out.onError(Status.PERMISSION_DENIED.withDescription(who.uri() + " may not follow host " + host + "'s pushes")
                        .asRuntimeException());
                return;
            }
            Set<Subscriber> set = streams.computeIfAbsent(host, h -> ConcurrentHashMap.newKeySet());
            ServerCallStreamObserver<Event> stream = (ServerCallStreamObserver<Event>) out;
            Subscriber subscriber = new Subscriber(stream, set, host);
            stream.setOnCancelHandler(subscriber::end);
            stream.setOnReadyHandler(subscriber::drain);
            // Pushes made before this stream opened reached nobody: a host that registered while
            // this agent was (re)connecting would stay unknown to it. So the stream starts with
            // every host, then carries changes. Under the board's lock, as pushes are, so the
            // two never interleave on one stream and none falls between them.
            synchronized (board) {
                set.add(subscriber);
                for (HostRecord h : board.hosts()) subscriber.push(Convert.event(new BoardEvent.HostChanged(h)));
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        answering.interrupt();
        ticker.shutdownNow();
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
