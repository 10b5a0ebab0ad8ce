package dev.ferry.agent.port.vhost;

import dev.ferry.agent.PortPolicy;
import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.board.VmKey;
import dev.ferry.wire.TcpFrames;
import dev.ferry.wire.VirtioNetHeader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import dev.ferry.agent.port.Epoll;
import dev.ferry.agent.port.Libc;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The vhost-user port around a migration, on the agent's thread (the test's), with the device
 * commands its vhost-user thread would post for QEMU's messages: frames go into the guest's buffers
 * while the receive queue runs, wait while it has no buffer or is stopped, and the waiting ones are
 * what the agent takes back for the VM's new place, in order. No QEMU here: the port's own thread
 * waits for a socket that never appears.
 */
class VhostUserPortTest {
    private static final long MAC = 0x525400000001L;

    private final TestGuest guest = new TestGuest();
    private final Path dir = tempDir();
    private final VhostUserPort port = new VhostUserPort(new VmKey(100, MAC), "vm", List.of(), PortPolicy.defaultsFor(List.of()), dir.resolve("no-qemu.sock"));

    @AfterEach
    void tearDown() throws Exception {
        port.close();
        guest.close();
        Files.deleteIfExists(dir);
    }

    @Test
    void whileTheReceiveQueueRunsAFrameGoesStraightIntoTheGuestsBuffer() {
        guest.offer(0, TestGuest.BUFFERS, 2048, TestGuest.F_WRITE);
        startReceiveQueue(0);

        port.deliver(TestGuest.frame(60, 1), 0, 60);

        assertThat(guest.usedIdx()).isEqualTo(1);
        assertThat(guest.bytes(TestGuest.BUFFERS + Virtqueue.NET_HEADER, 60)).isEqualTo(TestGuest.frame(60, 1));
        assertThat(port.framesOut()).isEqualTo(1);
    }

    @Test
    void framesWaitWhileTheGuestOffersNoBufferAndGoInInOrderOnceItDoes() {
        startReceiveQueue(0);
        port.deliver(TestGuest.frame(60, 1), 0, 60);
        port.deliver(TestGuest.frame(60, 2), 0, 60);
        assertThat(guest.usedIdx()).isZero();

        guest.offer(0, TestGuest.BUFFERS, 2048, TestGuest.F_WRITE);
        guest.offer(1, TestGuest.BUFFERS + 0x1000, 2048, TestGuest.F_WRITE);
        port.poll(null, null, 0);

        assertThat(guest.usedIdx()).isEqualTo(2);
        assertThat(guest.bytes(TestGuest.BUFFERS + Virtqueue.NET_HEADER, 60)).isEqualTo(TestGuest.frame(60, 1));
        assertThat(guest.bytes(TestGuest.BUFFERS + 0x1000 + Virtqueue.NET_HEADER, 60)).isEqualTo(TestGuest.frame(60, 2));
    }

    @Test
    void theStopAnswersWhereTheQueueStoppedForQemuToCarryToTheNewCopy() throws Exception {
        oneOfTwoBuffersFilled();

        // QEMU's GET_VRING_BASE: the vhost-user thread waits until the agent's thread has stopped the queue.
        CompletableFuture<Integer> base = CompletableFuture.supplyAsync(() -> port.apply(new DeviceCommand.StopQueue(0), -1));
        while (!base.isDone()) port.poll(null, null, 0);

        assertThat(base.get()).isEqualTo(1);
    }

    @Test
    void aStopTheAgentsLoopAppliesLateStillAnswersWhereTheQueueStopped() throws Exception {
        oneOfTwoBuffersFilled();

        CompletableFuture<Integer> base = CompletableFuture.supplyAsync(() -> port.apply(new DeviceCommand.StopQueue(0), -1));
        Thread.sleep(2_500); // the loop does not come round for longer than one wait
        while (!base.isDone()) port.poll(null, null, 0);

        assertThat(base.get()).as("the real stop index, not the fallback").isEqualTo(1);
    }

