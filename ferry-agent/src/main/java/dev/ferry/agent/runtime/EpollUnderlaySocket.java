package dev.ferry.agent.runtime;

import dev.ferry.board.Endpoints;
import dev.ferry.agent.Agent;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.ManualIoEventLoop;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.unix.Socket;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The underlay on Netty's native epoll transport, receiving with recvmmsg: one system call takes up
 * to {@link #BATCH} datagrams. Netty's event loop here is a {@link ManualIoEventLoop} driven by the
 * agent loop's own thread on each turn, so the agent stays single-threaded: Netty never runs a
 * thread of its own. Sending goes straight to the socket, not through the pipeline, which would
 * allocate a packet object per datagram: datagrams of one size to one peer are gathered during the
 * turn and sent with UDP segmentation offload ({@link UdpGsoBatch}) when the loop {@link #flush}es.
 */
final class EpollUnderlaySocket implements UnderlaySocket {
    private static final Logger log = LoggerFactory.getLogger(EpollUnderlaySocket.class);
    /**
     * The largest underlay datagram taken whole: a 9,000-byte jumbo frame plus the Geneve headers
     * fit. A longer one arrives cut at this size and is dropped and counted.
     */
    static final int MAX_DATAGRAM = 16_384;
    private long lastTooLongWarning = Long.MIN_VALUE / 2;
    static final int BATCH = 32;

    private final ManualIoEventLoop loop;
    private final EpollDatagramChannel channel;
    private final Socket socket;
    private final byte[] rx = new byte[MAX_DATAGRAM];
    private final UdpGsoBatch batch;
    private boolean owned;
    private Agent agent;
    private HostDirectory hosts;
    private long now;
    private int received;
    private long receiveErrors;

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
        batch = new UdpGsoBatch(socket.intValue(), this::sendNow);
        channel = new EpollDatagramChannel(socket.intValue());
        channel.config()
                .setOption(EpollChannelOption.MAX_DATAGRAM_PAYLOAD_SIZE, MAX_DATAGRAM);
        channel.config().setRecvByteBufAllocator(new FixedRecvByteBufAllocator(MAX_DATAGRAM * BATCH));
        channel.pipeline().addLast(new Inbound());
        // The owner is whichever thread first drives the loop: the agent loop's, once it starts.
        loop = new ManualIoEventLoop(null, null, EpollIoHandler.newFactory());
        loop.register(channel);
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
        return channel.localAddress();
    }

    @Override
    public int receive(Agent agent, HostDirectory hosts, long now) {
        own();
        this.agent = agent;
        this.hosts = hosts;
        this.now = now;
        received = 0;
        loop.runNow();
        return received;
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
        own();
        batch.flush();
        batch.close();
        channel.close();
        loop.shutdownGracefully(0, 0, TimeUnit.SECONDS);
        while (!loop.isTerminated()) loop.runNow();
    }

    private void own() {
        if (!owned) {
            loop.setOwningThread(Thread.currentThread());
            owned = true;
        }
    }

    /** Runs inside {@link #receive}, on the agent loop's thread: hands each datagram over, then frees it. */
    private final class Inbound extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            DatagramPacket packet = (DatagramPacket) msg;
            try {
                ByteBuf content = packet.content();
                int length = content.readableBytes();
                if (length >= MAX_DATAGRAM) {
                    receiveErrors++;
                    // Anyone can send these: said at most once a second, with how many since.
                    if (now - lastTooLongWarning >= 1_000_000_000L) {
                        log.warn("underlay datagram from {} of {} bytes or more dropped: longer than {} bytes ({} so far)",
                                packet.sender(), length, MAX_DATAGRAM - 1, receiveErrors);
                        lastTooLongWarning = now;
                    }
                    return;
                }
                content.getBytes(content.readerIndex(), rx, 0, length);
                received++;
                agent.onUnderlay(hosts.hostAt(packet.sender()), rx, 0, length, now);
            } finally {
                packet.release();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            receiveErrors++;
            log.warn("underlay receive failed: {}", cause.toString());
        }
    }
}
