package dev.ferry.agent.runtime;

import dev.ferry.board.Endpoints;
import dev.ferry.agent.Agent;
import dev.ferry.agent.port.Libc;
import io.netty.channel.unix.Socket;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The underlay on a native socket (Netty's {@link Socket}: created, bound and sent on through JNI
 * without a channel or an event loop), receiving with {@code recvmmsg} and UDP GRO through
 * {@link UdpReceiveBatch}: one system call takes up to {@link UdpReceiveBatch#SLOTS} slots, each a
 * datagram or a run of one sender's datagrams the kernel joined, cut apart again here. Sending goes
 * straight to the socket: datagrams of one size to one peer are gathered during the turn and sent
 * with UDP segmentation offload ({@link UdpGsoBatch}) when the loop {@link #flush}es. Agent loop's
 * thread only; nothing is allocated per datagram on an IPv4 underlay.
 */
final class EpollUnderlaySocket implements UnderlaySocket {
    private static final Logger log = LoggerFactory.getLogger(EpollUnderlaySocket.class);
    /**
     * The largest underlay datagram taken whole: a 9,000-byte jumbo frame plus the Geneve headers
     * fit. A longer one arrives cut at this size and is dropped and counted.
     */
    static final int MAX_DATAGRAM = 16_384;
    private long lastTooLongWarning = Long.MIN_VALUE / 2;
    private long lastErrorWarning = Long.MIN_VALUE / 2;

    private final Socket socket;
    private final InetSocketAddress local;
    private final byte[] rx = new byte[MAX_DATAGRAM];
    private final UdpGsoBatch batch;
    private final UdpReceiveBatch receiving;
    private long receiveErrors, joinedReceives;

    EpollUnderlaySocket(InetSocketAddress bind) throws IOException {
        socket = Socket.newSocketDgram();
        try {
            socket.setReceiveBufferSize(4 << 20);
            socket.setSendBufferSize(4 << 20);
            socket.bind(bind);
        } catch (IOException e) {
            socket.close();
            throw new IOException("cannot bind the underlay to " + Endpoints.format(bind) + ": " + e.getMessage(), e);
        }
        // Netty's sockets are made non-blocking (SOCK_NONBLOCK): a full send buffer refuses, never waits.
        local = socket.localAddress();
        batch = new UdpGsoBatch(socket.intValue(), this::sendNow);
        receiving = new UdpReceiveBatch(socket.intValue());
        if (!receiving.gro()) log.info("UDP GRO refused by the kernel: the underlay receives datagram by datagram");
    }

    @Override
    public int readableFd() {
        return socket.intValue();
    }

    @Override
    public String transport() {
        return "epoll";
    }

    @Override
    public InetSocketAddress localAddress() {
        return local;
    }

    @Override
    public int receive(Agent agent, HostDirectory hosts, long now) {
        int slots = receiving.read();
        if (slots < 0) {
            receiveErrors++;
            if (now - lastErrorWarning >= 1_000_000_000L) {
                log.warn("underlay receive failed: {} ({} so far)", Libc.strerror(-slots), receiveErrors);
                lastErrorWarning = now;
            }
            return 0;
        }
        int received = 0;
        for (int i = 0; i < slots; i++) {
            int length = receiving.length(i);
            int size = receiving.segmentSize(i);
            if (receiving.truncated(i) || size >= MAX_DATAGRAM) {
                tooLong(receiving, i, Math.max(size, length), now);
                continue;
            }
            int host = receiving.fromIpv4(i) ? hosts.hostAtIpv4(receiving.ipv4(i), receiving.port(i)) : hosts.hostAt(receiving.source(i));
            if (size < length) joinedReceives++;
            // A joined slot holds datagrams of `size` bytes back to back, the last one possibly shorter;
            // an empty datagram is handed over too, for the agent to count as malformed.
            int at = 0;
            do {
                int n = Math.min(size, length - at);
                receiving.copy(i, at, rx, n);
                received++;
                agent.onUnderlay(host, rx, 0, n, now);
                at += n;
            } while (at < length);
        }
        return received;
    }

    /** Anyone can send these: said at most once a second, with how many since. */
    private void tooLong(UdpReceiveBatch r, int slot, int length, long now) {
        receiveErrors++;
        if (now - lastTooLongWarning >= 1_000_000_000L) {
            log.warn("underlay datagram from port {} of {} bytes or more dropped: longer than {} bytes ({} so far)",
                    r.port(slot), length, MAX_DATAGRAM - 1, receiveErrors);
            lastTooLongWarning = now;
        }
    }

    /** Receives in which the kernel had joined several datagrams (UDP GRO). */
    @Override
    public long joinedReceives() {
        return joinedReceives;
    }

    @Override
    public boolean send(ByteBuffer datagram, InetSocketAddress to) throws IOException {
        if (!batch.enabled()) return sendTo(datagram, to);
        batch.add(datagram, to);
        return true;
    }

    private boolean sendTo(ByteBuffer datagram, InetSocketAddress to) throws IOException {
        return socket.sendTo(datagram, datagram.position(), datagram.limit(), to.getAddress(), to.getPort()) > 0;
    }

    /** One datagram of a batch the kernel would not segment: a failure is counted by the batch, as a refusal. */
    private boolean sendNow(ByteBuffer datagram, InetSocketAddress to) {
        try {
            return sendTo(datagram, to);
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void flush() {
        batch.flush();
    }

    @Override
    public long sendFailures() {
        return batch.failures();
    }

    @Override
    public long segmentedSends() {
        return batch.batchesSent();
    }

    @Override
    public long receiveErrors() {
        return receiveErrors;
    }

    @Override
    public void close() {
        batch.flush();
        batch.close();
        try {
            socket.close();
        } catch (IOException e) {
            log.debug("closing the underlay socket: {}", e.toString());
        }
        receiving.close();
    }
}
