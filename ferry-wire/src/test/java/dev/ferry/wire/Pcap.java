package dev.ferry.wire;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a classic pcap file of Ethernet frames, each Geneve packet wrapped in Ethernet, IPv4 and
 * UDP to port 6081 as it would be on the wire, so that Wireshark's own Geneve dissector reads it.
 */
final class Pcap {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int seconds;

    Pcap() {
        ByteBuffer h = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(0xa1b2c3d4).putShort((short) 2).putShort((short) 4).putInt(0).putInt(0).putInt(65_535).putInt(1);
        out.writeBytes(h.array());
    }

    /** Adds one UDP datagram carrying {@code geneve} from 198.18.0.1 to 198.18.0.2. */
    Pcap geneve(byte[] geneve, int length) {
        int udpLen = 8 + length;
        int ipLen = 20 + udpLen;
        byte[] f = new byte[14 + ipLen];
        Ethernet.writeHeader(f, 0, 0x02_00_00_00_00_02L, 0x02_00_00_00_00_01L, Ethernet.TYPE_IPV4);
        int ip = 14;
        f[ip] = 0x45;
        Bytes.put16(f, ip + 2, ipLen);
        f[ip + 8] = 64;
        f[ip + 9] = 17;
        Bytes.put32(f, ip + 12, Arp.parseIp("198.18.0.1"));
        Bytes.put32(f, ip + 16, Arp.parseIp("198.18.0.2"));
        int sum = 0;
        for (int i = 0; i < 20; i += 2) sum += Bytes.u16(f, ip + i);
        while ((sum >>> 16) != 0) sum = (sum & 0xFFFF) + (sum >>> 16);
        Bytes.put16(f, ip + 10, ~sum & 0xFFFF);
        int udp = ip + 20;
        Bytes.put16(f, udp, 40_000);
        Bytes.put16(f, udp + 2, Geneve.DEFAULT_PORT);
        Bytes.put16(f, udp + 4, udpLen);
        System.arraycopy(geneve, 0, f, udp + 8, length);
        ByteBuffer h = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(++seconds).putInt(0).putInt(f.length).putInt(f.length);
        out.writeBytes(h.array());
        out.writeBytes(f);
        return this;
    }

    void write(Path path) throws IOException {
        Files.write(path, out.toByteArray());
    }
}
