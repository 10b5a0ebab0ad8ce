package dev.ferry.agent;

import dev.ferry.board.BoardClient;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import java.util.function.Consumer;
import java.util.function.LongFunction;
import org.agrona.collections.Long2ObjectHashMap;

/**
 * The agent's outstanding board requests: each is resent with the same request id until an answer
 * comes, and its answer is handed to its callback once, however many copies arrive. Bounded: a call
 * unanswered for a second is resent once a second only, and past {@link #MAX_OUTSTANDING} a new
 * call is refused and counted ({@code board_calls_refused}) — a board away for hours costs no more.
 */
final class BoardCalls {
    static final int MAX_OUTSTANDING = 4_096;
    private static final long ID_BITS = (1L << 48) - 1;
    private static final long SLOW_AFTER_NANOS = 1_000_000_000L, SLOW_RETRY_NANOS = 1_000_000_000L;

    private static final class Call {
        final BoardRequest request;
        final Consumer<BoardResponse> onAnswer;
        final long firstSentAt;
        long sentAt;

        Call(BoardRequest request, Consumer<BoardResponse> onAnswer, long sentAt) {
            this.request = request;
            this.onAnswer = onAnswer;
            this.firstSentAt = sentAt;
            this.sentAt = sentAt;
        }
    }

    private final BoardClient client;
    private final Counters counters;
    private final long hostBits;
    private final long retryNanos;
    private final Long2ObjectHashMap<Call> outstanding = new Long2ObjectHashMap<>();
    private long nextId;

    BoardCalls(BoardClient client, Counters counters, int hostId, long incarnation, long retryNanos) {
        this.client = client;
        this.counters = counters;
        // The board keeps answers by request id and hands a repeated id the earlier answer, so ids
        // must not repeat across restarts of one host: host in the top 16 bits (the board checks it
        // against the caller's certificate), then 48 bits counting up from the process's random
        // incarnation, which also makes them unguessable to anyone else.
        this.hostBits = (long) hostId << 48;
        this.nextId = incarnation;
        this.retryNanos = retryNanos;
    }

    /** Sends a request, resent until answered; false (and counted) when too many are outstanding already. */
    boolean call(LongFunction<BoardRequest> make, Consumer<BoardResponse> onAnswer, long now) {
        if (outstanding.size() >= MAX_OUTSTANDING) {
            counters.inc(Counter.BOARD_CALLS_REFUSED);
            return false;
        }
        BoardRequest request = make.apply(hostBits | (++nextId & ID_BITS));
        outstanding.put(request.requestId(), new Call(request, onAnswer, now));
        client.send(request);
        return true;
    }

    void onResponse(BoardResponse response) {
        Call call = outstanding.remove(response.requestId());
        if (call != null) {
            call.onAnswer.accept(response);
        }
    }

    void tick(long now) {
        for (Call c : outstanding.values()) {
            long interval = now - c.firstSentAt < SLOW_AFTER_NANOS ? retryNanos : SLOW_RETRY_NANOS;
            if (now - c.sentAt >= interval) {
                c.sentAt = now;
                client.send(c.request);
            }
        }
    }

    int outstanding() {
        return outstanding.size();
    }
}
