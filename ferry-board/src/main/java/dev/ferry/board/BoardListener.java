package dev.ferry.board;

import java.util.Collection;

/** Receives the board's pushes; the transport (in-process, simulated, gRPC) behind it delivers them to agents. */
@FunctionalInterface
public interface BoardListener {
    void push(int hostId, BoardEvent event);

    /**
     * An event every agent must see, such as a host's new endpoint. {@code registered} are the hosts
     * the board knows; a transport that also reaches agents not registered yet (an event stream opened
     * before its host's registration landed) must send it to those too, or an agent whose directory
     * listing was answered just before the registration never hears of that host.
     */
    default void pushToAll(Collection<Integer> registered, BoardEvent event) {
        for (int host : registered) push(host, event);
    }
}
