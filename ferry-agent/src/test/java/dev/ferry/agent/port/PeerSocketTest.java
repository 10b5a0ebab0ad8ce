package dev.ferry.agent.port;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Borrowing another process's UDP socket, as the agent borrows QEMU's: here the "QEMU" is a small
 * Java program holding a UDP socket and reading nothing, found the same way (by its address in
 * /proc) and duplicated with pidfd_getfd.
 */
class PeerSocketTest {
    /** Binds a UDP socket on loopback, prints its port, reads nothing, exits when its input closes. */
    private static final String HOLDER = """
            import java.net.*;
            class Holder {
                public static void main(String[] a) throws Exception {
                    DatagramSocket s = new DatagramSocket(new InetSocketAddress("127.0.0.1", 0));
                    System.out.println(s.getLocalPort());
                    System.out.flush();
                    System.in.read();
                }
            }
            """;

    @TempDir
    Path dir;
    private Process holder;
    private InetSocketAddress qemu;
    private DatagramChannel agent;

    @BeforeEach
    void setUp() throws Exception {
        Path source = Files.writeString(dir.resolve("Holder.java"), HOLDER);
        String java = ProcessHandle.current().info().command().orElse("java");
        holder = new ProcessBuilder(java, "-Djava.net.preferIPv4Stack=true", source.toString()).start();
        String port = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8)).readLine();
        qemu = new InetSocketAddress("127.0.0.1", Integer.parseInt(port.strip()));
        agent = DatagramChannel.open(StandardProtocolFamily.INET).bind(new InetSocketAddress("127.0.0.1", 0));
    }

    @AfterEach
    void tearDown() throws Exception {
        agent.close();
        holder.getOutputStream().close();
        if (!holder.waitFor(5, TimeUnit.SECONDS)) holder.destroyForcibly();
    }

    @Test
    void framesTheOwnerNeverReadAreTakenBackOldestFirstAndAreGoneFromItsSocket() throws Exception {
        for (byte i = 1; i <= 3; i++) agent.send(ByteBuffer.wrap(new byte[] {i, i, i}), qemu);
        Thread.sleep(50);
        List<byte[]> back = new ArrayList<>();
        try (PeerSocket borrowed = PeerSocket.borrow(qemu)) {
            assertThat(borrowed.pid()).isEqualTo(holder.pid());
            assertThat(borrowed.takeBack(back::add)).isEqualTo(3);
            assertThat(borrowed.takeBack(back::add)).as("taken once").isZero();
        }
        assertThat(back).extracting(f -> f[0]).containsExactly((byte) 1, (byte) 2, (byte) 3);
    }

    @Test
    void theOwnersReceiveBufferIsRaisedForTheBurstAfterAMigration() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "SO_RCVBUFFORCE needs root");
        try (PeerSocket borrowed = PeerSocket.borrow(qemu)) {
            int before = borrowed.ensureReceiveBuffer(0);
            assertThat(before).isLessThan(4 << 20);
            assertThat(borrowed.ensureReceiveBuffer(4 << 20)).isGreaterThanOrEqualTo(4 << 20);
        }
        try (PeerSocket again = PeerSocket.borrow(qemu)) {
            assertThat(again.ensureReceiveBuffer(0)).as("the owner's socket itself").isGreaterThanOrEqualTo(4 << 20);
        }
    }

    @Test
    void aSocketNobodyHoldsCannotBeBorrowedAndSaysWhy() throws Exception {
        InetSocketAddress gone = (InetSocketAddress) agent.getLocalAddress();
        agent.close();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> PeerSocket.borrow(gone))
                .isInstanceOf(java.io.IOException.class).hasMessageContaining(String.valueOf(gone.getPort()));
    }
}
