package dev.ferry.lab.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lab's comparison of a VM's memory on its two copies finds each page a migration left behind. */
class MemoryCheckTest {
    @TempDir
    Path dir;

    @Test
    void twoAlikeDumpsAreWhole() throws Exception {
        byte[] memory = memory(16);

        MemoryCheck.Outcome o = MemoryCheck.compare(write("a", memory), write("b", memory));

        assertThat(o.whole()).isTrue();
        assertThat(o.pages()).isEqualTo(16);
    }

    @Test
    void aPageWithOneByteChangedIsNamedByItsGuestPhysicalAddress() throws Exception {
        byte[] source = memory(16), destination = source.clone();
        destination[5 * MemoryCheck.PAGE + 2] ^= 1; // a used index the copy did not get
        destination[9 * MemoryCheck.PAGE + 4095] ^= (byte) 0x80;

        MemoryCheck.Outcome o = MemoryCheck.compare(write("a", source), write("b", destination));

        assertThat(o.whole()).isFalse();
        assertThat(o.differing()).isEqualTo(2);
        assertThat(o.firstDiffering()).containsExactly(5L * MemoryCheck.PAGE, 9L * MemoryCheck.PAGE);
        assertThat(o.toString()).contains("2 of 16 pages differ", "0x5000", "0x9000");
    }

    @Test
    void theFirstDifferingPageShowsWhereItDiffersAndBothSidesBytes() throws Exception {
        byte[] source = new byte[4 * MemoryCheck.PAGE], destination = source.clone();
        // A frame's sequence number (big-endian) the new copy lacks: what a write left unlogged would leave.
        byte[] seq = {0, 0, 0, 0, 0, 1, (byte) 0xe2, 0x40};
        System.arraycopy(seq, 0, source, 2 * MemoryCheck.PAGE + 0x100, seq.length);

        MemoryCheck.Outcome o = MemoryCheck.compare(write("a", source), write("b", destination));

        assertThat(o.firstDifference()).contains("3 bytes differ in [0x2105, 0x2107]", "the source has 01 e2 40 00",
                "the new copy 00 00 00 00");
        assertThat(o.toString()).contains("in the first, 3 bytes differ");
    }

    @Test
    void aShorterDumpDiffersInEveryPageItLacks() throws Exception {
        byte[] memory = memory(16);

        MemoryCheck.Outcome o = MemoryCheck.compare(write("a", memory), write("b", java.util.Arrays.copyOf(memory, 12 * MemoryCheck.PAGE)));

        assertThat(o.differing()).isEqualTo(4);
    }

    private static byte[] memory(int pages) {
        byte[] m = new byte[pages * MemoryCheck.PAGE];
        new java.util.Random(7).nextBytes(m);
        return m;
    }

    private Path write(String name, byte[] bytes) throws Exception {
        return Files.write(dir.resolve(name), bytes);
    }
}
