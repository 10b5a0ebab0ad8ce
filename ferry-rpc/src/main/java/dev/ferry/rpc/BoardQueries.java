package dev.ferry.rpc;

import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.rpc.v1.BoardGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongFunction;

/**
 * Blocking, one-at-a-time calls to a board, for operators' tools ({@code ferry ctl}): each request
 * gets a fresh random id, and an unreachable board is an {@link IllegalStateException} that says so.
 */
public final class BoardQueries implements AutoCloseable {
    private static final SecureRandom IDS = new SecureRandom();
    private final String target;
    private final ManagedChannel channel;
    private final BoardGrpc.BoardBlockingStub stub;

    /** {@code boards}: the board's "host:port", or its replicas' comma-separated (the first that answers is asked). */
    public BoardQueries(String boards) {
        this(boards, null);
    }

    /** The same, with {@code tls} mutual TLS (an operator's certificate; null: plaintext). */
    public BoardQueries(String boards, Tls tls) {
        this.target = boards;
        this.channel = GrpcBoardClient.channel(boards, tls).build();
        this.stub = BoardGrpc.newBlockingStub(channel);
    }

    public BoardResponse call(LongFunction<BoardRequest> request) {
        // Ids with the top bit set never collide with an agent's (host id in the top 16 bits, 1..65535).
        long id = IDS.nextLong() | Long.MIN_VALUE;
        try {
            return Convert.response(stub.withDeadlineAfter(5, TimeUnit.SECONDS).call(Convert.request(request.apply(id))));
        } catch (StatusRuntimeException e) {
            throw new IllegalStateException("board at " + target + ": " + e.getStatus().getCode()
                    + (e.getStatus().getDescription() == null ? "" : " (" + e.getStatus().getDescription() + ")")
                    + (e.getStatus().getCause() == null ? "" : ": " + e.getStatus().getCause().getMessage()));
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
