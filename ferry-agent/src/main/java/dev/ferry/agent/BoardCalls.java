package dev.ferry.agent;

import dev.ferry.board.BoardClient;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import java.util.function.Consumer;
import java.util.function.LongFunction;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * The agent's outstanding board requests: each is resent with the same request id until an answer
 * comes, and its answer is handed to its callback once, however many copies arrive.
 */
final class BoardCalls {
    private static final class Call {
        final BoardRequest request;
        final Consumer<BoardResponse> onAnswer;
        long sentAt;

        Call(BoardRequest request, Consumer<BoardResponse> onAnswer, long sentAt) {
            this.request = request;
            this.onAnswer = onAnswer;
            this.sentAt = sentAt;
        }
    }

    private final BoardClient client;
    private final long idBase;
    private final long retryNanos;
    private final Long2ObjectHashMap<Call> outstanding = new Long2ObjectHashMap<>();
    private long nextId;

    BoardCalls(BoardClient client, int hostId, long incarnation, long retryNanos) {
        this.client = client;
        // Ids unique across hosts and restarts of one host: host in the top 16 bits, incarnation next.
        this.idBase = ((long) hostId << 48) | ((incarnation & 0xFFFF) << 32);
        this.retryNanos = retryNanos;
    }

    void call(LongFunction<BoardRequest> make, Consumer<BoardResponse> onAnswer, long now) {
        BoardRequest request = make.apply(idBase | (++nextId & 0xFFFF_FFFFL));
        outstanding.put(request.requestId(), new Call(request, onAnswer, now));
        client.send(request);
    }

    void onResponse(BoardResponse response) {
        Call call = outstanding.remove(response.requestId());
        if (call != null) {
            call.onAnswer.accept(response);
        }
    }

    void tick(long now) {
        for (Call c : outstanding.values()) {
            if (now - c.sentAt >= retryNanos) {
                c.sentAt = now;
                client.send(c.request);
            }
        }
    }

    int outstanding() {
        return outstanding.size();
    }
}
