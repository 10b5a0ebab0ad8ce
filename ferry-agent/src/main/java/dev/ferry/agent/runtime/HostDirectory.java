package dev.ferry.agent.runtime;

import dev.ferry.agent.Underlay;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

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
        return before;
    }

    public InetSocketAddress get(int hostId) {
        return byHost.get(hostId);
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
