package dev.ferry.service;

import dev.ferry.board.Endpoints;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * Addresses as operators write them (MAC, IPv4, host:port, numbers), parsed or refused with a
 * {@link ConfigException} that names the field, and formatted back the same way.
 */
public final class Addresses {
    private Addresses() {}

    public static long mac(String text, String field) {
        String[] parts = text.split(":");
        if (parts.length != 6) throw new ConfigException(field + ": '" + text + "' is not a MAC address like 52:54:00:12:34:56");
        long value = 0;
        for (String p : parts) {
            if (!p.matches("[0-9A-Fa-f]{2}")) {
                throw new ConfigException(field + ": '" + text + "' is not a MAC address like 52:54:00:12:34:56");
            }
            value = value << 8 | Integer.parseInt(p, 16);
        }
        if ((value & (1L << 40)) != 0) throw new ConfigException(field + ": '" + text + "' is a multicast address, not a NIC's");
        return value;
    }

    public static int ipv4(String text, String field) {
        if (text == null || !text.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
            throw new ConfigException(field + ": '" + text + "' is not an IPv4 address");
        }
        try {
            InetAddress a = InetAddress.getByName(text);
            if (!(a instanceof Inet4Address)) throw new ConfigException(field + ": '" + text + "' is not an IPv4 address");
            byte[] b = a.getAddress();
            return (b[0] & 0xFF) << 24 | (b[1] & 0xFF) << 16 | (b[2] & 0xFF) << 8 | (b[3] & 0xFF);
        } catch (UnknownHostException e) {
            throw new ConfigException(field + ": '" + text + "' is not an IPv4 address");
        }
    }

    public static InetSocketAddress socket(String text, String field) {
        if (text == null) throw new ConfigException(field + ": missing (host:port)");
        try {
            return Endpoints.parse(text);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(field + ": " + e.getMessage());
        }
    }

    public static int integer(String text, String field) {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new ConfigException(field + ": '" + text + "' is not a number");
        }
    }

    public static String formatMac(long mac) {
        StringBuilder b = new StringBuilder(17);
        for (int shift = 40; shift >= 0; shift -= 8) {
            if (b.length() > 0) b.append(':');
            b.append(String.format("%02x", (mac >>> shift) & 0xFF));
        }
        return b.toString();
    }

    public static String formatIp(int ip) {
        return (ip >>> 24) + "." + (ip >>> 16 & 0xFF) + "." + (ip >>> 8 & 0xFF) + "." + (ip & 0xFF);
    }
}
