package dev.ferry.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code ferry bench board} keeps working: tiny counts, so it says nothing of speed, only that every figure is there. */
class BoardBenchTest {

    @Test
    void itMeasuresEveryStoreAndGivesTheOthersAsRatiosOfTheFirst() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int exit = new BoardBench(new BoardBench.Options(List.of("memory", "sqlite", "etcd"), 200, List.of(1, 3), 1, 20, 2),
                new PrintStream(bytes, true, StandardCharsets.UTF_8)).run();
        String out = bytes.toString(StandardCharsets.UTF_8);

        assertThat(exit).isZero();
        assertThat(out).contains("unlock->1 p50").contains("unlock->3 p50");
        assertThat(out.lines().filter(l -> l.matches("(memory|sqlite|etcd) +[0-9,]+ .*"))).as("a row per store").hasSize(3);
        assertThat(out).containsPattern("sqlite against memory: attach/s [0-9.]+x, lookup/s [0-9.]+x, lock\\+unlock p50 [0-9.]+x");
        assertThat(out).containsPattern("etcd against memory: attach/s [0-9.]+x, lookup/s [0-9.]+x, lock\\+unlock p50 [0-9.]+x");
    }
}
