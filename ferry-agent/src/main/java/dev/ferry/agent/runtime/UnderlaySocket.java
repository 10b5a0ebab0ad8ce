package dev.ferry.agent.runtime;

import dev.ferry.agent.Agent;
import io.netty.channel.epoll.Epoll;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;

/**
 * The agent's UDP socket to the other agents. Receiving hands each datagram to the agent; both
 * directions run on the agent loop's thread only, which is why neither needs a lock.
 */
public sealed interface UnderlaySocket extends AutoCloseable permits EpollUnderlaySocket, NioUnderlaySocket {

    /** Which socket implementation carries the underlay. */
    enum Transport {
        /** Netty's native epoll where it loads (Linux), the JDK's NIO otherwise. */
        AUTO,
        /** A native socket: batched receive with recvmmsg and UDP GRO, batched sends with UDP GSO. */
        EPOLL,
        /** The JDK's {@code DatagramChannel}: one datagram per system call. */
        NIO
    }

    /**
     * Binds the underlay socket. {@code AUTO} falls back to NIO when the native transport does not
     * load; asking for {@code EPOLL} where it does not load is refused with the reason.
     */
    static UnderlaySocket open(InetSocketAddress bind, Transport transport) throws IOException {
        return switch (transport) {
            case NIO -> new NioUnderlaySocket(bind);
            case EPOLL -> {
                if (!Epoll.isAvailable()) {
                    throw new IOException("the epoll transport is not available here: " + Epoll.unavailabilityCause());
                }
                yield new EpollUnderlaySocket(bind);
            }
            case AUTO -> Epoll.isAvailable() ? new EpollUnderlaySocket(bind) : new NioUnderlaySocket(bind);
        };
    }

    /** "epoll" or "nio", for status and logs. */
    String transport();

    InetSocketAddress localAddress();

    /**
     * Hands every datagram waiting now (a bounded batch) to {@code agent.onUnderlay}, with the host
     * {@code hosts} has at its source endpoint; returns how many there were.
     */
    int receive(Agent agent, HostDirectory hosts, long now);

    /**
     * Sends the bytes between position and limit of a direct buffer, or gathers them to send at
     * {@link #flush}. Returns false when the kernel did not take it (full socket buffer); throws on
     * any other failure.
     */
    boolean send(ByteBuffer datagram, InetSocketAddress to) throws IOException;

    /** Sends what {@link #send} gathered: the loop calls this at the end of every turn. */
    default void flush() {}

    /** Datagrams gathered by {@link #send} that the kernel then did not take. */
    default long sendFailures() {
        return 0;
    }

    /** Gathered datagrams sent in one system call with UDP segmentation offload, in batches. */
    default long segmentedSends() {
        return 0;
    }

    /** Receives that brought several datagrams the kernel had joined (UDP GRO), cut apart again. */
    default long joinedReceives() {
        return 0;
    }

    /** The socket's descriptor, for the loop to sleep on; -1 when the implementation does not expose it (NIO). */
    int readableFd();

    /** Datagrams that failed to be read (and so were lost); the cause is logged. */
    long receiveErrors();

    /** Closes the socket; on the loop's thread, or before the loop ever ran. */
    @Override
    void close();
}
