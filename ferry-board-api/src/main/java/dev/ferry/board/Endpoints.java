package dev.ferry.board;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;

/** "host:port" as agents register their underlay endpoint and operators write addresses ("[::1]:6081" for IPv6). */
public final class Endpoints {
    private Endpoints() {}

    /** The address, resolved; IllegalArgumentException saying what is wrong with {@code text}. */
    public static InetSocketAddress parse(String text) {
        if (text == null || text.isBlank()) throw new IllegalArgumentException("empty address, expected host:port");
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException("'" + text + "' is not host:port");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("/")) host = host.substring(1);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' has no numeric port");
        }
        if (port < 0 || port > 65_535) throw new IllegalArgumentException("'" + text + "' has port out of 0..65535");
        InetSocketAddress address = new InetSocketAddress(host.isEmpty() ? "0.0.0.0" : host, port);
        if (address.isUnresolved()) throw new IllegalArgumentException("'" + host + "' does not resolve");
        return address;
    }

    /** Whether {@code text} ("host:port") names its host by a name to resolve, not an IP address. */
    public static boolean namesAHost(String text) {
        if (text == null) return false;
        int colon = text.lastIndexOf(':');
        String host = colon < 0 ? text : text.substring(0, colon);
        if (host.startsWith("/")) host = host.substring(1);
        if (host.isEmpty() || host.startsWith("[") || host.contains(":")) return false;
        return !host.matches("\\d{1,3}(\\.\\d{1,3}){3}");
    }

    /** "host:port,host:port", each {@link #parse}d (board replicas, etcd members); an empty entry is refused. */
    public static List<InetSocketAddress> parseList(String text) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (String one : (text == null ? "" : text).split(",", -1)) out.add(parse(one.strip()));
        return out;
    }

    /** The form {@link #parse} reads back. */
    public static String format(InetSocketAddress address) {
        String host = address.getAddress().getHostAddress();
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + address.getPort();
    }
}
