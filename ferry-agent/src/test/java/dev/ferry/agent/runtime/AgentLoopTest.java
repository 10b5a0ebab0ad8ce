package dev.ferry.agent.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.Agent;
import dev.ferry.agent.AgentConfig;
import dev.ferry.agent.LocalPort;
import dev.ferry.agent.Mode;
import dev.ferry.agent.Underlay;
import dev.ferry.agent.port.PolledPort;
import dev.ferry.board.VmKey;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The loop that serves every VM of a host: survives what one command or one port throws, sleeps when idle. */
class AgentLoopTest {
    private static final int VNI = 100;

    @Test
    void aCommandThatThrowsIsCountedAndTheNextOneStillRuns() throws Exception {
        try (AgentLoop loop = started()) {
            CountDownLatch ran = new CountDownLatch(1);
            loop.post((a, now) -> { throw new IllegalStateException("a bug in one command"); });
            loop.post((a, now) -> ran.countDown());

            assertThat(ran.await(5, TimeUnit.SECONDS)).as("the command after the failing one ran").isTrue();
            assertThat(loop.errors()).isEqualTo(1);
        }
    }

    @Test
    void aPortThatThrowsIsFaultedAndClosedWhileTheOtherPortsAreStillPolled() throws Exception {
        try (AgentLoop loop = started()) {
            StubPort broken = new StubPort(0x02_00_00_00_00_01L, true);
            StubPort healthy = new StubPort(0x02_00_00_00_00_02L, false);
            loop.addPort(broken);
            loop.addPort(healthy);
            int before = waitForPolls(healthy, 0);

            assertThat(waitForPolls(healthy, before + 100)).isGreaterThan(before + 100);
            assertThat(loop.portsFaulted()).isEqualTo(1);
            assertThat(broken.closed).isTrue();
            assertThat(broken.polls.get()).as("polled once, then no more").isEqualTo(1);
            assertThat(healthy.closed).isFalse();
        }
    }

    @Test
    void anIdleLoopSleepsOnItsDescriptorsInsteadOfSpinning() throws Exception {
        try (AgentLoop loop = started()) {
            long before = loop.sleeps();
            Thread.sleep(300);

            assertThat(loop.sleeps() - before).as("sleeps of at most 1 ms (the timer tick) in 300 ms").isGreaterThan(50);
        }
    }

    @Test
    void whileAPortWithoutADescriptorIsPluggedTheLoopPollsItAndDoesNotSleep() throws Exception {
        try (AgentLoop loop = started()) {
            StubPort port = new StubPort(0x02_00_00_00_00_03L, false);
            loop.addPort(port);
            int polls = waitForPolls(port, 0);
            long sleeps = loop.sleeps();

            assertThat(waitForPolls(port, polls + 100)).isGreaterThan(polls + 100);
            assertThat(loop.sleeps()).as("no sleep while the port can only be polled").isEqualTo(sleeps);
        }
    }

    @Test
    void anIdleLoopWithAVhostUserPortPluggedSleepsToo() throws Exception {
        java.nio.file.Path dir = java.nio.file.Files.createTempDirectory("ferry-loop-test");
        try (AgentLoop loop = started()) {
            var port = new dev.ferry.agent.port.vhost.VhostUserPort(new VmKey(VNI, 0x02_00_00_00_00_05L), "vm5", List.of(),
                    dev.ferry.agent.PortPolicy.defaultsFor(List.of()), dir.resolve("no-qemu.sock"));
            loop.addPort(port);
            long before = loop.sleeps();
            Thread.sleep(300);

            assertThat(loop.sleeps() - before).as("sleeps of at most 1 ms (the timer tick) in 300 ms").isGreaterThan(50);
        } finally {
            java.nio.file.Files.deleteIfExists(dir);
        }
    }

    @Test
    void anIdleLoopWithAQemuSocketPortPluggedSleepsAndStillTakesWhatQemuSends() throws Exception {
        try (AgentLoop loop = started(); var qemu = java.nio.channels.DatagramChannel.open()) {
            qemu.bind(new InetSocketAddress("127.0.0.1", 0));
            var port = new dev.ferry.agent.port.QemuSocketPort(new VmKey(VNI, 0x02_00_00_00_00_07L), "vm7", List.of(),
                    dev.ferry.agent.PortPolicy.defaultsFor(List.of()), new InetSocketAddress("127.0.0.1", 0),
                    (InetSocketAddress) qemu.getLocalAddress());
            loop.addPort(port);
            long before = loop.sleeps();
            Thread.sleep(300);
            assertThat(loop.sleeps() - before).as("sleeps of at most 1 ms (the timer tick) in 300 ms").isGreaterThan(50);

            byte[] frame = new byte[60];
            frame[5] = 7; // to 02:00:00:00:00:07's neighbour, from it: any frame the VM sends
            frame[11] = 7;
            qemu.send(java.nio.ByteBuffer.wrap(frame), port.localAddress());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (port.framesIn() == 0 && System.nanoTime() < deadline) Thread.sleep(1);
            assertThat(port.framesIn()).as("the datagram from QEMU taken").isEqualTo(1);
        }
    }

