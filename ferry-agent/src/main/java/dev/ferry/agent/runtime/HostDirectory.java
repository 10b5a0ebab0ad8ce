package dev.ferry.agent.runtime;

import dev.ferry.agent.Underlay;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.agrona.collections.Long2LongHashMap;

/**
 * Where each host's agent listens, both ways: by host id for sending, by endpoint for telling who
 * sent a datagram. A datagram's sender is the host that registered its source endpoint at the board;
 * the seal then checks it is that host (design §7b). A Geneve endpoint that is not an agent (a Linux
 * {@code geneve} device, a switch) sends from a source port of its choosing (RFC 8926 §3.3 spreads
 * flows by it), so a source no host registered exactly is matched by its address alone: to the static
 * VTEP registered at that address, or else to the one host registered there, if only one is. Filled from the board's host table (or a static list) by other
 * threads; read by the agent loop's, without allocating.
 */
public final class HostDirectory {
    private final Map<Integer, InetSocketAddress> byHost = new ConcurrentHashMap<>();
    private final Map<InetSocketAddress, Integer> byEndpoint = new ConcurrentHashMap<>();
    /** Hosts by address alone; {@link #SHARED} where more than one host registered that address. */
    private final Map<InetAddress, Integer> byAddress = new ConcurrentHashMap<>();
    /** Static VTEPs by address alone, as above. */
    private final Map<InetAddress, Integer> vtepsByAddress = new ConcurrentHashMap<>();
    private final java.util.Set<Integer> staticVteps = ConcurrentHashMap.newKeySet();
    private static final int SHARED = -1;
    /**
     * The same answers for IPv4 sources, by numbers, for the receive path that reads them without
     * allocating: by (address, port), then by address alone. Rebuilt whole on every change (hosts
     * change rarely) and published by the volatile write; the loop only reads them.
     */
    private volatile Long2LongHashMap v4Endpoints = new Long2LongHashMap(Underlay.UNKNOWN_HOST);
    private volatile Long2LongHashMap v4Addresses = new Long2LongHashMap(Underlay.UNKNOWN_HOST);

    /** Host {@code hostId} (an agent) is at {@code endpoint}; returns where it was before, or null. */
    public InetSocketAddress put(int hostId, InetSocketAddress endpoint) {
        return put(hostId, endpoint, false);
    }

    /** Host {@code hostId}, an agent or a static VTEP, is at {@code endpoint}; returns where it was before, or null. */
    public synchronized InetSocketAddress put(int hostId, InetSocketAddress endpoint, boolean staticVtep) {
        InetSocketAddress before = byHost.put(hostId, endpoint);
        if (before != null && !before.equals(endpoint)) byEndpoint.remove(before, hostId);
        byEndpoint.put(endpoint, hostId);
        if (staticVtep) staticVteps.add(hostId); else staticVteps.remove(hostId);
        byAddress.clear();
        vtepsByAddress.clear();
        for (Map.Entry<Integer, InetSocketAddress> e : byHost.entrySet()) {
            byAddress.merge(e.getValue().getAddress(), e.getKey(), (a, b) -> a.equals(b) ? a : SHARED);
            if (staticVteps.contains(e.getKey())) {
                vtepsByAddress.merge(e.getValue().getAddress(), e.getKey(), (a, b) -> a.equals(b) ? a : SHARED);
            }
        }
        Long2LongHashMap endpoints = new Long2LongHashMap(Underlay.UNKNOWN_HOST);
        Long2LongHashMap addresses = new Long2LongHashMap(Underlay.UNKNOWN_HOST);
        for (Map.Entry<InetSocketAddress, Integer> e : byEndpoint.entrySet()) {
            if (e.getKey().getAddress() instanceof java.net.Inet4Address a) {
                endpoints.put(v4Key(ipv4(a), e.getKey().getPort()), e.getValue());
                int host = hostAt(new InetSocketAddress(a, 0));
                if (host != Underlay.UNKNOWN_HOST) addresses.put(ipv4(a) & 0xFFFF_FFFFL, host);
            }
        }
        v4Endpoints = endpoints;
        v4Addresses = addresses;
        return before;
    }

    public InetSocketAddress get(int hostId) {
        return byHost.get(hostId);
    }

    /** As {@link #hostAt}, for an IPv4 source given as numbers; allocates nothing. */
    public int hostAtIpv4(int address, int port) {
        long host = v4Endpoints.get(v4Key(address, port));
        if (host == Underlay.UNKNOWN_HOST) host = v4Addresses.get(address & 0xFFFF_FFFFL);
        return (int) host;
    }

    private static long v4Key(int address, int port) {
        return (address & 0xFFFF_FFFFL) << 16 | port;
    }

    private static int ipv4(java.net.Inet4Address a) {
        byte[] b = a.getAddress();
        return (b[0] & 0xFF) << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF);
    }

    /** The host registered at {@code endpoint}, or {@link Underlay#UNKNOWN_HOST}. */
    public int hostAt(InetSocketAddress endpoint) {
        Integer host = byEndpoint.get(endpoint);
        if (host != null) return host;
        host = vtepsByAddress.get(endpoint.getAddress());
        if (host == null) host = byAddress.get(endpoint.getAddress());
        return host == null || host == SHARED ? Underlay.UNKNOWN_HOST : host;
    }
}
