package dev.ferry.agent.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.Socket;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Where the agent's loop sleeps: until a watched descriptor is readable or another thread wakes it,
 * never longer than its timeout, and never when work came while it was getting ready. Bounds are
 * one-sided and loose (a sleep ended by an event must end long before a 10 s timeout).
 */
class WaiterTest {
    private static final int LONG_MILLIS = 10_000;

    private Waiter waiter;
    private Socket socket;

    @BeforeEach
    void setUp() throws Exception {
        Epoll.ensureAvailability(); // loads Netty's native library, which Socket needs
        waiter = new Waiter();
        socket = Socket.newSocketDgram();
        socket.bind(new InetSocketAddress("127.0.0.1", 0));
    }

    @AfterEach
    void tearDown() throws Exception {
        waiter.close();
        socket.close();
    }

    @Test
    void withNothingReadableItSleepsOutItsTimeout() {
        long millis = timed(() -> waiter.await(50, () -> true));

        assertThat(millis).isGreaterThanOrEqualTo(45);
        assertThat(waiter.sleeps()).isEqualTo(1);
    }

    @Test
    void aWakeFromAnotherThreadEndsTheSleep() throws Exception {
        CompletableFuture<Long> slept = CompletableFuture.supplyAsync(() -> timed(() -> waiter.await(LONG_MILLIS, () -> true)));
        while (waiter.sleeps() == 0) Thread.onSpinWait();
        Thread.sleep(20); // into epoll_wait, most likely; a wake before it is kept by the eventfd anyway

        waiter.wake();

        assertThat(slept.get(5, TimeUnit.SECONDS)).isLessThan(LONG_MILLIS / 2);
        assertThat(waiter.wakeups()).isEqualTo(1);
    }

    @Test
    void aWakeWhileTheLoopIsAwakeLeavesNothingBehindToCutTheNextSleep() {
        waiter.wake();

        assertThat(timed(() -> waiter.await(50, () -> true))).isGreaterThanOrEqualTo(45);
    }

    @Test
    void aDatagramOnAWatchedSocketEndsTheSleep() throws Exception {
        waiter.add(socket.intValue());
        CompletableFuture<Long> slept = CompletableFuture.supplyAsync(() -> timed(() -> waiter.await(LONG_MILLIS, () -> true)));
        while (waiter.sleeps() == 0) Thread.onSpinWait();

        send();

        assertThat(slept.get(5, TimeUnit.SECONDS)).isLessThan(LONG_MILLIS / 2);
    }

    @Test
    void aDescriptorNoLongerWatchedDoesNotEndTheSleep() throws Exception {
        waiter.add(socket.intValue());
        waiter.remove(socket.intValue());
        send();

        assertThat(timed(() -> waiter.await(50, () -> true))).isGreaterThanOrEqualTo(45);
    }

    @Test
    void workThatCameWhileGettingReadyIsNotSleptOn() {
        long millis = timed(() -> waiter.await(LONG_MILLIS, () -> false));

        assertThat(millis).isLessThan(LONG_MILLIS / 2);
        assertThat(waiter.sleeps()).isZero();
    }

    @Test
    void forgettingADescriptorThatWasAlreadyClosedIsNotAnError() throws Exception {
        Socket other = Socket.newSocketDgram();
        waiter.add(other.intValue());
        int fd = other.intValue();
        other.close();

        waiter.remove(fd);
    }

    private void send() throws Exception {
        try (DatagramChannel c = DatagramChannel.open()) {
            c.send(ByteBuffer.wrap(new byte[] {1, 2, 3}), socket.localAddress());
        }
    }

    private static long timed(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }
}
