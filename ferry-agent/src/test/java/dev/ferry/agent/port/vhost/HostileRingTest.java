package dev.ferry.agent.port.vhost;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Rings laid out by a hostile guest: every walk of guest memory is bounded, overflow-safe and reads
 * each descriptor once, so no ring can throw out of the backend or hold the agent's loop.
 */
class HostileRingTest {
    private static final int F_NEXT = TestGuest.F_NEXT, F_WRITE = TestGuest.F_WRITE;
    private static final long BUFFERS = TestGuest.BUFFERS, GPA = TestGuest.GPA;

    private final TestGuest guest = new TestGuest();

    @AfterEach
    void free() {
        guest.close();
    }

    @Test
    void aReceiveDescriptorNearTwoToTheSixtyThirdIsBrokenNotAnException() {
        // Its offset in the region is 2^63 - 6: adding a length overflows.
        guest.offer(0, Long.MAX_VALUE - 5, 2048, F_WRITE);
        Virtqueue rx = Virtqueue.start(guest.setup(0, 0, false), guest.memory, null, -1, new StringBuilder());

        assertThatCode(() -> assertThat(rx.receive(guest.memory, null, new byte[Virtqueue.NET_HEADER + 60], Virtqueue.NET_HEADER + 60))
                .isEqualTo(Virtqueue.BROKEN)).doesNotThrowAnyException();
        assertThat(guest.usedIdx()).as("the buffer goes back to the guest").isEqualTo(1);
    }

    @Test
    void aTransmitDescriptorNearTwoToTheSixtyThirdIsBrokenNotAnException() {
        guest.offer(0, Long.MAX_VALUE - 5, 100, 0);
        Virtqueue tx = Virtqueue.start(guest.setup(1, 0, false), guest.memory, null, -1, new StringBuilder());

        assertThatCode(() -> assertThat(tx.transmit(guest.memory, null, new byte[4096])).isEqualTo(-2)).doesNotThrowAnyException();
    }

    @Test
    void aGuestRewritingItsChainWhileTheBackendWalksItCannotHoldTheLoop() {
        Virtqueue rx = Virtqueue.start(guest.setup(0, 0, false), guest.memory, null, -1, new StringBuilder());
        AtomicBoolean stop = new AtomicBoolean();
        long desc1 = TestGuest.DESC + 16;
        // Descriptor 1 flips between the chain's end and an empty descriptor that points at itself.
        Thread hostile = new Thread(() -> {
            while (!stop.get()) {
                guest.ram.set(ValueLayout.JAVA_INT, desc1 + 8, 0);
                guest.ram.set(ValueLayout.JAVA_SHORT, desc1 + 12, (short) (F_WRITE | F_NEXT));
                guest.ram.set(ValueLayout.JAVA_SHORT, desc1 + 14, (short) 1);
                guest.ram.set(ValueLayout.JAVA_INT, desc1 + 8, 2048);
                guest.ram.set(ValueLayout.JAVA_SHORT, desc1 + 12, (short) F_WRITE);
            }
        });
        hostile.start();
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                byte[] staged = new byte[Virtqueue.NET_HEADER + 100];
                boolean offered = false;
                for (int round = 0; round < 20_000; round++) {
                    if (!offered) {
                        guest.writeDesc(0, BUFFERS, 40, F_WRITE | F_NEXT, 1);
                        guest.publish(0);
                        offered = true;
                    }
                    int r = rx.receive(guest.memory, null, staged, staged.length);
                    assertThat(r).isIn(Virtqueue.DELIVERED, Virtqueue.BROKEN, Virtqueue.TOO_SMALL);
                    // Too small leaves the buffer offered; anything else took it.
                    if (r != Virtqueue.TOO_SMALL) offered = false;
                }
            });
        } finally {
            stop.set(true);
            hostile.interrupt();
        }
    }

    /**
     * The guest's first buffer lies on its own descriptor table: writing the frame there turns the
     * next descriptor into an empty one pointing at itself. A backend that walked the chain again
     * after checking it would loop for ever; this one copies by the chain it checked.
     */
    @Test
    void aBufferOverTheDescriptorTableCannotTurnTheChainIntoALoop() {
        guest.writeDesc(0, TestGuest.DESC + 16, 16, F_WRITE | F_NEXT, 1);
        guest.writeDesc(1, BUFFERS, 2048, F_WRITE, 0);
        guest.publish(0);
        Virtqueue rx = Virtqueue.start(guest.setup(0, 0, false), guest.memory, null, -1, new StringBuilder());
        byte[] staged = new byte[Virtqueue.NET_HEADER + 100];
        java.nio.ByteBuffer loop = java.nio.ByteBuffer.wrap(staged).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        loop.putLong(0, GPA + BUFFERS).putInt(8, 0).putShort(12, (short) (F_WRITE | F_NEXT)).putShort(14, (short) 1);

        int r = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> rx.receive(guest.memory, null, staged, staged.length));

        assertThat(r).isEqualTo(Virtqueue.DELIVERED);
        assertThat(guest.bytes(BUFFERS, 100 - 16)).isEqualTo(java.util.Arrays.copyOfRange(staged, 16, 100));
    }

    @Test
    void aChainOfEmptyDescriptorsLongerThanTheRingIsBroken() {
        for (int i = 0; i < TestGuest.SIZE; i++) guest.writeDesc(i, BUFFERS, 0, F_WRITE | F_NEXT, (i + 1) % TestGuest.SIZE);
        guest.publish(0);
        Virtqueue rx = Virtqueue.start(guest.setup(0, 0, false), guest.memory, null, -1, new StringBuilder());

        assertThat(rx.receive(guest.memory, null, new byte[Virtqueue.NET_HEADER + 60], Virtqueue.NET_HEADER + 60))
                .isEqualTo(Virtqueue.BROKEN);
    }

    @Test
    void anAvailIndexMoreThanARingAheadBreaksTheQueueWhichThenTakesNothing() {
        guest.offer(0, BUFFERS, 100, 0);
        // A driver can have at most a ring's worth outstanding; this one claims 1,000.
        guest.ram.set(ValueLayout.JAVA_SHORT, TestGuest.AVAIL + 2, (short) 1_000);
        Virtqueue tx = Virtqueue.start(guest.setup(1, 0, false), guest.memory, null, -1, new StringBuilder());

        assertThat(tx.transmit(guest.memory, null, new byte[4096])).isEqualTo(-1);
        assertThat(tx.isBroken()).isTrue();
        assertThat(guest.usedIdx()).as("nothing taken from or returned into a broken ring").isZero();
        guest.ram.set(ValueLayout.JAVA_SHORT, TestGuest.AVAIL + 2, (short) 1);
        assertThat(tx.transmit(guest.memory, null, new byte[4096])).as("broken until the device is reset").isEqualTo(-1);
    }

    @Test
    void aFullRingIsNotBroken() {
        for (int i = 0; i < TestGuest.SIZE; i++) guest.offer(i, BUFFERS + 256L * i, 100, 0);
        Virtqueue tx = Virtqueue.start(guest.setup(1, 0, false), guest.memory, null, -1, new StringBuilder());

        for (int i = 0; i < TestGuest.SIZE; i++) assertThat(tx.transmit(guest.memory, null, new byte[4096])).isEqualTo(100);
        assertThat(tx.isBroken()).isFalse();
    }
}
