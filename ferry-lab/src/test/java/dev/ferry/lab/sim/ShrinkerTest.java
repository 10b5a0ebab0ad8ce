package dev.ferry.lab.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.agent.Mode;
import dev.ferry.lab.sim.Simulation.Schedule;
import org.junit.jupiter.api.Test;

/** The shrinker turns a failing schedule into a minimal one that still fails and replays exactly. */
class ShrinkerTest {

    @Test
    void aNaiveFailureShrinksToOneMigrationWithoutFaults() {
        Schedule failing = Simulation.schedule(1);
        assertThat(Simulation.run(failing, Mode.NAIVE).clean()).as("naive loses on seed 1").isFalse();

        Schedule minimal = new Shrinker(Mode.NAIVE).shrink(failing);

        assertThat(minimal.migrations()).hasSize(1);
        assertThat(minimal.faults().controlLoss()).isZero();
        assertThat(minimal.faults().boardLoss()).isZero();
        assertThat(minimal.faults().boardDuplicate()).isZero();
        assertThat(minimal.rate()).isLessThan(failing.rate());
        assertThat(Simulation.run(minimal, Mode.NAIVE).clean()).as("the minimal schedule still fails").isFalse();
    }

    @Test
    void aCleanScheduleIsLeftAsItIs() {
        Schedule clean = Simulation.schedule(1);
        assertThat(new Shrinker(Mode.FERRY).shrink(clean)).isEqualTo(clean);
    }

    @Test
    void aScheduleWithAFieldOutOfRangeIsRefusedNamingTheField() {
        String json = Shrinker.toJson(Simulation.schedule(1)).replaceFirst("\"hosts\":\\d+", "\"hosts\":1");

        assertThatThrownBy(() -> Shrinker.fromJson(json)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("schedule field hosts");
        assertThatThrownBy(() -> Shrinker.fromJson("{\"seed\":1}")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("schedule field");
        assertThatThrownBy(() -> Shrinker.fromJson("not json")).hasMessageContaining("not a schedule");
    }

    @Test
    void aShrunkScheduleReplaysFromItsJsonExactly() {
        Schedule minimal = new Shrinker(Mode.NAIVE).shrink(Simulation.schedule(1));
        Schedule replayed = Shrinker.fromJson(Shrinker.toJson(minimal));

        assertThat(replayed).isEqualTo(minimal);
        assertThat(Simulation.run(replayed, Mode.NAIVE).report()).isEqualTo(Simulation.run(minimal, Mode.NAIVE).report());
    }
}
