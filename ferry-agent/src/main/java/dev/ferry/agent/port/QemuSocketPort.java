package dev.ferry.agent.port;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.board.Endpoints;
import dev.ferry.agent.PortPolicy;
import dev.ferry.board.VmKey;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A VM's NIC as QEMU's {@code -netdev dgram} sees it: a UDP socket, one Ethernet frame per datagram,
 * no header. The VM is started with
 * {@code -netdev dgram,id=n0,local.type=inet,local.host=H,local.port=QEMU_PORT,remote.type=inet,remote.host=H,remote.port=FERRY_PORT}:
 * this port binds {@code local} (QEMU's remote) and sends to {@code remote} (QEMU's local). Datagrams
 * from any other address are dropped and counted. Used by the agent's thread only.
 */
public final class QemuSocketPort implements PolledPort {
    private static final Logger log = LoggerFactory.getLogger(QemuSocketPort.class);
    private static final int MAX_FRAMES_PER_POLL = 64;

    private final VmKey key;
    private final String vmId;
    private final List<Integer> ips;
    private final PortPolicy policy;
    private final InetSocketAddress remote;
    private final DatagramChannel channel;
    private final ByteBuffer rx = ByteBuffer.allocate(65_536);
    private final ByteBuffer tx = ByteBuffer.allocateDirect(65_536);
    private long framesIn, framesOut, strangers, sendFailures;
    /** QEMU's own socket, borrowed for the length of a migration out; agent's thread only. */
    private PeerSocket qemuSocket;

    public QemuSocketPort(VmKey key, String vmId, List<Integer> ips, PortPolicy policy, InetSocketAddress local,
                          InetSocketAddress remote)
            throws IOException {
        this.key = key;
        this.vmId = vmId;
        this.ips = List.copyOf(ips);
        this.policy = policy;
        this.remote = remote;
        this.channel = DatagramChannel.open();
        channel.setOption(StandardSocketOptions.SO_RCVBUF, 1 << 20);
        channel.bind(local);
        channel.configureBlocking(false);
    }

    @Override public VmKey key() { return key; }
    @Override public String vmId() { return vmId; }
    @Override public List<Integer> ips() { return ips; }
    @Override public PortPolicy policy() { return policy; }

    public InetSocketAddress localAddress() throws IOException {
        return (InetSocketAddress) channel.getLocalAddress();
    }

    @Override
    public boolean deliver(byte[] buf, int offset, int length) {
        tx.clear();
        tx.put(buf, offset, length).flip();
        try {
            if (channel.send(tx, remote) == 0) {
                sendFailures++;
                return false;
            }
            framesOut++;
            return true;
        } catch (IOException e) {
            sendFailures++;
            log.debug("port {}: send to {} failed: {}", vmId, remote, e.toString());
            return false;
        }
    }

    @Override
    public int poll(Agent agent, LocalPort handle, long now) {
        int n = 0;
        for (; n < MAX_FRAMES_PER_POLL; n++) {
            rx.clear();
            InetSocketAddress from;
            try {
                from = (InetSocketAddress) channel.receive(rx);
            } catch (IOException e) {
                log.debug("port {}: receive failed: {}", vmId, e.toString());
                break;
            }
            if (from == null) break;
            if (!from.equals(remote)) {
                strangers++;
                continue;
            }
            framesIn++;
            agent.onPortFrame(handle, rx.array(), 0, rx.position(), now);
        }
        return n;
    }

    /** QEMU's end of this port, for a migration out ({@link PeerSocket#borrow}); agent's thread only. */
    public void lend(PeerSocket socket) {
        returnQemuSocket();
        qemuSocket = socket;
    }

    /** Gives QEMU's socket back (closes the duplicate); agent's thread only. */
    public void returnQemuSocket() {
        if (qemuSocket != null) qemuSocket.close();
        qemuSocket = null;
    }

    @Override
    public void takeBackUnread(java.util.function.Consumer<byte[]> frames) {
        if (qemuSocket == null) return;
        qemuSocket.takeBack(frames);
        returnQemuSocket();
    }

    @Override public String kind() { return "qemu-socket"; }

    @Override
    public String describe() {
        try {
            return "local " + Endpoints.format(localAddress()) + ", QEMU at " + Endpoints.format(remote);
        } catch (IOException e) {
            return "closed, QEMU at " + Endpoints.format(remote);
        }
    }

    @Override public long framesIn() { return framesIn; }
    @Override public long framesOut() { return framesOut; }
    /** Datagrams from an address other than the VM's: dropped. */
    public long strangers() { return strangers; }
    @Override public long inDropped() { return strangers; }
    /** Frames for the VM the kernel refused (full socket buffer) or that failed. */
    @Override public long outDropped() { return sendFailures; }

    @Override
    public void close() {
        returnQemuSocket();
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("port {}: close failed: {}", vmId, e.toString());
        }
    }
}
