package dev.ferry.lab.udp;

import dev.ferry.board.BoardClient;
import dev.ferry.agent.runtime.AgentLoop;
import dev.ferry.board.Board;
import dev.ferry.board.BoardEvent;
import dev.ferry.board.InMemoryStore;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A board in the same process as its agents: requests run on the board's own thread, answers and
 * pushes are posted to each agent's loop. The gRPC board replaces it between processes.
 */
public final class LocalBoard implements BoardConnector {
    private final Map<Integer, AgentLoop> loops = new ConcurrentHashMap<>();
    private final Board board = new Board(new InMemoryStore(), this::push);
    private final ScheduledExecutorService thread = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "board");
        t.setDaemon(true);
        return t;
    });

    public LocalBoard() {
        thread.scheduleAtFixedRate(() -> board.tick(nowMillis()), 100, 100, TimeUnit.MILLISECONDS);
    }

    @Override
    public BoardClient connect(int hostId, AgentLoop loop) {
        loops.put(hostId, loop);
        return request -> thread.execute(() -> {
            var response = board.handle(request, nowMillis());
            loop.post((agent, now) -> agent.onBoardResponse(response, now));
        });
    }

    private void push(int hostId, BoardEvent event) {
        AgentLoop loop = loops.get(hostId);
        if (loop != null) loop.post((agent, now) -> agent.onBoardEvent(event, now));
    }

    public Board board() {
        return board;
    }

    private static long nowMillis() {
        return System.nanoTime() / 1_000_000;
    }

    @Override
    public void close() {
        thread.shutdownNow();
    }
}
