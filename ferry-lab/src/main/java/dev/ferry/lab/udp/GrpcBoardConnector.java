package dev.ferry.lab.udp;

import dev.ferry.board.BoardClient;
import dev.ferry.agent.runtime.AgentLoop;
import dev.ferry.rpc.GrpcBoardClient;
import java.util.ArrayList;
import java.util.List;

/** Agents that reach a board process over gRPC at {@code target} ("host:port"). */
public final class GrpcBoardConnector implements BoardConnector {
    private final String target;
    private final List<GrpcBoardClient> clients = new ArrayList<>();

    public GrpcBoardConnector(String target) {
        this.target = target;
    }

    @Override
    public synchronized BoardClient connect(int hostId, AgentLoop loop) {
        GrpcBoardClient client = new GrpcBoardClient(target, hostId,
                response -> loop.post((agent, now) -> agent.onBoardResponse(response, now)),
                event -> loop.post((agent, now) -> agent.onBoardEvent(event, now)),
                () -> loop.post((agent, now) -> agent.resynchronise(now)));
        clients.add(client);
        return client;
    }

    @Override
    public synchronized void close() {
        clients.forEach(GrpcBoardClient::close);
    }
}
