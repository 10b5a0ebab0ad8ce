package dev.ferry.lab;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sends the datagrams a file lists, one per line: {@code FROM_IP FROM_PORT TO_IP TO_PORT HEX}, each
 * from a socket bound to its source (port 0: any). A test's attacker runs it inside a network
 * namespace of its own ({@code ip netns exec NS java ... DatagramSender FILE}); the file may name a
 * source address the namespace holds only to lie with. Bounded by the file; about 2,000 datagrams/s.
 */
public final class DatagramSender {
    private DatagramSender() {}

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length != 1) {
            System.err.println("usage: DatagramSender FILE");
            System.exit(2);
        }
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        Map<InetSocketAddress, DatagramChannel> sockets = new LinkedHashMap<>();
        int sent = 0;
        try {
            for (String line : lines) {
                if (line.isBlank()) continue;
                String[] f = line.trim().split("\\s+");
                InetSocketAddress from = new InetSocketAddress(f[0], Integer.parseInt(f[1]));
                InetSocketAddress to = new InetSocketAddress(f[2], Integer.parseInt(f[3]));
                DatagramChannel c = sockets.get(from);
                if (c == null) {
                    c = DatagramChannel.open();
                    c.setOption(StandardSocketOptions.SO_REUSEADDR, true);
                    c.bind(from);
                    sockets.put(from, c);
                }
                c.send(ByteBuffer.wrap(HexFormat.of().parseHex(f[4])), to);
                sent++;
                if (sent % 20 == 0) Thread.sleep(10);
            }
        } finally {
            for (DatagramChannel c : sockets.values()) c.close();
        }
        System.out.println("sent " + sent);
    }
}