    @Test
    void afterTheReceiveQueueStopsFramesWaitAndAreTakenBackOldestFirst() {
        oneOfTwoBuffersFilled();
        port.post(new DeviceCommand.StopQueue(0));
        port.poll(null, null, 0);

        port.deliver(TestGuest.frame(61, 2), 0, 61);
        port.deliver(TestGuest.frame(62, 3), 0, 62);
        List<byte[]> takenBack = new ArrayList<>();
        port.takeBackUnread(takenBack::add);

        assertThat(guest.usedIdx()).as("frames in the guest").isEqualTo(1);
        assertThat(takenBack).containsExactly(TestGuest.frame(61, 2), TestGuest.frame(62, 3));
        assertThat(port.outDropped()).isZero();
    }

    @Test
    void aFullWaitingQueueDropsAndCountsInsteadOfGrowing() {
        byte[] f = TestGuest.frame(60, 1);
        for (int i = 0; i < 16_384 + 5; i++) port.deliver(f, 0, 60);

        assertThat(port.waitingFull()).isEqualTo(5);
        assertThat(port.outDropped()).isEqualTo(5);
    }

    @Test
    void aFrameLongerThanAnyBufferIsDroppedAndCounted() {
        guest.offer(0, TestGuest.BUFFERS, 2048, TestGuest.F_WRITE);
        startReceiveQueue(0);

        port.deliver(new byte[3000], 0, 3000);

        assertThat(guest.usedIdx()).isZero();
        assertThat(port.outDropped()).isEqualTo(1);
    }

    /** The guest offers two buffers, and one frame goes into the first: the queue stops at 1. */
    @Test
    void aJumboFrameGoesWholeIntoABufferTheGuestOfferedForIt() {
        guest.offer(0, TestGuest.BUFFERS, 9_100, TestGuest.F_WRITE);
        startReceiveQueue(0);
        byte[] jumbo = TestGuest.frame(9_018, 3);

        assertThat(port.deliver(jumbo, 0, jumbo.length)).isTrue();

        assertThat(guest.used(0)[1]).isEqualTo(Virtqueue.NET_HEADER + 9_018);
        assertThat(guest.bytes(TestGuest.BUFFERS + Virtqueue.NET_HEADER, 9_018)).isEqualTo(jumbo);
    }

    @Test
    void aFrameNoBufferOfTheGuestCanHoldIsRefusedSoTheAgentCountsIt() {
        guest.offer(0, TestGuest.BUFFERS, 1_000, TestGuest.F_WRITE);
        startReceiveQueue(0);
        byte[] jumbo = TestGuest.frame(9_018, 6);

        assertThat(port.deliver(jumbo, 0, jumbo.length)).isFalse();
        assertThat(port.outDropped()).isEqualTo(1);
        assertThat(port.deliver(TestGuest.frame(60, 7), 0, 60)).as("the buffer is still there for the next").isTrue();
        assertThat(guest.usedIdx()).isEqualTo(1);
    }

    @Test
    void jumboFramesWaitingForTheGuestAreBoundedInBytesAndWaitInOrderWithTheRest() {
        startReceiveQueue(0);
        byte[] jumbo = TestGuest.frame(9_018, 4);
        int fit = (int) ((16L << 20) / jumbo.length);
        for (int i = 0; i < fit; i++) assertThat(port.deliver(jumbo, 0, jumbo.length)).isTrue();

        assertThat(port.deliver(jumbo, 0, jumbo.length)).as("past 16 MiB of long frames waiting").isFalse();
        assertThat(port.deliver(TestGuest.frame(60, 5), 0, 60)).as("a frame of a slot's size still waits").isTrue();
        assertThat(port.waitingFull()).isEqualTo(1);
    }

    @Test
    void segmentsOfOneStreamReachAnOffloadingGuestAsOneSuperFrameOverMergedBuffers() {
        byte[] payload = TestGuest.frame(4 * 1448, 3);
        List<byte[]> segments = TcpFrames.segments(TcpFrames.superFrame(false, payload, 0x10, 1_000, 1448));
        offloadingGuestWithBuffers(8);

        for (byte[] s : segments) port.deliver(s, 0, s.length);
        port.flush();

        int length = Virtqueue.NET_HEADER + 14 + 20 + 32 + payload.length;
        int buffers = (length + 2047) / 2048;
        assertThat(guest.usedIdx()).isEqualTo(buffers);
        byte[] header = guest.bytes(TestGuest.BUFFERS, Virtqueue.NET_HEADER);
        assertThat(VirtioNetHeader.gsoType(header, 0)).isEqualTo(VirtioNetHeader.GSO_TCPV4);
        assertThat(VirtioNetHeader.gsoSize(header, 0)).isEqualTo(1448);
        assertThat(header[10]).as("num_buffers").isEqualTo((byte) buffers);
        byte[] joined = new byte[length];
        for (int b = 0; b < buffers; b++) {
            int n = Math.min(2048, length - 2048 * b);
            System.arraycopy(guest.bytes(TestGuest.BUFFERS + 0x1000L * b, n), 0, joined, 2048 * b, n);
        }
        assertThat(java.util.Arrays.copyOfRange(joined, length - payload.length, length)).isEqualTo(payload);
        assertThat(port.framesOut()).isEqualTo(4);
        assertThat(port.superFramesOut()).isEqualTo(1);
    }

