package dev.ferry.agent.port.vhost;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.agent.port.Libc;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The split virtqueue as the agent serves it, against a guest laid out as a virtio driver does ({@link TestGuest}). */
class VirtqueueTest {
    private static final long USED = TestGuest.USED, AVAIL = TestGuest.AVAIL, BUFFERS = TestGuest.BUFFERS, GPA = TestGuest.GPA;
    private static final int F_NEXT = TestGuest.F_NEXT, F_WRITE = TestGuest.F_WRITE;

    private final TestGuest guest = new TestGuest();
    private final MemorySegment ram = guest.ram;
    private final GuestMemory memory = guest.memory;
    private final MemorySegment logWords = guest.arena.allocate(64, 8);
    private final DirtyLog log = DirtyLog.over(logWords);

    @AfterEach
    void free() {
        guest.close();
    }

    @Test
    void aFrameGoesIntoTheGuestsBufferBehindAZeroNetHeaderAndTheUsedRingSaysHowLong() {
        guest.offer(0, BUFFERS, 2048, F_WRITE);
        Virtqueue rx = start(0, -1);

        assertThat(rx.receive(memory, null, staged(TestGuest.frame(60, 7)), Virtqueue.NET_HEADER + 60)).isEqualTo(Virtqueue.DELIVERED);

        byte[] header = ram.asSlice(BUFFERS, Virtqueue.NET_HEADER).toArray(ValueLayout.JAVA_BYTE);
        assertThat(header).containsExactly(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0);
        assertThat(ram.asSlice(BUFFERS + Virtqueue.NET_HEADER, 60).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(TestGuest.frame(60, 7));
        assertThat(guest.usedIdx()).isEqualTo(1);
        assertThat(ram.get(ValueLayout.JAVA_INT, USED + 4)).as("used id").isZero();
        assertThat(ram.get(ValueLayout.JAVA_INT, USED + 8)).as("used length").isEqualTo(Virtqueue.NET_HEADER + 60);
    }

    @Test
    void aFrameLongerThanOneDescriptorIsScatteredOverTheChain() {
        guest.writeDesc(0, BUFFERS, 40, F_WRITE | F_NEXT, 1);
        guest.writeDesc(1, BUFFERS + 0x1000, 2048, F_WRITE, 0);
        guest.publish(0);
        Virtqueue rx = start(0, -1);

        assertThat(rx.receive(memory, null, staged(TestGuest.frame(100, 3)), Virtqueue.NET_HEADER + 100)).isEqualTo(Virtqueue.DELIVERED);

        byte[] first = ram.asSlice(BUFFERS + Virtqueue.NET_HEADER, 28).toArray(ValueLayout.JAVA_BYTE);
        byte[] rest = ram.asSlice(BUFFERS + 0x1000, 72).toArray(ValueLayout.JAVA_BYTE);
        byte[] whole = Arrays.copyOf(first, 100);
        System.arraycopy(rest, 0, whole, 28, 72);
        assertThat(whole).isEqualTo(TestGuest.frame(100, 3));
    }

    @Test
    void withoutAnOfferedBufferTheFrameIsRefusedAndTheRingUntouched() {
        Virtqueue rx = start(0, -1);
        assertThat(rx.receive(memory, null, staged(TestGuest.frame(60, 1)), Virtqueue.NET_HEADER + 60)).isEqualTo(Virtqueue.NO_BUFFER);
        assertThat(guest.usedIdx()).isZero();
        assertThat(rx.lastAvail()).isZero();
    }

    @Test
    void aFrameLargerThanTheBufferIsRefusedAndTheBufferKept() {
        guest.offer(0, BUFFERS, 64, F_WRITE);
        Virtqueue rx = start(0, -1);
        assertThat(rx.receive(memory, null, staged(TestGuest.frame(200, 1)), Virtqueue.NET_HEADER + 200)).isEqualTo(Virtqueue.TOO_SMALL);
        assertThat(guest.usedIdx()).isZero();
        assertThat(rx.hasAvailable()).isTrue();
    }

    @Test
    void aDescriptorChainThatLoopsIsReturnedUnusedInsteadOfSpinning() {
        guest.writeDesc(0, BUFFERS, 16, F_WRITE | F_NEXT, 1);
        guest.writeDesc(1, BUFFERS + 16, 16, F_WRITE | F_NEXT, 0);
        guest.publish(0);
        Virtqueue rx = start(0, -1);
        assertThat(rx.receive(memory, null, staged(TestGuest.frame(60, 1)), Virtqueue.NET_HEADER + 60)).isEqualTo(Virtqueue.BROKEN);
        assertThat(guest.usedIdx()).isEqualTo(1);
        assertThat(ram.get(ValueLayout.JAVA_INT, USED + 8)).as("used length").isZero();
    }

    @Test
    void withMergedBuffersAFrameFillsAsManyBuffersAsItNeedsAndTheHeaderCountsThem() {
        guest.offer(0, BUFFERS, 1024, F_WRITE);
        guest.offer(1, BUFFERS + 0x1000, 1024, F_WRITE);
        guest.offer(2, BUFFERS + 0x2000, 1024, F_WRITE);
        Virtqueue rx = start(0, -1);
        byte[] frame = TestGuest.frame(2500, 4);

        assertThat(rx.receiveMerged(memory, null, staged(frame), Virtqueue.NET_HEADER + 2500)).isEqualTo(Virtqueue.DELIVERED);

        assertThat(ram.get(ValueLayout.JAVA_SHORT, BUFFERS + 10)).as("num_buffers").isEqualTo((short) 3);
        byte[] whole = new byte[Virtqueue.NET_HEADER + 2500];
        for (int b = 0; b < 3; b++) {
            int n = Math.min(1024, whole.length - 1024 * b);
            MemorySegment.copy(ram, ValueLayout.JAVA_BYTE, BUFFERS + 0x1000L * b, whole, 1024 * b, n);
            assertThat(ram.get(ValueLayout.JAVA_INT, USED + 4 + 8 * b)).as("used id " + b).isEqualTo(b);
            assertThat(ram.get(ValueLayout.JAVA_INT, USED + 8 + 8 * b)).as("used length " + b).isEqualTo(n);
        }
        assertThat(Arrays.copyOfRange(whole, Virtqueue.NET_HEADER, whole.length)).isEqualTo(frame);
        assertThat(guest.usedIdx()).as("published together").isEqualTo(3);
    }

    @Test
    void withMergedBuffersAFrameWaitsUntilTheGuestOfferedEnoughAndTakesNothingBefore() {
        guest.offer(0, BUFFERS, 1024, F_WRITE);
        Virtqueue rx = start(0, -1);

        assertThat(rx.receiveMerged(memory, null, staged(TestGuest.frame(1500, 1)), Virtqueue.NET_HEADER + 1500))
                .isEqualTo(Virtqueue.NO_BUFFER);
        assertThat(guest.usedIdx()).isZero();
        assertThat(rx.lastAvail()).isZero();

        guest.offer(1, BUFFERS + 0x1000, 1024, F_WRITE);
        assertThat(rx.receiveMerged(memory, null, staged(TestGuest.frame(1500, 1)), Virtqueue.NET_HEADER + 1500))
                .isEqualTo(Virtqueue.DELIVERED);
        assertThat(guest.usedIdx()).isEqualTo(2);
    }

    @Test
    void withMergedBuffersAMalformedBufferAmongThemReturnsThemAllUnused() {
        guest.offer(0, BUFFERS, 1024, F_WRITE);
        guest.offer(1, BUFFERS + 0x1000, 1024, 0); // read-only: no driver offers that to receive into
        Virtqueue rx = start(0, -1);

        assertThat(rx.receiveMerged(memory, null, staged(TestGuest.frame(1500, 1)), Virtqueue.NET_HEADER + 1500))
                .isEqualTo(Virtqueue.BROKEN);
        assertThat(guest.usedIdx()).isEqualTo(2);
        assertThat(ram.get(ValueLayout.JAVA_INT, USED + 8)).isZero();
        assertThat(ram.get(ValueLayout.JAVA_INT, USED + 16)).isZero();
    }

    @Test
    void aFrameTheGuestSendsIsGatheredFromItsChainAndItsBufferReturned() {
        byte[] header = new byte[Virtqueue.NET_HEADER];
        MemorySegment.copy(header, 0, ram, ValueLayout.JAVA_BYTE, BUFFERS, header.length);
        MemorySegment.copy(TestGuest.frame(80, 9), 0, ram, ValueLayout.JAVA_BYTE, BUFFERS + 0x1000, 80);
        guest.writeDesc(3, BUFFERS, Virtqueue.NET_HEADER, F_NEXT, 5);
        guest.writeDesc(5, BUFFERS + 0x1000, 80, 0, 0);
        guest.publish(3);
        Virtqueue tx = start(1, -1);

        byte[] into = new byte[4096];
        int length = tx.transmit(memory, null, into);

        assertThat(length).isEqualTo(Virtqueue.NET_HEADER + 80);
        assertThat(Arrays.copyOfRange(into, Virtqueue.NET_HEADER, length)).isEqualTo(TestGuest.frame(80, 9));
        assertThat(ram.get(ValueLayout.JAVA_INT, USED + 4)).as("used id").isEqualTo(3);
        assertThat(tx.transmit(memory, null, into)).as("nothing more offered").isEqualTo(-1);
    }

    @Test
    void whileMigratingEveryPageTheBackendWroteIsMarkedInTheDirtyLog() {
        guest.offer(0, BUFFERS + 0x2000, 2048, F_WRITE);
        Virtqueue rx = Virtqueue.start(guest.setup(0, 0, true), memory, log, -1, new StringBuilder());

        rx.receive(memory, log, staged(TestGuest.frame(60, 1)), Virtqueue.NET_HEADER + 60);

        long bits = logWords.get(ValueLayout.JAVA_LONG, 8 * ((GPA >>> 12) / 64));
        long usedPage = 1L << (((GPA + USED) >>> 12) & 63);
        long bufferPage = 1L << (((GPA + BUFFERS + 0x2000) >>> 12) & 63);
        assertThat(bits).isEqualTo(usedPage | bufferPage);
    }

    @Test
    void aQueueRestartedWhereItStoppedContinuesFromTheUsedIndexInGuestMemory() {
        guest.offer(0, BUFFERS, 2048, F_WRITE);
        guest.offer(1, BUFFERS + 0x1000, 2048, F_WRITE);
        Virtqueue before = start(0, -1);
        before.receive(memory, null, staged(TestGuest.frame(60, 1)), Virtqueue.NET_HEADER + 60);
        int stoppedAt = before.lastAvail();

        // What the VM's next copy's backend is given: the base QEMU got from GET_VRING_BASE, the same rings.
        Virtqueue after = Virtqueue.start(guest.setup(0, stoppedAt, false), memory, null, -1, new StringBuilder());
        after.receive(memory, null, staged(TestGuest.frame(70, 2)), Virtqueue.NET_HEADER + 70);

        assertThat(stoppedAt).isEqualTo(1);
        assertThat(guest.usedIdx()).isEqualTo(2);
        assertThat(ram.get(ValueLayout.JAVA_INT, USED + 12)).as("second used id").isEqualTo(1);
        assertThat(ram.asSlice(BUFFERS + 0x1000 + Virtqueue.NET_HEADER, 70).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(TestGuest.frame(70, 2));
    }

    @Test
    void aQueueStartedOnACopyOfTheVmThatMissedTheLastUsedIndexSaysHowFarItLags() {
        guest.offer(0, BUFFERS, 2048, F_WRITE);
        guest.offer(1, BUFFERS + 0x1000, 2048, F_WRITE);
        Virtqueue before = start(0, -1);
        before.receive(memory, null, staged(TestGuest.frame(60, 1)), Virtqueue.NET_HEADER + 60);
        before.receive(memory, null, staged(TestGuest.frame(60, 2)), Virtqueue.NET_HEADER + 60);
        int stoppedAt = before.lastAvail();

        Virtqueue whole = Virtqueue.start(guest.setup(0, stoppedAt, false), memory, null, -1, new StringBuilder());
        // A page copied before the second frame's used index was written, and never copied again.
        ram.set(ValueLayout.JAVA_SHORT, USED + 2, (short) 1);
        Virtqueue stale = Virtqueue.start(guest.setup(0, stoppedAt, false), memory, null, -1, new StringBuilder());

        assertThat(whole.usedLag()).isZero();
        assertThat(stale.usedLag()).isEqualTo(1);
    }

    @Test
    void theGuestIsSignalledOnceForABatchUnlessItAskedForNoInterrupts() throws Throwable {
        int eventfd = TestGuest.eventfd();
        try {
            guest.offer(0, BUFFERS, 2048, F_WRITE);
            guest.offer(1, BUFFERS + 0x1000, 2048, F_WRITE);
            guest.offer(2, BUFFERS + 0x2000, 2048, F_WRITE);
            Virtqueue rx = start(0, eventfd);
            rx.receive(memory, null, staged(TestGuest.frame(60, 1)), Virtqueue.NET_HEADER + 60);
            rx.receive(memory, null, staged(TestGuest.frame(60, 2)), Virtqueue.NET_HEADER + 60);
            rx.signal();
            assertThat(guest.signals(eventfd)).as("signals for two buffers").isEqualTo(1);

            ram.set(ValueLayout.JAVA_SHORT, AVAIL, (short) 1); // VRING_AVAIL_F_NO_INTERRUPT: the guest polls (NAPI)
            rx.receive(memory, null, staged(TestGuest.frame(60, 3)), Virtqueue.NET_HEADER + 60);
            rx.signal();
            assertThat(guest.signals(eventfd)).as("signals while the guest polls").isZero();
        } finally {
            Libc.close(eventfd);
        }
    }

    @Test
    void theBackendAsksTheGuestNotToKickIt() {
        start(1, -1);
        assertThat(ram.get(ValueLayout.JAVA_SHORT, USED)).as("VRING_USED_F_NO_NOTIFY").isEqualTo((short) 1);
    }

    @Test
    void ringsOutsideTheVmsMemoryAreRefusedWithAReason() {
        StringBuilder why = new StringBuilder();
        var s = new Virtqueue.Setup(0, TestGuest.SIZE, TestGuest.UVA + 1_000_000, TestGuest.UVA + AVAIL, TestGuest.UVA + USED, 0, false, 0);
        assertThat(Virtqueue.start(s, memory, null, -1, why)).isNull();
        assertThat(why).contains("outside the VM's memory");
    }

    // ------------------------------------------------------------------ the guest's side

    private Virtqueue start(int index, int callFd) {
        return Virtqueue.start(guest.setup(index, 0, false), memory, null, callFd, new StringBuilder());
    }

    private static byte[] staged(byte[] frame) {
        byte[] s = new byte[Virtqueue.NET_HEADER + frame.length];
        s[10] = 1;
        System.arraycopy(frame, 0, s, Virtqueue.NET_HEADER, frame.length);
        return s;
    }
}