    @Test
    void aPortThatFindsWorkAsTheLoopGetsReadyToSleepKeepsItAwake() throws Exception {
        int fd = dev.ferry.agent.port.Epoll.eventFd();
        try (AgentLoop loop = started()) {
            StubPort port = new StubPort(0x02_00_00_00_00_06L, false);
            port.fd = fd;
            port.busy = true;
            loop.addPort(port);
            int polls = waitForPolls(port, 0);
            long sleeps = loop.sleeps();

            assertThat(waitForPolls(port, polls + 100)).isGreaterThan(polls + 100);
            assertThat(loop.sleeps()).as("no sleep while the port says work came").isEqualTo(sleeps);
        } finally {
            dev.ferry.agent.port.Libc.close(fd);
        }
    }

    @Test
    void aCommandPostedToASleepingLoopRuns() throws Exception {
        try (AgentLoop loop = started()) {
            long before = loop.sleeps();
            while (loop.sleeps() == before) Thread.sleep(1);
            CountDownLatch ran = new CountDownLatch(1);

            loop.post((a, now) -> ran.countDown());

            assertThat(ran.await(5, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void framesStillWaitingInAPortThatIsUnpluggedAreCountedAsDropped() throws Exception {
        try (AgentLoop loop = started()) {
            StubPort port = new StubPort(0x02_00_00_00_00_04L, false);
            port.unread = 7;
            loop.addPort(port);
            waitForPolls(port, 0);
            CountDownLatch counted = new CountDownLatch(1);
            long[] dropped = new long[1];

            loop.post((a, now) -> {
                loop.stopPolling(port);
                dropped[0] = a.counters().get(dev.ferry.agent.Counter.DROP_PORT_UNPLUGGED);
                counted.countDown();
            });

            assertThat(counted.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(dropped[0]).isEqualTo(7);
            assertThat(port.closed).isTrue();
        }
    }

    private static int waitForPolls(StubPort port, int atLeast) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (port.polls.get() <= atLeast && System.nanoTime() < deadline) Thread.sleep(5);
        return port.polls.get();
    }

    @Test
    void theLoopsThreadAloneRunsAtTheNiceValueItWasGiven() throws Exception {
        // Lowering a priority (a higher nice value) needs no privilege: the test runs as anyone.
        int mine = niceOfThisThread();
        int asked = Math.min(mine + 5, LoopPriority.MAX_NICE);
        try (AgentLoop loop = started(asked)) {
            java.util.concurrent.CompletableFuture<Integer> seen = new java.util.concurrent.CompletableFuture<>();
            loop.post((a, now) -> seen.complete(niceOfThisThread()));

            assertThat(seen.get(5, TimeUnit.SECONDS)).as("the loop's thread").isEqualTo(asked);
            assertThat(niceOfThisThread()).as("the thread that made the loop").isEqualTo(mine);
        }
    }

    /** Field 19 of the calling thread's /proc stat line: its nice value. */
    private static int niceOfThisThread() {
        try {
            String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/stat"));
            String[] afterName = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Integer.parseInt(afterName[19 - 3]);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static AgentLoop started() throws Exception {
        return started(LoopPriority.INHERIT);
    }

    private static AgentLoop started(int nice) throws Exception {
        AgentLoop loop = new AgentLoop(new InetSocketAddress("127.0.0.1", 0), UnderlaySocket.Transport.AUTO, "test-loop", nice);
        Underlay nowhere = new Underlay() {
            @Override public void send(int toHost, byte[] buf, int offset, int length) {}
            @Override public void learnHost(int hostId, String endpoint) {}
            @Override public long unknownHosts() { return 0; }
        };
        loop.start(new Agent(AgentConfig.defaults(1, Set.of(VNI), Mode.FERRY), nowhere, request -> {}, 1), new HostDirectory());
        return loop;
    }

    private static final class StubPort implements PolledPort {
        final VmKey key;
        final boolean throwing;
        final AtomicInteger polls = new AtomicInteger();
        volatile boolean closed;
        volatile int unread;
        volatile int fd = -1;
        volatile boolean busy;

        StubPort(long mac, boolean throwing) {
            this.key = new VmKey(VNI, mac);
            this.throwing = throwing;
        }

        @Override
        public int poll(Agent agent, LocalPort handle, long now) {
            polls.incrementAndGet();
            if (throwing) throw new IllegalStateException("a broken port");
            return 0;
        }

        @Override public VmKey key() { return key; }
        @Override public String vmId() { return "vm" + key.mac(); }
        @Override public List<Integer> ips() { return List.of(); }
        @Override public boolean deliver(byte[] buf, int offset, int length) { return true; }
        @Override public String kind() { return "stub"; }
        @Override public String describe() { return "stub"; }
        @Override public long framesIn() { return 0; }
        @Override public long framesOut() { return 0; }
        @Override public long inDropped() { return 0; }
        @Override public long outDropped() { return 0; }
        @Override public int unread() { return unread; }
        @Override public int readableFd() { return fd; }
        @Override public boolean readyToSleep() { return !busy; }
        @Override public void close() { closed = true; }
    }
}