    @Test
    void joinedSegmentsTheGuestHasNoRoomForWaitAsTheOrdinaryFramesTheyWere() {
        List<byte[]> segments = TcpFrames.segments(TcpFrames.superFrame(false, TestGuest.frame(4 * 1448, 5), 0x10, 1_000, 1448));
        offloadingGuestWithBuffers(0);

        for (byte[] s : segments) port.deliver(s, 0, s.length);
        port.flush();
        List<byte[]> taken = new ArrayList<>();
        port.takeBackUnread(taken::add);

        assertThat(taken).as("what a stopped copy leaves goes on as the overlay carries it").hasSize(4);
        for (int i = 0; i < 4; i++) assertThat(taken.get(i)).isEqualTo(segments.get(i));
        assertThat(port.superFramesOut()).isZero();
    }

    @Test
    void aGuestThatLeavesFramesWaitingUntakenIsSignalledAgainAndItIsCounted() throws Throwable {
        int eventfd = TestGuest.eventfd();
        try {
            guest.offer(0, TestGuest.BUFFERS, 2048, TestGuest.F_WRITE);
            port.post(new DeviceCommand.MapMemory(guest.memory));
            port.post(new DeviceCommand.StartQueue(guest.setup(0, 0, false), Libc.dup(eventfd)));
            port.poll(null, null, 0);
            port.deliver(TestGuest.frame(60, 1), 0, 60);
            port.deliver(TestGuest.frame(60, 2), 0, 60); // no buffer for it: it waits
            port.poll(null, null, 0);
            guest.signals(eventfd);

            port.poll(null, null, 150_000_000L);
            assertThat(guest.signals(eventfd)).as("not yet: a guest may be slow").isZero();
            port.poll(null, null, 250_000_000L);
            assertThat(guest.signals(eventfd)).as("the guest left the frame waiting for 250 ms").isEqualTo(1);
            assertThat(port.nudges()).isEqualTo(1);

            guest.offer(1, TestGuest.BUFFERS + 0x1000, 2048, TestGuest.F_WRITE);
            port.poll(null, null, 300_000_000L);
            port.poll(null, null, 900_000_000L);
            assertThat(guest.usedIdx()).isEqualTo(2);
            assertThat(port.nudges()).as("nothing waits any more").isEqualTo(1);
        } finally {
            dev.ferry.agent.port.Libc.close(eventfd);
        }
    }

    @Test
    void aCallEventfdQemuSwapsWhileTheQueueRunsIsSignalledAtOnce() throws Throwable {
        int masked = TestGuest.eventfd(), unmasked = TestGuest.eventfd();
        try {
            guest.offer(0, TestGuest.BUFFERS, 2048, TestGuest.F_WRITE);
            port.post(new DeviceCommand.MapMemory(guest.memory));
            port.post(new DeviceCommand.StartQueue(guest.setup(0, 0, false), Libc.dup(masked)));
            port.poll(null, null, 0);
            port.deliver(TestGuest.frame(60, 1), 0, 60); // the ring is full now: nothing more will be signalled
            port.poll(null, null, 0);
            assertThat(guest.signals(masked)).as("told on the notifier QEMU drops when it unmasks").isPositive();

            port.post(new DeviceCommand.CallFd(0, Libc.dup(unmasked)));
            port.poll(null, null, 1_000_000L);

            assertThat(guest.signals(unmasked)).as("told again on the guest's own notifier").isEqualTo(1);
            assertThat(port.nudges()).as("not a stall: told at once").isZero();
        } finally {
            dev.ferry.agent.port.Libc.close(masked);
            dev.ferry.agent.port.Libc.close(unmasked);
        }
    }

