package dev.ferry.agent.port.vhost;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Coverage-guided fuzzing (Jazzer) of the virtqueue as a hostile guest lays it out: any descriptor
 * table, any available ring, buffers anywhere (inside the guest's memory, across its end, over the
 * rings themselves). Properties: receive (one buffer or merged ones) and transmit never throw, always return one of their
 * answers, and give back what they took.
 */
class VirtqueueFuzzTest {
    private final TestGuest guest = new TestGuest();
    private final byte[] staged = new byte[Virtqueue.NET_HEADER + 2048];
    private final byte[] into = new byte[Virtqueue.NET_HEADER + 2048];

    @FuzzTest(maxDuration = "5s")
    void hostileRings(FuzzedDataProvider data) {
        MemorySegment ram = guest.ram;
        byte[] table = data.consumeBytes(16 * TestGuest.SIZE);
        MemorySegment.copy(table, 0, ram, ValueLayout.JAVA_BYTE, TestGuest.DESC, table.length);
        // Addresses biased to where bounds checks break: inside the guest's memory (copies happen,
        // also over the rings), near its end, near 2^63 and 2^64.
        for (int i = 0; i < TestGuest.SIZE; i++) {
            long address = switch (data.consumeInt(0, 5)) {
                case 0 -> TestGuest.GPA + data.consumeLong(0, ram.byteSize());
                case 1 -> TestGuest.GPA + ram.byteSize() - data.consumeInt(0, 4096);
                case 2 -> Long.MAX_VALUE - data.consumeInt(0, 4096);
                case 3 -> TestGuest.GPA + Long.MAX_VALUE - data.consumeInt(0, 4096);
                case 4 -> -data.consumeInt(0, 4096);
                default -> ram.get(ValueLayout.JAVA_LONG, TestGuest.DESC + 16L * i);
            };
            ram.set(ValueLayout.JAVA_LONG, TestGuest.DESC + 16L * i, address);
        }
        // What the backend writes is the guest's too (another VM's frame): it may land on the rings.
        byte[] frame = data.consumeBytes(64);
        System.arraycopy(frame, 0, staged, 0, frame.length);
        byte[] avail = data.consumeBytes(4 + 2 * TestGuest.SIZE);
        MemorySegment.copy(avail, 0, ram, ValueLayout.JAVA_BYTE, TestGuest.AVAIL + 2, avail.length);
        int base = data.consumeInt(0, 0xFFFF);
        boolean rx = data.consumeBoolean();
        Virtqueue q = Virtqueue.start(guest.setup(rx ? 0 : 1, base, false), guest.memory, null, -1, new StringBuilder());
        int length = data.consumeInt(Virtqueue.NET_HEADER, staged.length);
        boolean merged = data.consumeBoolean();
        for (int round = 0; round < 4; round++) {
            if (rx) {
                assertThat(merged ? q.receiveMerged(guest.memory, null, staged, length) : q.receive(guest.memory, null, staged, length))
                        .isIn(Virtqueue.DELIVERED, Virtqueue.NO_BUFFER, Virtqueue.TOO_SMALL, Virtqueue.BROKEN);
            } else {
                assertThat(q.transmit(guest.memory, null, into)).isBetween(-2, into.length);
            }
        }
    }
}
