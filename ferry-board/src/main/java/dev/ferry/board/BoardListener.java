package dev.ferry.board;

/** Receives the board's pushes; the transport (in-process, simulated, gRPC) behind it delivers them to agents. */
@FunctionalInterface
public interface BoardListener {
    void push(int hostId, BoardEvent event);
}