    @Test
    void framesWaitingWhenTheQueueStartsAreNoStallYet() throws Throwable {
        port.deliver(TestGuest.frame(60, 1), 0, 60); // no queue yet: it waits
        port.poll(null, null, 5_000_000_000L);
        port.post(new DeviceCommand.MapMemory(guest.memory));
        port.post(new DeviceCommand.StartQueue(guest.setup(0, 0, false), -1));

        port.poll(null, null, 10_000_000_000L);
        port.poll(null, null, 10_100_000_000L);

        assertThat(port.nudges()).isZero();
        port.poll(null, null, 10_300_000_000L);
        assertThat(port.nudges()).as("200 ms after the start").isEqualTo(1);
    }

    @Test
    void aGuestThatTakesItsFramesIsNeverSignalledAgain() throws Throwable {
        int eventfd = TestGuest.eventfd();
        try {
            port.post(new DeviceCommand.MapMemory(guest.memory));
            port.post(new DeviceCommand.StartQueue(guest.setup(0, 0, false), Libc.dup(eventfd)));
            port.poll(null, null, 0);
            for (int i = 0; i < 20; i++) {
                port.deliver(TestGuest.frame(60, i), 0, 60);
                port.deliver(TestGuest.frame(60, i), 0, 60);
                guest.offer(i % TestGuest.SIZE, TestGuest.BUFFERS + 0x1000L * (i % 4), 2048, TestGuest.F_WRITE);
                port.poll(null, null, 300_000_000L * i);
            }

            assertThat(port.nudges()).isZero();
        } finally {
            dev.ferry.agent.port.Libc.close(eventfd);
        }
    }

    /**
     * The loop's sleep with a VM on the port: it sleeps on the port's descriptor (here the test's own
     * epoll set, as the loop's waiter does), which the guest's kicks and QEMU's commands make
     * readable; the guest is asked to kick only when the loop is about to sleep.
     */
    @Nested
    class WhileTheAgentsLoopSleeps {
        private static final int NO_NOTIFY = 1;
        private final Epoll loop = new Epoll(4);
        private final int kick = Epoll.eventFd();

        @BeforeEach
        void watchThePort() {
            loop.add(port.readableFd());
        }

        @AfterEach
        void closeTheLoopsSet() {
            loop.close();
            Libc.close(kick);
        }

        @Test
        void theGuestIsAskedToKickOnlyWhileTheLoopSleeps() {
            startTransmitQueue(kick);
            assertThat(guest.usedFlags()).as("polled: no kicks").isEqualTo(NO_NOTIFY);

            assertThat(port.readyToSleep()).isTrue();
            assertThat(guest.usedFlags()).as("about to sleep").isZero();

            port.poll(null, null, 0);
            assertThat(guest.usedFlags()).as("polling again").isEqualTo(NO_NOTIFY);
        }

        @Test
        void theGuestsKickWakesTheLoop() {
            startTransmitQueue(kick);
            port.readyToSleep();
            assertThat(loop.await(0)).as("nothing yet").isZero();

            Epoll.signal(kick);

            assertThat(loop.await(0)).isEqualTo(1);
        }

        @Test
        void aKickAlreadyLookedAtDoesNotCutTheNextSleep() {
            startTransmitQueue(kick);
            Epoll.signal(kick);

            assertThat(port.readyToSleep()).isTrue();
            assertThat(loop.await(0)).isZero();
        }

        @Test
        void aBufferTheGuestOfferedAsTheLoopGotReadyKeepsItAwake() {
            startTransmitQueue(kick);
            guest.offer(0, TestGuest.BUFFERS, Virtqueue.NET_HEADER + 60, 0);

            assertThat(port.readyToSleep()).isFalse();
        }

        @Test
        void aCommandFromQemuWakesTheLoopAndKeepsItAwakeUntilApplied() {
            startTransmitQueue(kick);
            port.readyToSleep();
            assertThat(loop.await(0)).isZero();

            port.post(new DeviceCommand.StopQueue(1));

            assertThat(loop.await(0)).isEqualTo(1);
            assertThat(port.readyToSleep()).as("not applied yet").isFalse();
        }

