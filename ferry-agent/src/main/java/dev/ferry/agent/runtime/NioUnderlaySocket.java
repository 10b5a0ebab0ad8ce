package dev.ferry.agent.runtime;

import dev.ferry.agent.Agent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The underlay on the JDK's non-blocking {@link DatagramChannel}: portable, one datagram per call. */
final class NioUnderlaySocket implements UnderlaySocket {
    private static final Logger log = LoggerFactory.getLogger(NioUnderlaySocket.class);
    private static final int MAX_DATAGRAMS_PER_TURN = 64;

    private final DatagramChannel channel;
    private final ByteBuffer rx = ByteBuffer.allocate(65_536);
    private long receiveErrors;

    NioUnderlaySocket(InetSocketAddress bind) throws IOException {
        channel = DatagramChannel.open();
        try {
            channel.setOption(StandardSocketOptions.SO_RCVBUF, 4 << 20);
            channel.setOption(StandardSocketOptions.SO_SNDBUF, 4 << 20);
            channel.bind(bind);
            channel.configureBlocking(false);
        } catch (IOException e) {
            channel.close();
            throw e;
        }
    }

    @Override
    public int readableFd() {
        return -1;
    }

    @Override
    public String transport() {
        return "nio";
    }

    @Override
    public InetSocketAddress localAddress() {
        try {
            return (InetSocketAddress) channel.getLocalAddress();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public int receive(Agent agent, HostDirectory hosts, long now) {
        int n = 0;
        for (; n < MAX_DATAGRAMS_PER_TURN; n++) {
            rx.clear();
            java.net.SocketAddress from;
            try {
                from = channel.receive(rx);
                if (from == null) break;
            } catch (IOException e) {
                receiveErrors++;
                log.warn("underlay receive failed: {}", e.toString());
                break;
            }
            agent.onUnderlay(hosts.hostAt((InetSocketAddress) from), rx.array(), 0, rx.position(), now);
        }
        return n;
    }

    @Override
    public boolean send(ByteBuffer datagram, InetSocketAddress to) throws IOException {
        return channel.send(datagram, to) > 0;
    }

    @Override
    public long receiveErrors() {
        return receiveErrors;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            log.warn("closing underlay socket: {}", e.toString());
        }
    }
}
