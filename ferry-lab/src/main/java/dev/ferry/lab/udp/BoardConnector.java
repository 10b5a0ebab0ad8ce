package dev.ferry.lab.udp;

import dev.ferry.board.BoardClient;
import dev.ferry.agent.runtime.AgentLoop;

/** How the agents of a {@link UdpCluster} reach their board: in the same process, or over gRPC. */
public interface BoardConnector extends AutoCloseable {
    /** The board client of agent {@code hostId}; answers and pushes are posted to its {@code loop}. */
    BoardClient connect(int hostId, AgentLoop loop);

    @Override
    void close();
}
