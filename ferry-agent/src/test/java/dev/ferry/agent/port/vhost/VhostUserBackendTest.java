package dev.ferry.agent.port.vhost;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.PortPolicy;
import dev.ferry.agent.port.Libc;
import dev.ferry.board.VmKey;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;

/** The vhost-user back-end's answers to QEMU where a wrong one would corrupt the VM's next copy. */
class VhostUserBackendTest {
    private static final long MAC = 0x525400000001L;
    private static final long RAM = 64 * 1024, GPA = 0x10_0000L, UVA = 0x7f00_0000_0000L;

    /**
     * QEMU asks where the receive queue stopped (GET_VRING_BASE, the index it carries to the VM's next
     * copy) while the agent's loop does not come round to apply the stop: the back-end ends the session
     * rather than answer the index the queue started from, which the queue may have passed.
     */
    @Test
    void aStopTheAgentNeverAppliedEndsTheSessionInsteadOfAnsweringAStaleIndex() throws Exception {
        Path dir = Files.createTempDirectory("ferry-vhost-stop");
        VhostUserPort port = new VhostUserPort(new VmKey(100, MAC), "vm", List.of(), PortPolicy.defaultsFor(List.of()), dir.resolve("none.sock"));
        VhostUserBackend backend = new VhostUserBackend(port, "vm", dir.resolve("none.sock"), MAC, false);
        AtomicBoolean looping = new AtomicBoolean(true);
        Thread loop = polling(port, looping, new ReentrantLock());
        int ram = FakeQemuSocket.memfd(RAM), kick = FakeQemuSocket.eventfd(), call = FakeQemuSocket.eventfd();
        try (FakeQemuSocket qemu = new FakeQemuSocket()) {
            CompletableFuture<Throwable> session = serving(backend, qemu);
            startReceiveQueue(qemu, ram, call, kick);
            Thread.sleep(500); // the queue starts on the loop's thread
            looping.set(false);
            loop.join();
            port.close(); // and the loop never comes round again

            qemu.send(message(VhostUserBackend.GET_VRING_BASE, payload(8).putInt(0).putInt(0)), new int[0]);
            qemu.finish();

            Throwable ended = session.get(20, TimeUnit.SECONDS);
            assertThat(ended).isInstanceOf(IOException.class).hasMessageContaining("did not say where queue 0 stopped");
        } finally {
            backend.disconnected();
            for (int fd : new int[] {ram, kick, call}) Libc.close(fd);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * A migrated VM resumes and QEMU starts its device, one message after another; only a stop needs
     * the agent's answer. The back-end gets through the whole start while the agent's loop does not
     * come round (it would have waited for the loop at each message, up to 30 s), and the loop, once
     * it does, starts the queue as QEMU described it: the guest's kick wakes it.
     */
    @Test
    void qemuStartsTheDeviceWithoutWaitingForTheAgentsLoopAtEachMessage() throws Exception {
        Path dir = Files.createTempDirectory("ferry-vhost-start");
        VhostUserPort port = new VhostUserPort(new VmKey(100, MAC), "vm", List.of(), PortPolicy.defaultsFor(List.of()), dir.resolve("none.sock"));
        VhostUserBackend backend = new VhostUserBackend(port, "vm", dir.resolve("none.sock"), MAC, false);
        port.poll(null, null, 0); // plugged: the agent's loop polls it, just not now
        int ram = FakeQemuSocket.memfd(RAM), kick = FakeQemuSocket.eventfd(), call = FakeQemuSocket.eventfd();
        try (FakeQemuSocket qemu = new FakeQemuSocket(); dev.ferry.agent.port.Epoll loop = new dev.ferry.agent.port.Epoll(4)) {
            CompletableFuture<Throwable> session = serving(backend, qemu);
            qemu.send(message(VhostUserBackend.SET_FEATURES, payload(8).putLong(VhostUserBackend.FEATURES & ~VhostUserBackend.F_LOG_ALL)),
                    new int[0]);
            startReceiveQueue(qemu, ram, call, kick);
            qemu.finish();

            assertThat(session.get(5, TimeUnit.SECONDS)).as("every message handled, the session ended by QEMU").isNull();

            port.poll(null, null, 1);
            loop.add(port.readableFd());
            assertThat(port.readyToSleep()).isTrue();
            dev.ferry.agent.port.Epoll.signal(kick); // the guest kicks
            assertThat(loop.await(0)).as("the started queue's kick wakes the loop").isEqualTo(1);
        } finally {
            port.close();
            backend.disconnected(); // the closed port's reset is not waited for
            for (int fd : new int[] {ram, kick, call}) Libc.close(fd);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * QEMU turns the dirty log on (SET_FEATURES with LOG_ALL) and waits for the reply to the
     * GET_FEATURES it sends next before it copies the VM's memory: the back-end answers only once the
     * agent's loop logs, or a frame written meanwhile would reach a page QEMU had already copied, and
     * the VM's next copy would not have it.
     */
    @Test
    void qemuLearnsTheDirtyLogIsOnOnlyOnceTheAgentsLoopLogs() throws Exception {
        Path dir = Files.createTempDirectory("ferry-vhost-log");
        VhostUserPort port = new VhostUserPort(new VmKey(100, MAC), "vm", List.of(), PortPolicy.defaultsFor(List.of()), dir.resolve("none.sock"));
        VhostUserBackend backend = new VhostUserBackend(port, "vm", dir.resolve("none.sock"), MAC, false);
        AtomicBoolean looping = new AtomicBoolean(true);
        ReentrantLock turn = new ReentrantLock();
        Thread loop = polling(port, looping, turn);
        int ram = FakeQemuSocket.memfd(RAM), log = FakeQemuSocket.memfd(4096), kick = FakeQemuSocket.eventfd(), call = FakeQemuSocket.eventfd();
        try (FakeQemuSocket qemu = new FakeQemuSocket()) {
            CompletableFuture<Throwable> session = serving(backend, qemu);
            qemu.send(message(VhostUserBackend.SET_FEATURES, payload(8).putLong(VhostUserBackend.FEATURES & ~VhostUserBackend.F_LOG_ALL)),
                    new int[0]);
            startReceiveQueue(qemu, ram, call, kick);
            qemu.send(message(VhostUserBackend.SET_LOG_BASE, payload(16).putLong(4096).putLong(0)), new int[] {log});
            assertThat(qemu.reply(5_000)).as("the log's base is answered").isNotNull();

            turn.lock(); // the loop does not come round
            try {
                qemu.send(message(VhostUserBackend.SET_FEATURES, payload(8).putLong(VhostUserBackend.FEATURES)), new int[0]);
                qemu.send(message(VhostUserBackend.GET_FEATURES, payload(0)), new int[0]);
                assertThat(qemu.reply(300)).as("no answer while the agent does not log yet").isNull();
            } finally {
                turn.unlock();
            }
            byte[] answer = qemu.reply(5_000);
            assertThat(answer).as("answered once the loop came round").isNotNull();
            assertThat(ByteBuffer.wrap(answer).order(ByteOrder.LITTLE_ENDIAN).getInt(0)).isEqualTo(VhostUserBackend.GET_FEATURES);
            qemu.finish();
            assertThat(session.get(5, TimeUnit.SECONDS)).isNull();
        } finally {
            looping.set(false);
            loop.join();
            port.close();
            backend.disconnected();
            for (int fd : new int[] {ram, log, kick, call}) Libc.close(fd);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * The agent's loop, polling {@code port} until {@code looping} is false; it holds {@code turn}
     * through each poll, so whoever holds it keeps the loop from coming round.
     */
    private static Thread polling(VhostUserPort port, AtomicBoolean looping, ReentrantLock turn) {
        return Thread.ofPlatform().daemon().start(() -> {
            while (looping.get()) {
                turn.lock();
                try {
                    port.poll(null, null, System.nanoTime());
                } finally {
                    turn.unlock();
                }
                LockSupport.parkNanos(20_000);
            }
        });
    }

    /** The back-end answering {@code qemu} on a thread of its own; what ended the session (null: QEMU closed it). */
    private static CompletableFuture<Throwable> serving(VhostUserBackend backend, FakeQemuSocket qemu) {
        return CompletableFuture.supplyAsync(() -> {
            try (Arena arena = Arena.ofConfined()) {
                backend.serve(qemu.backend, arena.allocate(VhostUserBackend.MESSAGE_BYTES, 8));
                return null;
            } catch (Throwable t) {
                return t;
            }
        });
    }

    /** QEMU's messages that start the receive queue: the memory table, queue 0's rings, its call and kick eventfds. */
    private static void startReceiveQueue(FakeQemuSocket qemu, int ram, int call, int kick) throws IOException {
        qemu.send(message(VhostUserBackend.SET_MEM_TABLE, payload(8 + 32).putInt(1).putInt(0).putLong(GPA).putLong(RAM).putLong(UVA)
                .putLong(0)), new int[] {ram});
        qemu.send(message(VhostUserBackend.SET_VRING_NUM, payload(8).putInt(0).putInt(8)), new int[0]);
        qemu.send(message(VhostUserBackend.SET_VRING_ADDR, payload(40).putInt(0).putInt(0).putLong(UVA).putLong(UVA + 0x200)
                .putLong(UVA + 0x100).putLong(0)), new int[0]);
        qemu.send(message(VhostUserBackend.SET_VRING_CALL, payload(8).putLong(0)), new int[] {call});
        qemu.send(message(VhostUserBackend.SET_VRING_KICK, payload(8).putLong(0)), new int[] {kick});
    }

    private static ByteBuffer payload(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A vhost-user message: request, flags (version 1), size, then the payload. */
    private static byte[] message(int request, ByteBuffer payload) {
        ByteBuffer m = ByteBuffer.allocate(12 + payload.capacity()).order(ByteOrder.LITTLE_ENDIAN);
        m.putInt(request).putInt(1).putInt(payload.capacity()).put(payload.array());
        return m.array();
    }
}
