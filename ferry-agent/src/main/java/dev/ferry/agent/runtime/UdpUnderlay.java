package dev.ferry.agent.runtime;

import dev.ferry.board.Endpoints;
import dev.ferry.agent.Underlay;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The underlay over a UDP {@link UnderlaySocket}: Geneve datagrams to other agents, addressed by host id through a
 * directory of endpoints. Used from the agent's thread only; the send buffer is reused.
 */
public final class UdpUnderlay implements Underlay {
    private static final Logger log = LoggerFactory.getLogger(UdpUnderlay.class);
    private final UnderlaySocket socket;
    private final HostDirectory directory;
    private final ByteBuffer tx = ByteBuffer.allocateDirect(65_536);
    private long sendFailures;
    private long unknownHosts;

    public UdpUnderlay(UnderlaySocket socket, HostDirectory directory) {
        this.socket = socket;
        this.directory = directory;
    }

    /** Where the hosts are, as this underlay learned. */
    public HostDirectory directory() {
        return directory;
    }

    @Override
    public void send(int toHost, byte[] buf, int offset, int length) {
        InetSocketAddress to = directory.get(toHost);
        if (to == null) {
            unknownHosts++;
            return;
        }
        tx.clear();
        tx.put(buf, offset, length).flip();
        try {
            if (!socket.send(tx, to)) sendFailures++;
        } catch (IOException e) {
            sendFailures++;
            log.debug("send to host {} at {} failed: {}", toHost, to, e.toString());
        }
    }

    /**
     * Called on the agent's loop. An endpoint that names a host by name is resolved on a thread of
     * its own: DNS may take seconds, and the loop serves every VM of this host meanwhile.
     */
    @Override
    public void learnHost(int hostId, String endpoint) {
        learnHost(hostId, endpoint, false);
    }

    @Override
    public void learnHost(dev.ferry.board.HostRecord host) {
        learnHost(host.hostId(), host.endpoint(), host.isStatic());
    }

    private void learnHost(int hostId, String endpoint, boolean staticVtep) {
        if (Endpoints.namesAHost(endpoint)) {
            Thread.ofVirtual().name("resolve-host-" + hostId).start(() -> learn(hostId, endpoint, staticVtep));
        } else {
            learn(hostId, endpoint, staticVtep);
        }
    }

    private void learn(int hostId, String endpoint, boolean staticVtep) {
        try {
            InetSocketAddress address = Endpoints.parse(endpoint);
            if (!address.equals(directory.put(hostId, address, staticVtep))) log.info("host {} is at {}", hostId, address);
        } catch (IllegalArgumentException e) {
            log.warn("host {} registered an endpoint this agent cannot use: {}", hostId, e.getMessage());
        }
    }

    /** Datagrams the kernel refused (full socket buffer) or that failed. */
    public long sendFailures() { return sendFailures + (socket == null ? 0 : socket.sendFailures()); }

    /** Datagrams for a host id with no endpoint in the directory. */
    @Override
    public long unknownHosts() { return unknownHosts; }
}
