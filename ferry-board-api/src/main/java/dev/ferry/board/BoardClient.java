package dev.ferry.board;


/**
 * The agent's way to the board. Sending is fire-and-forget: answers and pushes come back through
 * the agent's {@code onBoardResponse} and {@code onBoardEvent} on the agent's thread; the agent
 * retries what is not answered, so a transport may lose, delay or duplicate.
 */
@FunctionalInterface
public interface BoardClient {
    void send(BoardRequest request);
}
