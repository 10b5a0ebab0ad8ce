package dev.ferry.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.BoardEvent;
import dev.ferry.board.BoardRequest;
import dev.ferry.board.BoardResponse;
import dev.ferry.board.InMemoryStore;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** An agent's client given every board replica's address: it keeps to one and goes on to the next. */
class BoardReplicasTest {

    @Test
    void aClientGivenTwoReplicasIsAnsweredByTheSecondOnceTheFirstStops() throws Exception {
        BoardServer first = new BoardServer(new InetSocketAddress("127.0.0.1", 0), new InMemoryStore());
        BoardServer second = new BoardServer(new InetSocketAddress("127.0.0.1", 0), new InMemoryStore());
        LinkedBlockingQueue<BoardResponse> answers = new LinkedBlockingQueue<>();
        CountDownLatch reconnected = new CountDownLatch(1);
        try (GrpcBoardClient client = new GrpcBoardClient("127.0.0.1:" + first.port() + ", 127.0.0.1:" + second.port(), 1,
                answers::add, (BoardEvent e) -> {}, reconnected::countDown)) {
            client.send(new BoardRequest.RegisterHost(1, 1, "127.0.0.1:6081", Set.of(5001), 3_000));
            assertThat(answers.poll(5, TimeUnit.SECONDS)).isInstanceOf(BoardResponse.Ok.class);
            assertThat(first.board().hosts()).as("the first replica answered").hasSize(1);

            first.close();
            assertThat(reconnected.await(10, TimeUnit.SECONDS)).as("the client's events stream reopened on the second").isTrue();
            client.send(new BoardRequest.RegisterHost(2, 1, "127.0.0.1:6081", Set.of(5001), 3_000));

            assertThat(answers.poll(10, TimeUnit.SECONDS)).isInstanceOf(BoardResponse.Ok.class);
            assertThat(second.board().hosts()).as("the second replica answered").hasSize(1);
        } finally {
            first.close();
            second.close();
        }
    }
}
