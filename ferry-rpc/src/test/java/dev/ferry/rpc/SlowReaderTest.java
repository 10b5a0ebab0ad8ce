package dev.ferry.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.InMemoryStore;
import dev.ferry.rpc.v1.BoardGrpc;
import dev.ferry.rpc.v1.Event;
import dev.ferry.rpc.v1.EventsRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * An agent that stops reading its event stream cannot grow the board: once its pushes waiting pass
 * the bound, the stream is cut off (the agent reconnects and takes a snapshot), as etcd cancels a
 * slow watcher; an agent that reads keeps its stream.
 */
class SlowReaderTest {
    /** Each host's registration names this many VNIs: pushes of about 1 KiB fill the transport's window sooner. */
    private static final Set<Integer> VNIS = IntStream.range(0, 250).boxed().collect(Collectors.toSet());
    private static final int HOSTS = 12_000;

    private final BoardServer server;
    private final ManagedChannel channel;

    SlowReaderTest() throws Exception {
        server = new BoardServer(new InetSocketAddress("127.0.0.1", 0), new InMemoryStore());
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
    }

    @AfterEach
    void close() {
        channel.shutdownNow();
        server.close();
    }

    /** Opens host 1's event stream; one that does not read takes its first event and no more until asked. */
    private Stream open(boolean reads) {
        register(1);
        Stream s = new Stream(reads);
        BoardGrpc.newStub(channel).events(EventsRequest.newBuilder().setHostId(1).build(), s);
        return s;
    }

    private void register(int host) {
        assertThat(server.board().handle(new BoardRequest.RegisterHost(host, host, "127.0.0.1:" + (1_000 + host), VNIS, 60_000),
                BoardServer.clockMillis())).isInstanceOf(BoardResponse.Ok.class);
    }

    /** Every host's registration is pushed to every stream. */
    private void registerManyHosts() {
        for (int h = 2; h <= HOSTS; h++) register(h);
    }

    @Test
    void aStreamWhoseReaderStopsIsCutOffAndTheBoardAnswersOn() throws Exception {
        Stream stalled = open(false);
        stalled.firstEvent.get(5, TimeUnit.SECONDS);
        registerManyHosts();

        assertThat(server.slowReadersCut()).isEqualTo(1);
        assertThat(server.eventStreams()).isZero();
        assertThat(server.board().handle(new BoardRequest.Heartbeat(HOSTS + 1, 1), BoardServer.clockMillis()))
                .isInstanceOf(BoardResponse.Ok.class);
        // When the agent reads again it finds its stream ended, and reconnects.
        stalled.requests.request(Integer.MAX_VALUE);
        assertThat(stalled.ended.get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        assertThat(stalled.received.get()).isLessThan(HOSTS);
    }

    @Test
    void aStreamWhoseReaderKeepsUpIsNotCut() throws Exception {
        Stream reading = open(true);
        reading.firstEvent.get(5, TimeUnit.SECONDS);
        registerManyHosts();

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (reading.received.get() < HOSTS && System.nanoTime() < deadline) Thread.sleep(10);
        assertThat(reading.received.get()).isEqualTo(HOSTS);
        assertThat(server.slowReadersCut()).isZero();
        assertThat(server.eventStreams()).isEqualTo(1);
    }

    private static final class Stream implements ClientResponseObserver<EventsRequest, Event> {
        final boolean reads;
        final AtomicLong received = new AtomicLong();
        final CompletableFuture<Void> firstEvent = new CompletableFuture<>();
        final CompletableFuture<Status> ended = new CompletableFuture<>();
        ClientCallStreamObserver<EventsRequest> requests;

        Stream(boolean reads) {
            this.reads = reads;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<EventsRequest> requests) {
            this.requests = requests;
            if (!reads) requests.disableAutoRequestWithInitial(1);
        }

        @Override
        public void onNext(Event e) {
            received.incrementAndGet();
            firstEvent.complete(null);
        }

        @Override
        public void onError(Throwable t) {
            ended.complete(Status.fromThrowable(t));
        }

        @Override
        public void onCompleted() {
            ended.complete(Status.OK);
        }
    }
}