        @Test
        void framesWaitingForBuffersAskTheGuestToKickItsReceiveQueue() {
            startReceiveQueueKicking();
            port.deliver(TestGuest.frame(60, 1), 0, 60); // no buffer: it waits

            assertThat(port.readyToSleep()).isTrue();
            assertThat(guest.usedFlags()).isZero();
            Epoll.signal(kick); // the guest offers a buffer
            assertThat(loop.await(0)).isEqualTo(1);
        }

        @Test
        void withNothingWaitingTheGuestNeedNotKickItsReceiveQueue() {
            startReceiveQueueKicking();

            assertThat(port.readyToSleep()).isTrue();
            assertThat(guest.usedFlags()).isEqualTo(NO_NOTIFY);
        }

        @Test
        void aKickEventfdQemuSwapsWhileTheQueueRunsWakesTheLoopInsteadOfTheOld() {
            startTransmitQueue(kick);
            int swapped = Epoll.eventFd();
            try {
                port.post(new DeviceCommand.KickFd(1, Libc.dup(swapped)));
                port.poll(null, null, 0);
                port.readyToSleep();

                Epoll.signal(kick);
                assertThat(loop.await(0)).as("the old eventfd").isZero();
                Epoll.signal(swapped);
                assertThat(loop.await(0)).isEqualTo(1);
            } finally {
                port.post(new DeviceCommand.StopQueue(1));
                port.poll(null, null, 0);
                Libc.close(swapped);
            }
        }

        @Test
        void aStoppedQueuesKicksNoLongerWakeTheLoop() {
            startTransmitQueue(kick);
            port.post(new DeviceCommand.StopQueue(1));
            port.poll(null, null, 0);
            port.readyToSleep();

            Epoll.signal(kick);

            assertThat(loop.await(0)).isZero();
        }

        @Test
        void theEventfdsAStoppedQueueWasGivenAreClosedByThePort() throws Exception {
            int call = Libc.dup(kick), kicks = Libc.dup(kick);
            port.post(new DeviceCommand.MapMemory(guest.memory));
            port.post(new DeviceCommand.StartQueue(guest.setup(1, 0, false), call, kicks, false));
            port.poll(null, null, 0);
            assertThat(isEventfd(call)).as("the running queue's").isTrue();

            port.post(new DeviceCommand.StopQueue(1));
            port.poll(null, null, 0);

            assertThat(isEventfd(call)).as("its call eventfd").isFalse();
            assertThat(isEventfd(kicks)).as("its kick eventfd").isFalse();
        }

        private static boolean isEventfd(int fd) throws java.io.IOException {
            Path link = Path.of("/proc/self/fd/" + fd);
            return Files.exists(link, java.nio.file.LinkOption.NOFOLLOW_LINKS) && Files.readSymbolicLink(link).toString().contains("eventfd");
        }

        private void startTransmitQueue(int kickFd) {
            port.post(new DeviceCommand.MapMemory(guest.memory));
            port.post(new DeviceCommand.StartQueue(guest.setup(1, 0, false), -1, Libc.dup(kickFd), false));
            port.poll(null, null, 0);
        }

        private void startReceiveQueueKicking() {
            port.post(new DeviceCommand.MapMemory(guest.memory));
            port.post(new DeviceCommand.StartQueue(guest.setup(0, 0, false), -1, Libc.dup(kick), false));
            port.poll(null, null, 0);
        }
    }

    private void offloadingGuestWithBuffers(int n) {
        for (int i = 0; i < n; i++) guest.offer(i, TestGuest.BUFFERS + 0x1000L * i, 2048, TestGuest.F_WRITE);
        port.post(new DeviceCommand.Features(VhostUserBackend.FEATURES | VhostUserBackend.OFFLOADS));
        startReceiveQueue(0);
    }

    private void oneOfTwoBuffersFilled() {
        guest.offer(0, TestGuest.BUFFERS, 2048, TestGuest.F_WRITE);
        guest.offer(1, TestGuest.BUFFERS + 0x1000, 2048, TestGuest.F_WRITE);
        startReceiveQueue(0);
        port.deliver(TestGuest.frame(60, 1), 0, 60);
    }

    private void startReceiveQueue(int base) {
        port.post(new DeviceCommand.MapMemory(guest.memory));
        port.post(new DeviceCommand.StartQueue(guest.setup(0, base, false), -1));
        port.poll(null, null, 0);
    }

    private static Path tempDir() {
        try {
            return Files.createTempDirectory("ferry-vhost-test");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
