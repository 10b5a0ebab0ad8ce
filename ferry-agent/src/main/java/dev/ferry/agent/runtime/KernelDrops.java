package dev.ferry.agent.runtime;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Locale;

/**
 * Datagrams the kernel dropped at one of Ferry's own UDP sockets (its receive queue was full, or
 * memory was short): the {@code drops} column Linux keeps per socket in {@code /proc/net/udp} and
 * {@code /proc/net/udp6}. Read by local port, so it needs no option set on the socket beforehand
 * and counts from the socket's creation. Frames lost there never reached Ferry's counters.
 */
public final class KernelDrops {
    private static final List<Path> TABLES = List.of(Path.of("/proc/net/udp"), Path.of("/proc/net/udp6"));

    private KernelDrops() {}

    /** Drops of every UDP socket bound to {@code local}'s port; 0 where the tables cannot be read. */
    public static long of(InetSocketAddress local) {
        return of(List.of(local));
    }

    /** Drops of every UDP socket bound to one of these ports, the tables read once. */
    public static long of(Collection<InetSocketAddress> locals) {
        Set<String> ports = new HashSet<>();
        for (InetSocketAddress a : locals) ports.add(String.format(Locale.ROOT, ":%04X", a.getPort()));
        long drops = 0;
        for (Path table : TABLES) {
            List<String> lines;
            try {
                lines = Files.readAllLines(table);
            } catch (IOException | SecurityException e) {
                continue;
            }
            for (int i = 1; i < lines.size(); i++) {
                String[] f = lines.get(i).trim().split("\\s+");
                if (f.length > 12 && f[1].length() > 5 && ports.contains(f[1].substring(f[1].length() - 5))) {
                    try {
                        drops += Long.parseLong(f[f.length - 1]);
                    } catch (NumberFormatException ignored) {
                        // A kernel with another layout: nothing to add.
                    }
                }
            }
        }
        return drops;
    }
}
