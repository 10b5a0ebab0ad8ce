package dev.ferry.agent.seal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The replay window against the plainest model of it: a set of every counter accepted, and the highest. */
class ReplayWindowTest {
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void tellsSeenFromNewExactlyAsASetOfAcceptedCountersWould(long seed) {
        Random r = new Random(seed);
        ReplayWindow window = new ReplayWindow();
        Set<Long> accepted = new HashSet<>();
        long top = -1;
        for (int i = 0; i < 200_000; i++) {
            // Mostly near the top, sometimes far ahead, sometimes far behind: what reordering and loss make.
            long c = switch (r.nextInt(10)) {
                case 0 -> top + 1 + r.nextInt(20_000);
                case 1 -> Math.max(0, top - r.nextInt(3 * ReplayWindow.SIZE));
                default -> Math.max(0, top + 1 - r.nextInt(64));
            };
            boolean tooOld = top - c >= ReplayWindow.SIZE;
            boolean expected = tooOld || accepted.contains(c);
            assertThat(window.seen(c)).as("counter %d with top %d", c, top).isEqualTo(expected);
            if (!expected) {
                window.mark(c);
                accepted.add(c);
                top = Math.max(top, c);
            }
        }
    }
}
