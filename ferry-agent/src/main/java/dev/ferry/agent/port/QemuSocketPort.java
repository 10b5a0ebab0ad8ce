package dev.ferry.agent.port;

import dev.ferry.agent.Agent;
import dev.ferry.agent.LocalPort;
import dev.ferry.board.Endpoints;
import dev.ferry.agent.PortPolicy;
import dev.ferry.board.VmKey;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A VM's NIC as QEMU's {@code -netdev dgram} sees it: a UDP socket, one Ethernet frame per datagram,
 * no header. The VM is started with
 * {@code -netdev dgram,id=n0,local.type=inet,local.host=H,local.port=QEMU_PORT,remote.type=inet,remote.host=H,remote.port=FERRY_PORT}:
 * this port binds {@code local} (QEMU's remote) and sends to {@code remote} (QEMU's local). Datagrams
 * from any other address are dropped and counted. The socket is a native one ({@link PeerDatagrams}),
 * so the agent's loop sleeps on it. Used by the agent's thread only.
 */
public final class QemuSocketPort implements PolledPort {
    private static final Logger log = LoggerFactory.getLogger(QemuSocketPort.class);
    private static final int MAX_FRAMES_PER_POLL = 64;

    private final VmKey key;
    private final String vmId;
    private final List<Integer> ips;
    private final PortPolicy policy;
    private final InetSocketAddress remote;
    private final PeerDatagrams socket;
    private final byte[] rx = new byte[65_536];
    private long framesIn, framesOut, strangers, tooLong, sendFailures, receiveErrors;
    private long lastErrorWarning = Long.MIN_VALUE / 2;
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
        this.socket = new PeerDatagrams(local, remote, rx.length, 1 << 20);
    }

    @Override public VmKey key() { return key; }
    @Override public String vmId() { return vmId; }
    @Override public List<Integer> ips() { return ips; }
    @Override public PortPolicy policy() { return policy; }

    public InetSocketAddress localAddress() {
        return socket.localAddress();
    }

    @Override
    public int readableFd() {
        return socket.fd();
    }

    @Override
    public boolean deliver(byte[] buf, int offset, int length) {
        if (!socket.send(buf, offset, length)) {
            sendFailures++;
            return false;
        }
        framesOut++;
        return true;
    }

    @Override
    public int poll(Agent agent, LocalPort handle, long now) {
        int n = 0;
        for (; n < MAX_FRAMES_PER_POLL; n++) {
            int length = socket.receive(rx);
            if (length == PeerDatagrams.NONE) {
                if (socket.lastErrno() != 0) receiveFailed(now);
                break;
            }
            if (length == PeerDatagrams.STRANGER) {
                strangers++;
                continue;
            }
            if (length == PeerDatagrams.TOO_LONG) {
                tooLong++;
                continue;
            }
            framesIn++;
            agent.onPortFrame(handle, rx, 0, length, now);
        }
        return n;
    }

    /** A receive that failed for another reason than nothing waiting: counted, and warned of once a second at most. */
    private void receiveFailed(long now) {
        receiveErrors++;
        if (now - lastErrorWarning >= 1_000_000_000L) {
            lastErrorWarning = now;
            log.warn("port {}: receive failed: {} ({} so far)", vmId, Libc.strerror(socket.lastErrno()), receiveErrors);
        }
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
        return "local " + Endpoints.format(localAddress()) + ", QEMU at " + Endpoints.format(remote);
    }

    @Override public long framesIn() { return framesIn; }
    @Override public long framesOut() { return framesOut; }
    /** Datagrams from an address other than the VM's: dropped. */
    public long strangers() { return strangers; }
    /** Datagrams from the VM's QEMU, dropped, and those longer than any frame: dropped. */
    @Override public long inDropped() { return strangers + tooLong; }
    /** Receives from QEMU's socket that failed (not for want of a datagram): warned of, at most once a second. */
    public long receiveErrors() { return receiveErrors; }
    /** Frames for the VM the kernel refused (full socket buffer) or that failed. */
    @Override public long outDropped() { return sendFailures; }

    @Override
    public void close() {
        returnQemuSocket();
        socket.close();
    }
}
