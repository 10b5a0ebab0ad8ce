package dev.ferry.lab.qemu;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;

/** Ports on 127.0.0.1 free a moment ago, for the QEMU processes the lab starts (which bind them itself). */
final class LoopbackPorts {
    private LoopbackPorts() {}

    static int udp() throws IOException {
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            return s.getLocalPort();
        }
    }

    /**
     * Two different UDP ports free a moment ago: both held open while the second is chosen, since
     * the kernel may hand a port just closed out again at once (QEMU's side and the agent's side of
     * one QEMU socket port must not be the same).
     */
    static int[] udpPair() throws IOException {
        try (DatagramSocket a = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
             DatagramSocket b = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0))) {
            return new int[] {a.getLocalPort(), b.getLocalPort()};
        }
    }

    static int tcp() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
