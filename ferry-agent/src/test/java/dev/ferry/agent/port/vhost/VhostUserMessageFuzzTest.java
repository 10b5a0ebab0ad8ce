package dev.ferry.agent.port.vhost;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.ferry.agent.Agent;
import dev.ferry.agent.AgentConfig;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.Mode;
import dev.ferry.agent.PortPolicy;
import dev.ferry.agent.Underlay;
import dev.ferry.agent.port.Libc;
import dev.ferry.board.VmKey;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

/**
 * Coverage-guided fuzzing (Jazzer) of the vhost-user back-end as a hostile front-end drives it:
 * sequences of messages with any header, payloads shaped like each request's (memory tables, ring
 * addresses, log bases) or not, and descriptors (eventfds, memfds) attached to any of them, in any
 * number. Properties: the session ends with nothing thrown but an I/O error naming what was wrong,
 * it ends (no message holds it), and no descriptor outlives it. A thread polls the port as the
 * agent's loop does, so queues really start and stop.
 */
class VhostUserMessageFuzzTest {
    private static final long MAC = 0x525400000001L;
    private static final long RAM = 64 * 1024, GPA = 0x10_0000L, UVA = 0x7f00_0000_0000L;
    private static final int[] REQUESTS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};

    /** One port and one agent for every input; the port's own connecting thread is stopped at once. */
    private static VhostUserPort port;
    private static VhostUserBackend backend;

    private static synchronized void setUp() throws IOException {
        if (port != null) return;
        Path dir = Files.createTempDirectory("ferry-vhost-fuzz");
        dir.toFile().deleteOnExit(); // nothing is ever made in it: the socket is never bound
        port = new VhostUserPort(new VmKey(100, MAC), "fuzz", List.of(), PortPolicy.defaultsFor(List.of()), dir.resolve("none.sock"));
        port.close();
        backend = new VhostUserBackend(port, "fuzz", dir.resolve("none.sock"), MAC, true);
        Agent agent = new Agent(AgentConfig.defaults(1, Set.of(100), Mode.FERRY), new Underlay() {
            @Override public void send(int to, byte[] buf, int off, int len) {}
            @Override public void learnHost(int hostId, String endpoint) {}
            @Override public long unknownHosts() { return 0; }
        }, request -> {}, 1);
        agent.start(System.nanoTime());
        LocalPort handle = agent.addPort(port, System.nanoTime());
        Thread.ofPlatform().daemon().name("fuzz-agent-loop").start(() -> {
            for (;;) {
                port.poll(agent, handle, System.nanoTime());
                LockSupport.parkNanos(20_000);
            }
        });
    }

    @FuzzTest(maxDuration = "5s")
    void frontEndMessages(FuzzedDataProvider data) throws Exception {
        setUp();
        java.util.Map<String, String> fdsBefore = descriptors();
        try (FakeQemuSocket qemu = new FakeQemuSocket()) {
            int messages = data.consumeInt(1, 12);
            for (int m = 0; m < messages && data.remainingBytes() > 0; m++) sendOne(qemu, data);
            qemu.finish();
            try (Arena arena = Arena.ofConfined()) {
                backend.serve(qemu.backend, arena.allocate(VhostUserBackend.MESSAGE_BYTES, 8));
            } catch (IOException refused) {
                // A message the back-end refuses ends the session: what QEMU sees when it sends garbage.
            } finally {
                backend.disconnected();
                qemu.backend.close();
            }
        }
        java.util.Map<String, String> left = new java.util.TreeMap<>(settledDescriptors(fdsBefore));
        left.keySet().removeAll(fdsBefore.keySet());
        assertThat(left).as("descriptors the session left open").isEmpty();
    }

    private static void sendOne(FakeQemuSocket qemu, FuzzedDataProvider data) throws IOException {
        int request = data.consumeBoolean() ? data.pickValue(REQUESTS) : data.consumeInt();
        ByteBuffer p = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        int fdCount = 0;
        boolean memfds = false;
        switch (request) {
            case VhostUserBackend.SET_MEM_TABLE -> {
                int regions = data.consumeInt(0, 9);
                p.putInt(regions).putInt(0);
                for (int i = 0; i < regions; i++) {
                    p.putLong(pick(data, GPA + RAM * i)).putLong(pick(data, RAM)).putLong(pick(data, UVA + RAM * i)).putLong(pick(data, 0));
                }
                fdCount = data.consumeBoolean() ? regions : data.consumeInt(0, 10);
                memfds = true;
            }
            case VhostUserBackend.SET_LOG_BASE -> {
                p.putLong(pick(data, 4096)).putLong(pick(data, 0));
                fdCount = data.consumeInt(0, 3);
                memfds = true;
            }
            case VhostUserBackend.SET_VRING_NUM, VhostUserBackend.SET_VRING_BASE, VhostUserBackend.GET_VRING_BASE,
                 VhostUserBackend.SET_VRING_ENABLE -> p.putInt(data.consumeInt(-1, 2)).putInt((int) pick(data, 8));
            case VhostUserBackend.SET_VRING_ADDR -> p.putInt(data.consumeInt(-1, 2)).putInt(data.consumeInt(0, 1))
                    .putLong(pick(data, UVA)).putLong(pick(data, UVA + 0x200)).putLong(pick(data, UVA + 0x100)).putLong(pick(data, GPA));
            case VhostUserBackend.SET_VRING_KICK, VhostUserBackend.SET_VRING_CALL, VhostUserBackend.SET_VRING_ERR,
                 VhostUserBackend.SET_LOG_FD -> {
                p.putLong(data.consumeInt(-1, 2) & 0xFF | (data.consumeBoolean() ? 0x100 : 0));
                fdCount = data.consumeInt(0, 3);
            }
            case VhostUserBackend.SET_FEATURES, VhostUserBackend.SET_PROTOCOL_FEATURES -> p.putLong(data.consumeLong());
            default -> p.put(data.consumeBytes(data.consumeInt(0, 64)));
        }
        if (data.consumeInt(0, 15) == 0) fdCount = data.consumeInt(0, 12);
        int length = p.position();
        int declared = data.consumeInt(0, 7) == 0 ? data.consumeInt() : length;
        ByteBuffer message = ByteBuffer.allocate(12 + length).order(ByteOrder.LITTLE_ENDIAN);
        message.putInt(request).putInt(data.consumeBoolean() ? 1 | 8 : data.consumeInt()).putInt(declared).put(p.array(), 0, length);
        int[] fds = new int[fdCount];
        for (int i = 0; i < fdCount; i++) fds[i] = memfds ? FakeQemuSocket.memfd(RAM) : FakeQemuSocket.eventfd();
        try {
            qemu.send(message.array(), fds);
        } finally {
            // The back-end has its own copies now (or none, if it never reads them).
            for (int fd : fds) Libc.close(fd);
        }
    }

    /** A value as QEMU would send it, or one biased to where bounds break. */
    private static long pick(FuzzedDataProvider data, long usual) {
        return switch (data.consumeInt(0, 5)) {
            case 0, 1, 2 -> usual;
            case 3 -> usual + data.consumeInt(-4096, 4096);
            case 4 -> Long.MAX_VALUE - data.consumeInt(0, 4096);
            default -> data.consumeLong();
        };
    }

    /** The open descriptors and what each is (the listing's own directory aside). */
    private static java.util.Map<String, String> descriptors() throws IOException {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (!target.startsWith("/proc/")) out.put(fd.getFileName().toString(), target);
                } catch (IOException closedMeanwhile) {
                    // the listing's own, or another thread's brief one
                }
            }
        }
        return out;
    }

    /** The descriptors once they stop changing: other threads of the JVM open and close some briefly. */
    private static java.util.Map<String, String> settledDescriptors(java.util.Map<String, String> expected) throws Exception {
        java.util.Map<String, String> now = descriptors();
        for (int i = 0; i < 20 && !now.equals(expected); i++) {
            Thread.sleep(5);
            now = descriptors();
        }
        return now;
    }
}
